// bench-go: the load generator and TCP backends of `make bench`.
//
// Unlike go-controller (tests/interop), which checks every byte against a
// SHA-256 pattern, this program moves zeros and only counts them, so on a
// 2-core machine it leaves as much CPU as possible to the relay under test.
//
//	bench-go serve   -kind sink|source|echo|hello
//	bench-go upload  -streams S -bytes N      (per stream)
//	bench-go download -streams S -bytes N     (per stream)
//	bench-go rr      -count K -size 64        (ping-pong on one stream)
//	bench-go connect -count K -par P          (open, line, dial, 1st byte)
//	bench-go idle    -tunnels T -streams S    (hold S streams per tunnel)
//	bench-go rrbulk  -count K -bulk-target A  (rr on one stream while
//	                                          another downloads from A)
//	bench-go hold    -tunnels T -streams S    (counted, not required:
//	bench-go flood   -tunnels T -streams S    make hostile, hostile.go)
//
// upload and download take -seconds S: stop after S seconds if the bytes
// are not through by then (a slow path must not hold a benchmark for
// minutes); the result then holds what got across in that time.
//
// Client modes reach the target through -via:
//
//	tunnel  TLS 1.3 + yamux to -relay (a beacon relay or go-relay)
//	direct  plain TCP to the target (the no-relay baseline)
//	cmd     run -cmd once per stream with "{target}" replaced, and talk
//	        over its stdin/stdout (ssh -W, beacon connect)
//
// Each client mode prints one JSON line on stdout; errors go to stderr
// with a non-zero exit.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

var (
	fs       *flag.FlagSet
	via      *string
	relay    *string
	certFile *string
	keyFile  *string
	caFile   *string
	cmdLine  *string
	target   *string
	nbytes   *int64
	timeout  *float64
	mode     string
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench-go %s: %s\n", mode, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func emit(r map[string]interface{}) {
	r["mode"] = mode
	r["via"] = *via
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func commonFlags() {
	via = fs.String("via", "tunnel", "tunnel, direct or cmd")
	relay = fs.String("relay", "127.0.0.1:8456", "relay tunnel address")
	certFile = fs.String("cert", "controller.crt", "client certificate")
	keyFile = fs.String("key", "controller.key", "client key")
	caFile = fs.String("ca", "fleet-ca.crt", "Fleet CA")
	cmdLine = fs.String("cmd", "", "command per stream for -via cmd "+
		"(space separated, {target} replaced)")
	target = fs.String("target", "", "host:port of the backend")
	nbytes = fs.Int64("bytes", 1<<30, "payload bytes")
	timeout = fs.Float64("timeout", 300, "give up after this many seconds")
	ccFlag()
}

// -cc: the TCP congestion control of this process's own sockets (the
// relay tunnel, a direct connection, the backends' listener, whose
// accepted connections inherit it); empty = the system default. The loss
// rows of the benchmark compare plain TCP with CUBIC and with BBR.
var cc = new(string)

func ccFlag() {
	cc = fs.String("cc", "", "TCP congestion control (Linux), e.g. cubic")
}

func ccControl(network, address string, c syscall.RawConn) error {
	if *cc == "" {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP,
			syscall.TCP_CONGESTION, *cc)
	}); err != nil {
		return err
	}
	return serr
}

func dialTCP(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, Control: ccControl}
	return d.Dial("tcp", addr)
}

// ---- transports --------------------------------------------------------

type dialer interface {
	open(tgt string) (io.ReadWriteCloser, error)
	close()
}

type tunnelDialer struct{ sess *yamux.Session }

func tlsConfig() *tls.Config {
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		die("%v", err)
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		die("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		die("%s: no certificate", *caFile)
	}
	h, _, err := net.SplitHostPort(*relay)
	if err != nil {
		die("-relay %q: %v", *relay, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool,
		Certificates: []tls.Certificate{cert}, ServerName: h}
}

func newTunnel(conf *tls.Config) *tunnelDialer {
	c, err := dialTCP(*relay)
	if err != nil {
		die("dial relay: %v", err)
	}
	tc := tls.Client(c, conf)
	if err := tc.Handshake(); err != nil {
		die("handshake: %v", err)
	}
	mc := yamux.DefaultConfig()
	mc.KeepAliveInterval = 20 * time.Second
	mc.ConnectionWriteTimeout = 30 * time.Second
	mc.LogOutput = io.Discard
	sess, err := yamux.Client(tc, mc)
	if err != nil {
		die("yamux: %v", err)
	}
	if _, err := sess.Ping(); err != nil {
		die("tunnel refused: %v", err)
	}
	return &tunnelDialer{sess: sess}
}

func (t *tunnelDialer) open(tgt string) (io.ReadWriteCloser, error) {
	st, err := t.sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write([]byte(tgt + "\n")); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (t *tunnelDialer) close() { t.sess.Close() }

type directDialer struct{}

func (directDialer) open(tgt string) (io.ReadWriteCloser, error) {
	return dialTCP(tgt)
}

func (directDialer) close() {}

// cmdConn talks to a child's stdin/stdout; Close ends stdin (a FIN for
// ssh -W) and reaps the child.
type cmdConn struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.ReadCloser
}

func (c *cmdConn) Read(b []byte) (int, error)  { return c.out.Read(b) }
func (c *cmdConn) Write(b []byte) (int, error) { return c.in.Write(b) }
func (c *cmdConn) Close() error {
	c.in.Close()
	go func() {
		io.Copy(io.Discard, c.out)
		c.cmd.Wait()
	}()
	return nil
}

type cmdDialer struct{ argv []string }

func (d cmdDialer) open(tgt string) (io.ReadWriteCloser, error) {
	argv := make([]string, len(d.argv))
	for i, a := range d.argv {
		argv[i] = strings.ReplaceAll(a, "{target}", tgt)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdConn{cmd: cmd, in: in, out: out}, nil
}

func (cmdDialer) close() {}

func newDialer() dialer {
	switch *via {
	case "tunnel":
		return newTunnel(tlsConfig())
	case "direct":
		return directDialer{}
	case "cmd":
		argv := strings.Fields(*cmdLine)
		if len(argv) == 0 {
			die("-via cmd needs -cmd")
		}
		return cmdDialer{argv: argv}
	}
	die("-via %q: want tunnel, direct or cmd", *via)
	return nil
}

func needTarget() {
	if *target == "" {
		die("-target is required")
	}
	d := time.Duration(*timeout * float64(time.Second))
	time.AfterFunc(d, func() { die("timed out after %v", d) })
}

// ---- bulk ----------------------------------------------------------------

const chunk = 64 * 1024

// upload announces "<n>\n" and writes n zero bytes; the sink backend
// answers "<count>\n" after exactly n bytes, so no half-close is needed
// (go-relay closes both ways at the first EOF only with
// -close-both-on-eof). download announces "<n>\n" to the source, which
// sends n bytes and then EOF.
// upload returns the bytes the sink counted; with a deadline (non-zero)
// it asks the sink for progress reports, stops writing at the deadline
// and returns once a report counts every byte written, with the time of
// that report (the bytes still in flight at the deadline count, and the
// time they took).
func upload(c io.ReadWriteCloser, n int64, deadline time.Time) (int64, time.Time, error) {
	if !deadline.IsZero() {
		return uploadUntil(c, n, deadline)
	}
	buf := make([]byte, chunk)
	if _, err := fmt.Fprintf(c, "%d\n", n); err != nil {
		return 0, time.Time{}, err
	}
	off := int64(0)
	for off < n {
		k := int64(len(buf))
		if n-off < k {
			k = n - off
		}
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, time.Time{}, fmt.Errorf("write at %d: %w", off, err)
		}
		off += k
	}
	line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("answer %q: %w", line, err)
	}
	got, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || got != off {
		return 0, time.Time{}, fmt.Errorf("sink saw %q bytes, sent %d",
			line, off)
	}
	return got, time.Now(), nil
}

func uploadUntil(c io.ReadWriteCloser, n int64, deadline time.Time) (int64, time.Time, error) {
	if _, err := fmt.Fprintf(c, "%d progress\n", n); err != nil {
		return 0, time.Time{}, err
	}
	// The reader keeps the latest report; notify wakes the waiter.
	var mu sync.Mutex
	var last int64 = -1
	var lastAt time.Time
	notify := make(chan struct{}, 1)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(c, 4096)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				readErr <- fmt.Errorf("progress %q: %w", line, err)
				return
			}
			g, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
			if err != nil {
				readErr <- fmt.Errorf("progress %q: %w", line, err)
				return
			}
			mu.Lock()
			last, lastAt = g, time.Now()
			mu.Unlock()
			select {
			case notify <- struct{}{}:
			default:
			}
		}
	}()
	buf := make([]byte, chunk)
	off := int64(0)
	for off < n && time.Now().Before(deadline) {
		k := int64(len(buf))
		if n-off < k {
			k = n - off
		}
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, time.Time{}, fmt.Errorf("write at %d: %w", off, err)
		}
		off += k
	}
	wait := time.After(60 * time.Second)
	for {
		mu.Lock()
		g, at := last, lastAt
		mu.Unlock()
		if g == off {
			return off, at, nil
		}
		select {
		case <-notify:
		case err := <-readErr:
			return 0, time.Time{}, err
		case <-wait:
			return 0, time.Time{}, fmt.Errorf("sink counted %d of %d "+
				"bytes", g, off)
		}
	}
}

// download returns the bytes received: n, or fewer when the deadline
// (non-zero) passed first.
func download(c io.ReadWriteCloser, n int64, deadline time.Time) (int64, error) {
	buf := make([]byte, 256*1024)
	if _, err := fmt.Fprintf(c, "%d\n", n); err != nil {
		return 0, err
	}
	var got int64
	for {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return got, nil
		}
		k, err := c.Read(buf)
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return got, fmt.Errorf("read after %d: %w", got, err)
		}
	}
	if got != n {
		return got, fmt.Errorf("got %d bytes, want %d", got, n)
	}
	return got, nil
}

func modeBulk(up bool) {
	streams := fs.Int("streams", 1, "concurrent streams")
	seconds := fs.Float64("seconds", 0, "stop after this many seconds "+
		"(0: when the bytes are through)")
	fs.Parse(os.Args[2:])
	needTarget()
	d := newDialer()
	start := time.Now()
	var deadline time.Time
	if *seconds > 0 {
		deadline = start.Add(time.Duration(*seconds * float64(time.Second)))
	}
	var wg sync.WaitGroup
	errs := make([]error, *streams)
	moved := make([]int64, *streams)
	ends := make([]time.Time, *streams)
	for i := 0; i < *streams; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := d.open(*target)
			if err != nil {
				errs[i] = err
				return
			}
			if up {
				moved[i], ends[i], errs[i] = upload(c, *nbytes, deadline)
			} else {
				moved[i], errs[i] = download(c, *nbytes, deadline)
				ends[i] = time.Now()
			}
			c.Close()
		}(i)
	}
	wg.Wait()
	total := int64(0)
	end := start
	for i, err := range errs {
		if err != nil {
			die("stream %d: %v", i, err)
		}
		total += moved[i]
		if ends[i].After(end) {
			end = ends[i]
		}
	}
	el := end.Sub(start).Seconds()
	d.close()
	emit(map[string]interface{}{"bytes": total, "seconds": el,
		"mbps": float64(total) / el / 1e6, "streams": *streams})
}

// ---- latency ---------------------------------------------------------------

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	i := int(p / 100 * float64(len(v)))
	if i >= len(v) {
		i = len(v) - 1
	}
	return v[i]
}

// roundTrips sends size bytes and reads them back warm + count times
// and returns the latencies of the last count, in microseconds;
// warmedUp (may be nil) runs once the warm-up ones are done.
func roundTrips(c io.ReadWriter, size, warm, count int,
	warmedUp func()) []float64 {
	msg := make([]byte, size)
	back := make([]byte, size)
	lat := make([]float64, 0, count)
	for i := 0; i < warm+count; i++ {
		if i == warm && warmedUp != nil {
			warmedUp()
		}
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			die("write: %v", err)
		}
		if _, err := io.ReadFull(c, back); err != nil {
			die("read: %v", err)
		}
		if i >= warm {
			lat = append(lat, float64(time.Since(t0).Nanoseconds())/1e3)
		}
	}
	return lat
}

func modeRR() {
	count := fs.Int("count", 10000, "round trips measured")
	warm := fs.Int("warmup", 200, "round trips not measured")
	size := fs.Int("size", 64, "message bytes")
	fs.Parse(os.Args[2:])
	needTarget()
	d := newDialer()
	c, err := d.open(*target)
	if err != nil {
		die("open: %v", err)
	}
	lat := roundTrips(c, *size, *warm, *count, nil)
	c.Close()
	d.close()
	emit(map[string]interface{}{"count": *count, "size": *size,
		"p50_us": pct(lat, 50), "p99_us": pct(lat, 99)})
}

// modeRRBulk measures round trips on one stream while a second stream of
// the same tunnel (or, -via direct, a second connection: two -L ports of
// one beacon forward) downloads from -bulk-target as fast as it can: how
// much the bulk transfer's queues delay an interactive stream.
func modeRRBulk() {
	count := fs.Int("count", 100, "round trips measured")
	warm := fs.Int("warmup", 5, "round trips not measured")
	size := fs.Int("size", 64, "message bytes")
	bulkTarget := fs.String("bulk-target", "", "host:port of a source")
	settle := fs.Float64("settle", 2, "seconds of download before the "+
		"round trips start")
	fs.Parse(os.Args[2:])
	needTarget()
	if *bulkTarget == "" {
		die("-bulk-target is required")
	}
	d := newDialer()
	bc, err := d.open(*bulkTarget)
	if err != nil {
		die("open bulk: %v", err)
	}
	if _, err := fmt.Fprintf(bc, "%d\n", *nbytes); err != nil {
		die("bulk: %v", err)
	}
	var bulkBytes int64
	var stop int32
	bulkDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 256*1024)
		for atomic.LoadInt32(&stop) == 0 {
			k, err := bc.Read(buf)
			atomic.AddInt64(&bulkBytes, int64(k))
			if err != nil {
				bulkDone <- err
				return
			}
		}
		bulkDone <- nil
	}()
	time.Sleep(time.Duration(*settle * float64(time.Second)))
	c, err := d.open(*target)
	if err != nil {
		die("open: %v", err)
	}
	var b0 int64
	var t0 time.Time
	lat := roundTrips(c, *size, *warm, *count, func() {
		b0 = atomic.LoadInt64(&bulkBytes)
		t0 = time.Now()
	})
	el := time.Since(t0).Seconds()
	moved := atomic.LoadInt64(&bulkBytes) - b0
	select {
	case err := <-bulkDone:
		// The download ended during the round trips: not beside a bulk.
		die("bulk stream ended early (%d bytes): %v", moved, err)
	default:
	}
	atomic.StoreInt32(&stop, 1)
	c.Close()
	bc.Close()
	d.close()
	emit(map[string]interface{}{"count": *count, "size": *size,
		"p50_us": pct(lat, 50), "p99_us": pct(lat, 99),
		"bulk_mbps": float64(moved) / el / 1e6})
}

// connectOnce: open a stream, send the target line, wait for the hello
// backend's first byte (which proves the relay dialled), close.
func connectOnce(d dialer) (float64, error) {
	t0 := time.Now()
	c, err := d.open(*target)
	if err != nil {
		return 0, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return 0, fmt.Errorf("first byte: %w", err)
	}
	us := float64(time.Since(t0).Nanoseconds()) / 1e3
	c.Close()
	return us, nil
}

func modeConnect() {
	count := fs.Int("count", 2000, "connects in all")
	par := fs.Int("par", 1, "concurrent callers")
	fs.Parse(os.Args[2:])
	needTarget()
	d := newDialer()
	for i := 0; i < 20; i++ {
		if _, err := connectOnce(d); err != nil {
			die("warm-up connect: %v", err)
		}
	}
	var next int64 = -1
	lats := make([][]float64, *par)
	errs := make([]error, *par)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) < int64(*count) {
				us, err := connectOnce(d)
				if err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], us)
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	var all []float64
	for w := range lats {
		if errs[w] != nil {
			die("connect: %v", errs[w])
		}
		all = append(all, lats[w]...)
	}
	d.close()
	emit(map[string]interface{}{"count": *count, "par": *par,
		"per_s": float64(*count) / el, "p50_us": pct(all, 50),
		"p99_us": pct(all, 99)})
}

// modeIdle opens S established streams on each of T tunnels, prints
// "ready <n>" and holds them until stdin closes or a signal arrives.
func modeIdle() {
	tunnels := fs.Int("tunnels", 1, "tunnels")
	streams := fs.Int("streams", 100, "streams per tunnel")
	par := fs.Int("par", 32, "concurrent openers")
	fs.Parse(os.Args[2:])
	if *target == "" {
		die("-target is required")
	}
	conf := tlsConfig()
	ts := make([]*tunnelDialer, *tunnels)
	held := make([]io.ReadWriteCloser, *tunnels**streams)
	var next int64 = -1
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ferr error
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(*tunnels) {
					return
				}
				ts[i] = newTunnel(conf)
			}
		}()
	}
	wg.Wait()
	next = -1
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(len(held)) {
					return
				}
				c, err := ts[int(i)%*tunnels].open(*target)
				if err == nil {
					_, err = io.ReadFull(c, b[:])
				}
				if err != nil {
					mu.Lock()
					ferr = fmt.Errorf("stream %d: %w", i, err)
					mu.Unlock()
					return
				}
				held[i] = c
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		die("%v", ferr)
	}
	fmt.Printf("ready %d\n", len(held))
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		sig <- syscall.SIGTERM
	}()
	<-sig
	for _, t := range ts {
		t.close()
	}
}

// ---- backends ----------------------------------------------------------

// readCount reads the client's "<n>\n" (or "<n> progress\n": a sink
// then also reports its count as it grows) one byte at a time, so that no
// payload byte is consumed with it.
func readCount(c *net.TCPConn) (int64, bool, error) {
	var line []byte
	var b [1]byte
	for len(line) < 40 {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return 0, false, err
		}
		if b[0] == '\n' {
			num, flag, _ := strings.Cut(string(line), " ")
			n, err := strconv.ParseInt(num, 10, 64)
			return n, flag == "progress", err
		}
		line = append(line, b[0])
	}
	return 0, false, errors.New("count line too long")
}

// reportProgress writes the sink's count every 20 ms while it grows, until
// done is closed. A time-capped upload cannot end with a half-close (a
// hashicorp/yamux stream reads EOF once closed locally), so it stops
// writing and waits for the report that counts its last byte.
func reportProgress(c *net.TCPConn, got *int64, done chan struct{}) {
	last := int64(-1)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if g := atomic.LoadInt64(got); g != last {
			last = g
			if _, err := fmt.Fprintf(c, "%d\n", g); err != nil {
				return
			}
		}
	}
}

func serveConn(c *net.TCPConn, kind string) {
	defer c.Close()
	var n int64
	var progress bool
	if kind == "sink" || kind == "source" {
		var err error
		if n, progress, err = readCount(c); err != nil {
			return
		}
	}
	switch kind {
	case "sink":
		// Answer after exactly n bytes (or at EOF, whichever first).
		buf := make([]byte, 256*1024)
		var got int64
		done := make(chan struct{})
		reported := make(chan struct{})
		if progress {
			go func() {
				reportProgress(c, &got, done)
				close(reported)
			}()
		} else {
			close(reported)
		}
		for atomic.LoadInt64(&got) < n {
			k := int64(len(buf))
			if left := n - atomic.LoadInt64(&got); left < k {
				k = left
			}
			r, err := c.Read(buf[:k])
			atomic.AddInt64(&got, int64(r))
			if err != nil {
				break
			}
		}
		close(done)
		<-reported
		fmt.Fprintf(c, "%d\n", got)
		io.Copy(io.Discard, c)
	case "source":
		buf := make([]byte, 256*1024)
		for off := int64(0); off < n; {
			k := int64(len(buf))
			if n-off < k {
				k = n - off
			}
			if _, err := c.Write(buf[:k]); err != nil {
				return
			}
			off += k
		}
		c.CloseWrite()
		io.Copy(io.Discard, c)
	case "echo":
		buf := make([]byte, 64*1024)
		io.CopyBuffer(c, struct{ io.Reader }{c}, buf)
		c.CloseWrite()
	case "hello":
		c.Write([]byte("h"))
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				return
			}
		}
	}
}

func modeServe() {
	listen := fs.String("listen", "127.0.0.1:0", "address to accept on")
	kind := fs.String("kind", "echo", "sink, source, echo or hello")
	fs.Parse(os.Args[2:])
	switch *kind {
	case "sink", "source", "echo", "hello":
	default:
		die("-kind %q", *kind)
	}
	lc := net.ListenConfig{Control: ccControl}
	ln, err := lc.Listen(nil, "tcp", *listen)
	if err != nil {
		die("listen: %v", err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serveConn(c.(*net.TCPConn), *kind)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: bench-go serve|upload|download|"+
			"rr|rrbulk|connect|idle|hold|flood [flags]\n")
		os.Exit(2)
	}
	mode = os.Args[1]
	fs = flag.NewFlagSet(mode, flag.ExitOnError)
	commonFlags()
	switch mode {
	case "serve":
		modeServe()
	case "upload":
		modeBulk(true)
	case "download":
		modeBulk(false)
	case "rr":
		modeRR()
	case "connect":
		modeConnect()
	case "rrbulk":
		modeRRBulk()
	case "idle":
		modeIdle()
	case "hold":
		modeHold()
	case "flood":
		modeFlood()
	default:
		die("unknown mode")
	}
}

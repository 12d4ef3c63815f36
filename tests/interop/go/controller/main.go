// go-controller: the reference egress controller for beacon's interop tests
// and benchmarks, built from crypto/tls and the Debian packaged
// hashicorp/yamux (docs/PROTOCOL.md "The beacon wire protocol").
//
//	go-controller MODE [flags]
//
// Modes (each prints one JSON result line on stdout and exits non-zero with
// a message on stderr when the check fails):
//
//	echo         N concurrent streams each send B pattern bytes to an echo
//	             backend and check every byte that comes back
//	bundle       echo with the target line and payload in one write (frame)
//	split        echo with the target line written one byte per write
//	upload       send B bytes to a sink and check its "<count> <sha256>" reply
//	download     read a source to EOF and check count and SHA-256
//	reset-mid    abort a download mid-transfer, then check the tunnel lives
//	expect-reset expect the relay to refuse a stream (RST, or FIN w/o data)
//	idle         keep the tunnel up S seconds, then Ping and echo
//	go-away      check streams survive a relay's Go Away and opens fail after
//	forward      local TCP forwarder: each accepted conn becomes a stream
//	serve        plain TCP backend (echo, sink, source) for benchmarks
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"beacon-interop/yxutil"
	"github.com/hashicorp/yamux"
)

// ---- deterministic payload ------------------------------------------------

// Byte o of the pattern for a seed is block[o % period] ^ byte(o / period):
// period is prime so it never lines up with frame or window sizes, and the
// XOR makes the stream non-periodic for 256 periods (about 16 MiB). The
// block is SHA-256 in counter mode over (seed, counter), both little
// endian; the Python tests generate the same bytes.
const period = 65521

type pattern struct{ block []byte }

func newPattern(seed uint64) *pattern {
	b := make([]byte, 0, period+32)
	var in [12]byte
	binary.LittleEndian.PutUint64(in[:8], seed)
	for ctr := uint32(0); len(b) < period; ctr++ {
		binary.LittleEndian.PutUint32(in[8:], ctr)
		h := sha256.Sum256(in[:])
		b = append(b, h[:]...)
	}
	return &pattern{block: b[:period]}
}

// fill writes the pattern bytes for offsets off..off+len(buf)-1.
func (p *pattern) fill(buf []byte, off int64) {
	for len(buf) > 0 {
		i := int(off % period)
		x := byte(off / period)
		n := copy(buf, p.block[i:])
		if x != 0 {
			for k := 0; k < n; k++ {
				buf[k] ^= x
			}
		}
		buf = buf[n:]
		off += int64(n)
	}
}

// mismatch returns the index of the first byte of buf that differs from
// the pattern at off, or -1.
func (p *pattern) mismatch(buf []byte, off int64, scratch []byte) int {
	exp := scratch[:len(buf)]
	p.fill(exp, off)
	if bytes.Equal(buf, exp) {
		return -1
	}
	for i := range buf {
		if buf[i] != exp[i] {
			return i
		}
	}
	return -1
}

// sha returns the SHA-256 of the first n pattern bytes.
func (p *pattern) sha(n int64) string {
	h := sha256.New()
	buf := make([]byte, 256*1024)
	for off := int64(0); off < n; {
		k := int64(len(buf))
		if n-off < k {
			k = n - off
		}
		p.fill(buf[:k], off)
		h.Write(buf[:k])
		off += k
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ---- common flags, tunnel --------------------------------------------------

var (
	fs         *flag.FlagSet
	relayAddr  *string
	certFile   *string
	keyFile    *string
	caFile     *string
	serverName *string
	maxWindow  *uint
	timeout    *float64
	target     *string
	nbytes     *int64
	seed       *uint64
	mode       string
	result     = map[string]interface{}{}
)

func commonFlags() {
	relayAddr = fs.String("relay", "127.0.0.1:8456", "relay tunnel address")
	certFile = fs.String("cert", "controller.crt", "client certificate (PEM)")
	keyFile = fs.String("key", "controller.key", "client key (PEM)")
	caFile = fs.String("ca", "fleet-ca.crt", "Fleet CA (PEM)")
	serverName = fs.String("server-name", "", "name to verify (default: relay host)")
	maxWindow = fs.Uint("max-window", 0, "yamux MaxStreamWindowSize (0: 256 KiB)")
	timeout = fs.Float64("timeout", 60, "fail after this many seconds")
	target = fs.String("target", "", "host:port the relay should dial")
	nbytes = fs.Int64("bytes", 1<<20, "payload bytes")
	seed = fs.Uint64("seed", 1, "pattern seed")
}

func fail(format string, a ...interface{}) {
	msg := fmt.Sprintf(format, a...)
	result["ok"] = false
	result["error"] = msg
	emit()
	fmt.Fprintf(os.Stderr, "go-controller %s: FAIL: %s\n", mode, msg)
	os.Exit(1)
}

func emit() {
	result["mode"] = mode
	if _, ok := result["ok"]; !ok {
		result["ok"] = true
	}
	b, _ := json.Marshal(result)
	fmt.Println(string(b))
}

func setRate(n int64, d time.Duration) {
	s := d.Seconds()
	result["bytes"] = n
	result["seconds"] = float64(int64(s*1e6)) / 1e6
	if s > 0 {
		result["mbps"] = float64(int64(float64(n)/s/1e6*100)) / 100
	}
}

func muxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.KeepAliveInterval = 20 * time.Second
	c.ConnectionWriteTimeout = 10 * time.Second
	c.LogOutput = os.Stderr
	if *maxWindow != 0 {
		c.MaxStreamWindowSize = uint32(*maxWindow)
	}
	if err := yamux.VerifyConfig(c); err != nil {
		fail("yamux config: %v", err)
	}
	return c
}

func tlsConfig() *tls.Config {
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fail("load %s/%s: %v", *certFile, *keyFile, err)
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		fail("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail("%s: no certificate", *caFile)
	}
	name := *serverName
	if name == "" {
		h, _, err := net.SplitHostPort(*relayAddr)
		if err != nil {
			fail("relay address %q: %v", *relayAddr, err)
		}
		name = h
	}
	// crypto/tls verifies an IP literal against the IP SANs and sends
	// SNI only for DNS names, as docs/PROTOCOL.md
	// "Transport: TLS 1.3 with mutual authentication" expects of a
	// controller.
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   name,
	}
}

type tunnel struct {
	conn *errConn
	sess *yamux.Session
}

// errConn remembers the first read error of the tunnel: yamux reports a
// dead session to stream readers as a bare EOF, and with TLS 1.3 a relay
// refusing our certificate is only seen on the first read (its alert).
type errConn struct {
	net.Conn
	mu  sync.Mutex
	err error
}

func (c *errConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *errConn) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func dialTunnel() *tunnel {
	c, err := net.DialTimeout("tcp", *relayAddr, 10*time.Second)
	if err != nil {
		fail("dial relay %s: %v", *relayAddr, err)
	}
	tc := tls.Client(c, tlsConfig())
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		c.Close()
		fail("TLS handshake with %s: %v", *relayAddr, err)
	}
	tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		fail("negotiated TLS version %#x, want 1.3", cs.Version)
	}
	ec := &errConn{Conn: tc}
	sess, err := yamux.Client(ec, muxConfig())
	if err != nil {
		fail("yamux: %v", err)
	}
	// One round trip proves the relay accepted the tunnel.
	if _, err := sess.Ping(); err != nil {
		fail("tunnel to %s refused: %v (%v)", *relayAddr, ec.cause(), err)
	}
	return &tunnel{conn: ec, sess: sess}
}

// open opens a stream and writes the target line. Stream-level failures
// are returned, not fatal, so modes can expect them.
func (t *tunnel) open(tgt string) (*yamux.Stream, error) {
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

func needTarget() {
	if *target == "" {
		fail("-target is required")
	}
	if _, _, err := net.SplitHostPort(*target); err != nil {
		fail("-target %q: %v", *target, err)
	}
}

func deadline() {
	d := time.Duration(*timeout * float64(time.Second))
	time.AfterFunc(d, func() { fail("timed out after %v", d) })
}

// ---- echo, bundle, split ---------------------------------------------------

const chunk = 32 * 1024

// echoStream sends n pattern bytes on a new stream (target line written
// per lineMode) and checks that exactly the same bytes come back. With
// halfClose it sends FIN after the payload and expects EOF after the echo;
// otherwise it closes only once everything came back (what a peer of a
// close-both-on-eof relay must do).
func echoStream(t *tunnel, tgt string, n int64, sd uint64, lineMode string,
	halfClose bool) (string, error) {
	st, err := t.sess.OpenStream()
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	defer st.Close()
	p := newPattern(sd)
	line := []byte(tgt + "\n")
	var sent int64
	switch lineMode {
	case "bundle":
		// Line plus up to one chunk of payload in a single Write: a
		// single Data frame when the window allows.
		k := int64(chunk)
		if n < k {
			k = n
		}
		buf := make([]byte, len(line)+int(k))
		copy(buf, line)
		p.fill(buf[len(line):], 0)
		if _, err := st.Write(buf); err != nil {
			return "", fmt.Errorf("write: %w", err)
		}
		sent = k
	case "split":
		// One byte per Write: every byte of the line and the first
		// bytes of payload become their own Data frame.
		for i := range line {
			if _, err := st.Write(line[i : i+1]); err != nil {
				return "", fmt.Errorf("write: %w", err)
			}
		}
		var b [1]byte
		for ; sent < n && sent < 16; sent++ {
			p.fill(b[:], sent)
			if _, err := st.Write(b[:]); err != nil {
				return "", fmt.Errorf("write: %w", err)
			}
		}
	default:
		if _, err := st.Write(line); err != nil {
			return "", fmt.Errorf("write: %w", err)
		}
	}
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, chunk)
		for off := sent; off < n; {
			k := int64(len(buf))
			if n-off < k {
				k = n - off
			}
			p.fill(buf[:k], off)
			if _, err := st.Write(buf[:k]); err != nil {
				werr <- fmt.Errorf("write at %d: %w", off, err)
				return
			}
			off += k
		}
		if halfClose {
			st.Close()
		}
		werr <- nil
	}()
	h := sha256.New()
	buf := make([]byte, chunk)
	scratch := make([]byte, chunk)
	r := yxutil.Reader{S: st}
	var got int64
	for got < n {
		k, err := r.Read(buf)
		if k > 0 {
			if got+int64(k) > n {
				return "", fmt.Errorf("echo longer than the %d bytes sent", n)
			}
			if i := p.mismatch(buf[:k], got, scratch); i >= 0 {
				return "", fmt.Errorf("echo differs at byte %d", got+int64(i))
			}
			h.Write(buf[:k])
			got += int64(k)
		}
		if err != nil {
			if yxutil.Reset(st) || errors.Is(err, yamux.ErrConnectionReset) {
				return "", fmt.Errorf("stream reset after %d of %d bytes",
					got, n)
			}
			if err == io.EOF {
				return "", fmt.Errorf("EOF after %d of %d bytes", got, n)
			}
			return "", fmt.Errorf("read after %d bytes: %w", got, err)
		}
	}
	if err := <-werr; err != nil {
		return "", err
	}
	if halfClose {
		// The echo backend closes after our FIN: expect EOF, no more.
		k, err := r.Read(buf[:1])
		if k != 0 || err != io.EOF {
			return "", fmt.Errorf("want EOF after the echo, got %d bytes, %v",
				k, err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want := p.sha(n); sum != want {
		return "", fmt.Errorf("sha256 %s, want %s", sum, want)
	}
	return sum, nil
}

func modeEcho(lineMode string) {
	streams := fs.Int("streams", 1, "concurrent streams")
	noHalf := fs.Bool("no-halfclose", false, "close only after the whole echo came back")
	fs.Parse(os.Args[2:])
	needTarget()
	deadline()
	t := dialTunnel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, *streams)
	for i := 0; i < *streams; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = echoStream(t, *target, *nbytes, *seed+uint64(i),
				lineMode, !*noHalf)
		}(i)
	}
	wg.Wait()
	el := time.Since(start)
	for i, err := range errs {
		if err != nil {
			fail("stream %d: %v", i, err)
		}
	}
	setRate(*nbytes*int64(*streams), el)
	result["streams"] = *streams
	result["sha_ok"] = true
	t.sess.Close()
	emit()
}

// ---- upload, download ------------------------------------------------------

// readAnswer reads a sink's "<count> <sha256hex>\n" reply.
func readAnswer(r io.Reader) (int64, string, error) {
	br := bufio.NewReaderSize(r, 256)
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, "", fmt.Errorf("reading answer (got %q): %w", line, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return 0, "", fmt.Errorf("malformed answer %q", line)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("malformed answer %q", line)
	}
	return n, f[1], nil
}

func modeUpload() {
	half := fs.Bool("halfclose", false, "send FIN after the payload; the sink answers after EOF")
	answerAfter := fs.Bool("answer-after", false, "the backend answers after -bytes bytes, no FIN needed")
	fs.Parse(os.Args[2:])
	needTarget()
	if *half == *answerAfter {
		fail("give exactly one of -halfclose and -answer-after")
	}
	deadline()
	t := dialTunnel()
	start := time.Now()
	st, err := t.open(*target)
	if err != nil {
		fail("open: %v", err)
	}
	p := newPattern(*seed)
	buf := make([]byte, chunk)
	for off := int64(0); off < *nbytes; {
		k := int64(len(buf))
		if *nbytes-off < k {
			k = *nbytes - off
		}
		p.fill(buf[:k], off)
		if _, err := st.Write(buf[:k]); err != nil {
			fail("write at %d: %v", off, err)
		}
		off += k
	}
	if *half {
		st.Close()
	}
	n, sum, err := readAnswer(yxutil.Reader{S: st})
	el := time.Since(start)
	if err != nil {
		fail("%v", err)
	}
	want := p.sha(*nbytes)
	if n != *nbytes || sum != want {
		fail("sink saw %d bytes sha256 %s, sent %d sha256 %s", n, sum,
			*nbytes, want)
	}
	st.Close()
	setRate(*nbytes, el)
	result["sha"] = sum
	result["sha_ok"] = true
	t.sess.Close()
	emit()
}

func modeDownload() {
	expect := fs.String("expect-sha", "", "expected SHA-256 (default: the pattern's for -bytes/-seed)")
	fs.Parse(os.Args[2:])
	needTarget()
	deadline()
	want := *expect
	if want == "" {
		want = newPattern(*seed).sha(*nbytes)
	}
	t := dialTunnel()
	start := time.Now()
	st, err := t.open(*target)
	if err != nil {
		fail("open: %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, yxutil.Reader{S: st})
	el := time.Since(start)
	if err != nil {
		fail("read after %d bytes: %v", n, err)
	}
	if yxutil.Reset(st) {
		fail("stream reset after %d bytes", n)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if n != *nbytes || sum != want {
		fail("got %d bytes sha256 %s, want %d bytes sha256 %s", n, sum,
			*nbytes, want)
	}
	st.Close()
	setRate(n, el)
	result["sha"] = sum
	result["sha_ok"] = true
	t.sess.Close()
	emit()
}

// ---- reset-mid, expect-reset -----------------------------------------------

// modeResetMid aborts a download mid-transfer. This yamux version has no
// public stream reset: a Go controller can only Close (FIN, it stops
// sending but the relay keeps its half open until the target ends) and
// stop reading, or drop the whole tunnel. -how picks which; afterwards a
// new stream (on the same or a new tunnel) must echo correctly.
func modeResetMid() {
	how := fs.String("how", "close", "close (stream FIN, stop reading) or session (drop the tunnel)")
	after := fs.Int64("after", 1<<20, "abort after this many bytes")
	echoTarget := fs.String("echo-target", "", "echo backend used to check the tunnel afterwards")
	fs.Parse(os.Args[2:])
	needTarget()
	if *echoTarget == "" {
		fail("-echo-target is required")
	}
	deadline()
	t := dialTunnel()
	st, err := t.open(*target)
	if err != nil {
		fail("open: %v", err)
	}
	buf := make([]byte, chunk)
	var got int64
	for got < *after {
		k, err := st.Read(buf)
		got += int64(k)
		if err != nil {
			fail("download ended after %d bytes: %v", got, err)
		}
	}
	switch *how {
	case "close":
		st.Close()
	case "session":
		t.sess.Close()
		t = dialTunnel()
	default:
		fail("-how %q: want close or session", *how)
	}
	if _, err := echoStream(t, *echoTarget, 1<<20, *seed, "", true); err != nil {
		fail("echo after the abort: %v", err)
	}
	if _, err := t.sess.Ping(); err != nil {
		fail("ping after the abort: %v", err)
	}
	result["aborted_after"] = got
	result["abort"] = *how
	t.sess.Close()
	emit()
}

// modeExpectReset sends a target line the relay must refuse and expects
// the stream to end without one byte of data: RST from a beacon relay,
// FIN from a Go relay (no public reset in this yamux). -require-rst
// accepts only RST.
func modeExpectReset() {
	rst := fs.Bool("require-rst", false, "fail unless the stream is reset (RST)")
	payload := fs.String("payload", "hello\n", "bytes sent after the target line")
	fs.Parse(os.Args[2:])
	if *target == "" {
		fail("-target is required")
	}
	deadline()
	t := dialTunnel()
	start := time.Now()
	st, err := t.sess.OpenStream()
	if err != nil {
		fail("open: %v", err)
	}
	// The raw line, even if malformed: the relay is what is under test.
	st.Write([]byte(*target + "\n" + *payload))
	buf := make([]byte, 4096)
	var got int64
	var rerr error
	for {
		k, err := st.Read(buf)
		got += int64(k)
		if err != nil {
			rerr = err
			break
		}
	}
	outcome := "fin"
	if yxutil.Reset(st) || errors.Is(rerr, yamux.ErrConnectionReset) {
		outcome = "reset"
	} else if rerr != io.EOF {
		fail("read: %v", rerr)
	}
	if t.sess.IsClosed() {
		fail("the tunnel went down instead of the stream alone")
	}
	if got != 0 {
		fail("%s after %d bytes of data, want none", outcome, got)
	}
	if *rst && outcome != "reset" {
		fail("stream ended with FIN, want RST")
	}
	st.Close()
	if _, err := t.sess.Ping(); err != nil {
		fail("ping after the refused stream: %v", err)
	}
	result["outcome"] = outcome
	result["seconds"] = time.Since(start).Seconds()
	t.sess.Close()
	emit()
}

// ---- idle, go-away -----------------------------------------------------------

func modeIdle() {
	secs := fs.Float64("seconds", 30, "idle time")
	fs.Parse(os.Args[2:])
	if *timeout < *secs+30 {
		*timeout = *secs + 30
	}
	deadline()
	t := dialTunnel()
	select {
	case <-time.After(time.Duration(*secs * float64(time.Second))):
	case <-t.sess.CloseChan():
		fail("tunnel closed while idle")
	}
	rtt, err := t.sess.Ping()
	if err != nil {
		fail("ping after %v idle: %v", *secs, err)
	}
	if *target != "" {
		if _, err := echoStream(t, *target, 64*1024, *seed, "", true); err != nil {
			fail("echo after idle: %v", err)
		}
	}
	result["idle_seconds"] = *secs
	result["rtt_ms"] = float64(rtt.Microseconds()) / 1000
	t.sess.Close()
	emit()
}

// modeGoAway: a stream opened before the relay's Go Away must keep
// working; opening one after it must fail with ErrRemoteGoAway.
func modeGoAway() {
	secs := fs.Float64("seconds", 2, "wait this long for the Go Away")
	fs.Parse(os.Args[2:])
	needTarget()
	deadline()
	t := dialTunnel()
	st, err := t.open(*target)
	if err != nil {
		fail("open: %v", err)
	}
	r := yxutil.Reader{S: st}
	ping := func(msg string) {
		if _, err := st.Write([]byte(msg)); err != nil {
			fail("write %q: %v", msg, err)
		}
		b := make([]byte, len(msg))
		if _, err := io.ReadFull(r, b); err != nil || string(b) != msg {
			fail("echo of %q: got %q, %v", msg, b, err)
		}
	}
	ping("before\n")
	end := time.Now().Add(time.Duration(*secs * float64(time.Second)))
	var oerr error
	for time.Now().Before(end) {
		time.Sleep(50 * time.Millisecond)
		var s2 *yamux.Stream
		s2, oerr = t.sess.OpenStream()
		if oerr != nil {
			break
		}
		s2.Close()
	}
	if !errors.Is(oerr, yamux.ErrRemoteGoAway) {
		fail("open after %vs: %v, want %v", *secs, oerr, yamux.ErrRemoteGoAway)
	}
	ping("after go away\n")
	st.Close()
	if k, err := r.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		fail("want EOF after the echo, got %d bytes, %v", k, err)
	}
	result["go_away"] = true
	t.sess.Close()
	emit()
}

// ---- forward ---------------------------------------------------------------

func modeForward() {
	listen := fs.String("listen", "127.0.0.1:0", "local address to accept on")
	fs.Parse(os.Args[2:])
	needTarget()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("listen: %v", err)
	}
	t := dialTunnel()
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()
	var conns, up, down int64
	var wg sync.WaitGroup
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-sig:
		case <-t.sess.CloseChan():
			fmt.Fprintf(os.Stderr, "go-controller forward: tunnel closed\n")
		}
		ln.Close()
	}()
	start := time.Now()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		atomic.AddInt64(&conns, 1)
		wg.Add(1)
		go func(c *net.TCPConn) {
			defer wg.Done()
			defer c.Close()
			st, err := t.open(*target)
			if err != nil {
				fmt.Fprintf(os.Stderr, "go-controller forward: open: %v\n", err)
				return
			}
			defer st.Close()
			done := make(chan struct{})
			go func() {
				n, err := io.Copy(c, yxutil.Reader{S: st})
				atomic.AddInt64(&down, n)
				if err != nil || yxutil.Reset(st) {
					c.SetLinger(0)
					c.Close()
				} else {
					c.CloseWrite()
				}
				close(done)
			}()
			n, err := io.Copy(st, c)
			atomic.AddInt64(&up, n)
			st.Close()
			if err != nil {
				c.Close()
			}
			<-done
		}(c.(*net.TCPConn))
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
	}
	result["connections"] = atomic.LoadInt64(&conns)
	result["bytes_up"] = atomic.LoadInt64(&up)
	result["bytes_down"] = atomic.LoadInt64(&down)
	result["seconds"] = time.Since(start).Seconds()
	t.sess.Close()
	emit()
}

// ---- serve: Go backends for benchmarks ---------------------------------------

func modeServe() {
	listen := fs.String("listen", "127.0.0.1:0", "address to accept on")
	kind := fs.String("kind", "echo", "echo, sink (reply \"<count> <sha256>\" after EOF) or source (-bytes of pattern, then EOF)")
	fs.Parse(os.Args[2:])
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("listen: %v", err)
	}
	p := newPattern(*seed)
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
			break
		}
		go func(c *net.TCPConn) {
			defer c.Close()
			switch *kind {
			case "echo":
				io.Copy(c, c)
				c.CloseWrite()
				io.Copy(io.Discard, c)
			case "sink":
				h := sha256.New()
				n, err := io.Copy(h, c)
				if err == nil {
					fmt.Fprintf(c, "%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
				}
			case "source":
				buf := make([]byte, 128*1024)
				for off := int64(0); off < *nbytes; {
					k := int64(len(buf))
					if *nbytes-off < k {
						k = *nbytes - off
					}
					p.fill(buf[:k], off)
					if _, err := c.Write(buf[:k]); err != nil {
						return
					}
					off += k
				}
				c.CloseWrite()
				io.Copy(io.Discard, c)
			}
		}(c.(*net.TCPConn))
	}
	emit()
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: go-controller MODE [flags]\n"+
		"modes: echo bundle split upload download reset-mid expect-reset\n"+
		"       idle go-away forward serve\n"+
		"go-controller MODE -h lists the flags of a mode\n")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	yxutil.Check()
	mode = os.Args[1]
	fs = flag.NewFlagSet(mode, flag.ExitOnError)
	commonFlags()
	switch mode {
	case "echo":
		modeEcho("")
	case "bundle", "split":
		modeEcho(mode)
	case "upload":
		modeUpload()
	case "download":
		modeDownload()
	case "reset-mid":
		modeResetMid()
	case "expect-reset":
		modeExpectReset()
	case "idle":
		modeIdle()
	case "go-away":
		modeGoAway()
	case "forward":
		modeForward()
	case "serve":
		modeServe()
	default:
		usage()
	}
}

// go-relay: the reference egress relay for beacon's interoperability tests.
//
// It is built only from crypto/tls and the Debian packaged hashicorp/yamux
// (the Go implementation beacon must stay wire-compatible with,
// docs/PROTOCOL.md "The beacon wire protocol") and serves both as an
// interop peer and as the performance baseline.
//
// Per stream: read the target line exactly through '\n' (at most 255 bytes
// before it), validate host:port, dial TCP with a timeout, then pump both
// ways with half-close (docs/PROTOCOL.md "Relaying"). This yamux version
// has no public way to send RST on a stream, so every failure ends the stream with Close()
// (a FIN): the controller sees EOF without data instead of a reset.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"beacon-interop/yxutil"
	"github.com/hashicorp/yamux"
)

const maxTargetLine = 255

var (
	listenAddr   = flag.String("listen", "127.0.0.1:8456", "tunnel address")
	certFile     = flag.String("cert", "relay.crt", "leaf + chain (PEM)")
	keyFile      = flag.String("key", "relay.key", "private key (PEM)")
	caFile       = flag.String("ca", "fleet-ca.crt", "Fleet CA (PEM)")
	closeBoth    = flag.Bool("close-both-on-eof", false, "close both directions at the first EOF (original behaviour)")
	maxWindow    = flag.Uint("max-window", 0, "yamux MaxStreamWindowSize (0: default 256 KiB)")
	dialTimeout  = flag.Float64("dial-timeout", 15, "target dial timeout, seconds")
	goAwayAfter  = flag.Float64("go-away-after", 0, "send Go Away this many seconds after a session starts (0: never)")
	closeAfterGA = flag.Float64("close-after-go-away", -1, "close the session this many seconds after the Go Away (<0: never)")
	quiet        = flag.Bool("quiet", false, "no per-stream log lines")
)

var logger = log.New(os.Stderr, "go-relay: ", log.LstdFlags|log.Lmicroseconds)

type relay struct {
	tlsConf  *tls.Config
	muxConf  *yamux.Config
	mu       sync.Mutex
	sessions map[*yamux.Session]struct{}
	streams  uint64
	wg       sync.WaitGroup
}

func loadTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s/%s: %w", *certFile, *keyFile, err)
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", *caFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// validTarget applies docs/PROTOCOL.md "The target line": non-empty
// host, decimal port 1-65535, IPv6 literals in brackets
// (net.SplitHostPort enforces that).
func validTarget(line string) bool {
	host, port, err := net.SplitHostPort(line)
	if err != nil || host == "" {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// readTarget reads through the first '\n' and not one byte further: the
// bufio.Reader of size 1 would be slow, so read byte by byte from a
// stream-backed reader that never buffers beyond the newline.
func readTarget(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return string(line), nil
			}
			if len(line) == maxTargetLine {
				return "", errors.New("target line too long")
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if err == io.EOF {
				return "", errors.New("EOF before end of target line")
			}
			return "", err
		}
	}
}

func (r *relay) serveStream(st *yamux.Stream, remote string) {
	defer r.wg.Done()
	id := atomic.AddUint64(&r.streams, 1)
	start := time.Now()
	// Bound the wait for the target line; cleared once the line is read.
	st.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := readTarget(st)
	st.SetReadDeadline(time.Time{})
	if err != nil {
		logger.Printf("stream %d/%d from %s: bad target line: %v (close)",
			id, st.StreamID(), remote, err)
		st.Close()
		return
	}
	if !validTarget(line) {
		logger.Printf("stream %d/%d from %s: invalid target %q (close)",
			id, st.StreamID(), remote, line)
		st.Close()
		return
	}
	d := net.Dialer{Timeout: time.Duration(*dialTimeout * float64(time.Second))}
	c, err := d.Dial("tcp", line)
	if err != nil {
		logger.Printf("stream %d/%d from %s: dial %s: %v (close)",
			id, st.StreamID(), remote, line, err)
		st.Close()
		return
	}
	tc := c.(*net.TCPConn)
	up, down := r.pump(st, tc)
	if !*quiet {
		logger.Printf("stream %d/%d from %s -> %s: up %d down %d bytes %.3fs",
			id, st.StreamID(), remote, line, up, down,
			time.Since(start).Seconds())
	}
}

// pump relays both ways. With half-close, stream EOF becomes CloseWrite on
// the TCP connection and target EOF becomes a FIN on the stream (Close only
// ends our sending side; yxutil.Reader keeps reading correctly after it);
// an error either way (reset, session gone) aborts both. The stream is
// done when both directions are. With -close-both-on-eof the first EOF
// either way closes everything, as the original relay did.
func (r *relay) pump(st *yamux.Stream, tc *net.TCPConn) (int64, int64) {
	var up, down int64
	done := make(chan struct{}, 2)
	abort := make(chan struct{})
	go func() {
		var n int64
		var err error
		if *closeBoth {
			n, err = io.Copy(tc, st)
		} else {
			n, err = io.Copy(tc, yxutil.Reader{S: st, Stop: abort})
		}
		atomic.StoreInt64(&up, n)
		if *closeBoth || err != nil {
			tc.Close()
			st.Close()
		} else {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		n, err := io.Copy(st, tc)
		atomic.StoreInt64(&down, n)
		if *closeBoth || err != nil {
			tc.Close()
			close(abort)
		}
		// No public RST in this yamux version: FIN is all we can send.
		st.Close()
		done <- struct{}{}
	}()
	<-done
	if *closeBoth {
		// A pending stream Read returns EOF once Close was called (this
		// yamux's Read after a local FIN), so the other copier ends too.
		tc.Close()
		st.Close()
	}
	<-done
	tc.Close()
	st.Close()
	return atomic.LoadInt64(&up), atomic.LoadInt64(&down)
}

func (r *relay) serveConn(c net.Conn) {
	defer r.wg.Done()
	defer c.Close()
	remote := c.RemoteAddr().String()
	tc := tls.Server(c, r.tlsConf)
	tc.SetDeadline(time.Now().Add(15 * time.Second))
	if err := tc.Handshake(); err != nil {
		logger.Printf("tunnel from %s: handshake: %v", remote, err)
		return
	}
	tc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	cn := ""
	if len(cs.PeerCertificates) > 0 {
		cn = cs.PeerCertificates[0].Subject.CommonName
	}
	sess, err := yamux.Server(tc, r.muxConf)
	if err != nil {
		logger.Printf("tunnel from %s: yamux: %v", remote, err)
		return
	}
	logger.Printf("tunnel from %s (CN=%q, %s) up", remote, cn,
		tls.CipherSuiteName(cs.CipherSuite))
	r.mu.Lock()
	if r.sessions == nil {
		r.mu.Unlock()
		sess.Close()
		return
	}
	r.sessions[sess] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.sessions != nil {
			delete(r.sessions, sess)
		}
		r.mu.Unlock()
		sess.Close()
	}()
	if *goAwayAfter > 0 {
		go func() {
			select {
			case <-time.After(time.Duration(*goAwayAfter * float64(time.Second))):
			case <-sess.CloseChan():
				return
			}
			logger.Printf("tunnel from %s: sending Go Away", remote)
			sess.GoAway()
			if *closeAfterGA >= 0 {
				select {
				case <-time.After(time.Duration(*closeAfterGA * float64(time.Second))):
				case <-sess.CloseChan():
					return
				}
				logger.Printf("tunnel from %s: closing after Go Away", remote)
				sess.Close()
			}
		}()
	}
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			logger.Printf("tunnel from %s down: %v", remote, err)
			return
		}
		r.wg.Add(1)
		go r.serveStream(st, remote)
	}
}

func main() {
	flag.Parse()
	yxutil.Check()
	if flag.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "go-relay: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	tlsConf, err := loadTLS()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-relay: %v\n", err)
		os.Exit(1)
	}
	mc := yamux.DefaultConfig()
	mc.KeepAliveInterval = 20 * time.Second
	mc.ConnectionWriteTimeout = 10 * time.Second
	mc.LogOutput = os.Stderr
	if *maxWindow != 0 {
		mc.MaxStreamWindowSize = uint32(*maxWindow)
	}
	if err := yamux.VerifyConfig(mc); err != nil {
		fmt.Fprintf(os.Stderr, "go-relay: %v\n", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listenAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-relay: %v\n", err)
		os.Exit(1)
	}
	r := &relay{tlsConf: tlsConf, muxConf: mc,
		sessions: map[*yamux.Session]struct{}{}}
	// The ready line lets a test learn the port when it listened on :0.
	fmt.Printf("listening %s\n", ln.Addr())
	os.Stdout.Sync()
	logger.Printf("listening on %s", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		logger.Printf("%v: shutting down", s)
		ln.Close()
		r.mu.Lock()
		all := r.sessions
		r.sessions = nil
		r.mu.Unlock()
		for sess := range all {
			sess.GoAway()
			sess.Close()
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			logger.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		r.wg.Add(1)
		go r.serveConn(c)
	}
	// Streams of closed sessions end promptly (their reads return EOF);
	// do not let a stuck target connection hold the exit forever.
	waited := make(chan struct{})
	go func() { r.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		logger.Printf("exit with streams still open")
	}
	logger.Printf("stopped after %d streams", atomic.LoadUint64(&r.streams))
}

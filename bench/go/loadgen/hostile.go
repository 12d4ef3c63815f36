// The client modes of `make hostile` (bench/hostile.py): many tunnels and
// streams held open by one process, counted rather than required, so that
// a relay refusing some of them is a figure, not a crash.
//
//	bench-go hold  -tunnels T [-streams S] [-par P] [-deadline D] [-mark M]
//	    T tunnels (P dialling at once; a refused one is retried, as a
//	    controller would, after 0.1 s doubling to 2 s, until D seconds
//	    have passed), then prints {"phase":"tunnels",...} with the
//	    tunnels up, those up within M seconds and the time the last came
//	    up; with -streams it waits for a line on stdin (a number there
//	    caps the streams in all, as the tunnels up are known only now),
//	    opens S on each tunnel in turn to -target (a hello backend: each
//	    must bring its first byte) and prints {"phase":"streams",...}.
//	    Holds everything until stdin ends.
//	bench-go flood -tunnels T -streams S [-write] [-reopen]
//	    T tunnels x S streams to -target ("{i}" in it: the stream's
//	    number) without waiting for any answer; with -write every stream
//	    sends zeros as fast as its window allows; with -reopen a stream
//	    the relay ends is replaced. Prints {"phase":"flood",...} once
//	    every stream was tried, holds until stdin ends, then prints
//	    {"phase":"done",...} with the bytes written.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// dialTunnel is newTunnel without dying: TLS, yamux, one ping answered.
// backlog bounds the streams that may wait for their ACK at once; src,
// when not nil, is the loopback address to dial from (a fleet's
// controllers each have their own).
func dialTunnel(conf *tls.Config, backlog int, src net.IP) (*yamux.Session, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := d.Dial("tcp", *relay)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, conf)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	mc := yamux.DefaultConfig()
	mc.EnableKeepAlive = false // the relay's pings keep it alive
	mc.ConnectionWriteTimeout = 10 * time.Second
	mc.AcceptBacklog = backlog
	mc.LogOutput = io.Discard
	sess, err := yamux.Client(tc, mc)
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := sess.Ping(); err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// waitStdin returns once stdin ends.
func waitStdin(r *bufio.Reader) { io.Copy(io.Discard, r) }

func modeHold() {
	tunnels := fs.Int("tunnels", 1, "tunnels")
	streams := fs.Int("streams", 0, "streams per tunnel (after a stdin line)")
	par := fs.Int("par", 64, "tunnels dialling at once")
	deadline := fs.Float64("deadline", 60, "retry refused tunnels this long")
	mark := fs.Float64("mark", 10, "also count the tunnels up by then (s)")
	sources := fs.Int("sources", 1, "tunnel i dials from 127.1.0.0 + i % N "+
		"(1: the default source)")
	fs.Parse(os.Args[2:])
	conf := tlsConfig()
	sess := make([]*yamux.Session, *tunnels)
	var next, attempts, failures, byMark int64 = -1, 0, 0, 0
	var lastUp int64 // ns since t0 of the last tunnel up
	t0 := time.Now()
	end := t0.Add(time.Duration(*deadline * float64(time.Second)))
	var wg sync.WaitGroup
	for w := 0; w < *par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(*tunnels) {
					return
				}
				pause := 100 * time.Millisecond
				for time.Now().Before(end) {
					atomic.AddInt64(&attempts, 1)
					var src net.IP
					if *sources > 1 {
						k := int(i) % *sources
						src = net.IPv4(127, 1, byte(k>>8), byte(k))
					}
					s, err := dialTunnel(conf, 256, src)
					if err == nil {
						sess[i] = s
						up := int64(time.Since(t0))
						if float64(up)/1e9 <= *mark {
							atomic.AddInt64(&byMark, 1)
						}
						for {
							old := atomic.LoadInt64(&lastUp)
							if up <= old || atomic.CompareAndSwapInt64(&lastUp, old, up) {
								break
							}
						}
						break
					}
					atomic.AddInt64(&failures, 1)
					time.Sleep(pause)
					if pause < 2*time.Second {
						pause *= 2
					}
				}
			}
		}()
	}
	wg.Wait()
	up := 0
	for _, s := range sess {
		if s != nil {
			up++
		}
	}
	emit(map[string]interface{}{"phase": "tunnels", "up": up,
		"attempts": attempts, "failures": failures, "by_mark": byMark,
		"seconds": float64(lastUp) / 1e9})
	in := bufio.NewReader(os.Stdin)
	if *streams > 0 {
		// The line may name the streams in all, known only now.
		total := *streams * up
		line, _ := in.ReadString('\n')
		if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && n > 0 {
			total = n
		}
		opened, failed := holdStreams(sess, total, *streams, *par)
		emit(map[string]interface{}{"phase": "streams", "up": opened,
			"failed": failed})
	}
	waitStdin(in)
	for _, s := range sess {
		if s != nil {
			s.Close()
		}
	}
}

// holdStreams opens n streams, per on each live session in turn until
// n are asked for, each brought up by the first byte of a hello backend;
// returns (up, failed).
func holdStreams(sess []*yamux.Session, n, per, par int) (int64, int64) {
	jobs := make(chan *yamux.Session)
	var up, failed int64
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			for s := range jobs {
				st, err := s.OpenStream()
				if err == nil {
					st.SetDeadline(time.Now().Add(15 * time.Second))
					_, err = st.Write([]byte(*target + "\n"))
				}
				if err == nil {
					_, err = io.ReadFull(st, b[:])
					st.SetDeadline(time.Time{})
				}
				if err != nil {
					atomic.AddInt64(&failed, 1)
					continue
				}
				atomic.AddInt64(&up, 1) // held: closed with its session
			}
		}()
	}
	k := 0
	for _, s := range sess {
		for j := 0; s != nil && j < per && k < n; j++ {
			jobs <- s
			k++
		}
	}
	close(jobs)
	wg.Wait()
	return up, failed
}

func modeFlood() {
	tunnels := fs.Int("tunnels", 1, "tunnels")
	streams := fs.Int("streams", 4096, "streams per tunnel")
	write := fs.Bool("write", false, "send zeros as fast as windows allow")
	reopen := fs.Bool("reopen", false, "open a new stream when one ends")
	fs.Parse(os.Args[2:])
	needTarget()
	conf := tlsConfig()
	var opened, failed, written, ended int64
	var stopping int32
	var sessions []*yamux.Session
	zeros := make([]byte, 64*1024)
	// One slot: a stream to -target ({i} = the slot number), fed or just
	// held until the relay ends it, then (-reopen) the next one; a stream
	// refused within a second doubles the pause before the next (10 ms to
	// 1 s), so refusals cost the relay a stream each, not a busy loop.
	slot := func(s *yamux.Session, k int) {
		tgt := strings.ReplaceAll(*target, "{i}", strconv.Itoa(k))
		pause := 10 * time.Millisecond
		for atomic.LoadInt32(&stopping) == 0 {
			t0 := time.Now()
			st, err := s.OpenStream()
			if err != nil {
				atomic.AddInt64(&failed, 1)
				return
			}
			atomic.AddInt64(&opened, 1)
			_, err = st.Write([]byte(tgt + "\n"))
			for err == nil && *write {
				var n int
				n, err = st.Write(zeros)
				atomic.AddInt64(&written, int64(n))
			}
			if err == nil {
				_, err = io.Copy(io.Discard, st)
			}
			st.Close()
			atomic.AddInt64(&ended, 1)
			if !*reopen || s.IsClosed() {
				return
			}
			if time.Since(t0) < time.Second && pause < time.Second {
				pause *= 2
			} else if time.Since(t0) >= time.Second {
				pause = 10 * time.Millisecond
			}
			time.Sleep(pause)
		}
	}
	refused := 0 // tunnels the relay did not let up: counted, not fatal
	for t := 0; t < *tunnels; t++ {
		s, err := dialTunnel(conf, *streams+16, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-go flood: tunnel %d: %v\n", t, err)
			refused++
			continue
		}
		sessions = append(sessions, s)
		for k := 0; k < *streams; k++ {
			go slot(s, t**streams+k)
		}
	}
	// "Tried" = every slot has opened its first stream or failed to.
	want := int64(len(sessions) * *streams)
	for i := 0; i < 300 && atomic.LoadInt64(&opened)+atomic.LoadInt64(&failed) < want; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	emit(map[string]interface{}{"phase": "flood", "tunnels": len(sessions),
		"refused": refused, "opened": atomic.LoadInt64(&opened), "failed": atomic.LoadInt64(&failed)})
	waitStdin(bufio.NewReader(os.Stdin))
	atomic.StoreInt32(&stopping, 1)
	up := 0
	for _, s := range sessions {
		if !s.IsClosed() {
			up++
		}
		s.Close()
	}
	emit(map[string]interface{}{"phase": "done", "opened": atomic.LoadInt64(&opened),
		"written": atomic.LoadInt64(&written), "ended": atomic.LoadInt64(&ended),
		"tunnels_up": up})
}

// Package yxutil works around what the Debian packaged hashicorp/yamux
// (0.0+git20190923.df201c7) lacks for half-close: once the local side has
// called Stream.Close (sent FIN), Stream.Read returns io.EOF whenever the
// receive buffer happens to be empty, even though the peer has not sent
// FIN and more data may follow. Upstream fixed that years later (half-closed
// reads); the Go peers of the interop tests need correct half-close now.
//
// The fix is test-only: it reads the stream's unexported state through
// reflect/unsafe to tell "peer sent FIN" from "we sent FIN".
package yxutil

import (
	"io"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/hashicorp/yamux"
)

// Stream states, in the order of yamux's streamState iota (stream.go).
const (
	stateInit = iota
	stateSYNSent
	stateSYNReceived
	stateEstablished
	stateLocalClose
	stateRemoteClose
	stateClosed
	stateReset
)

// state returns the stream's current state under its state lock.
func state(s *yamux.Stream) int {
	v := reflect.ValueOf(s).Elem()
	mu := (*sync.Mutex)(unsafe.Pointer(v.FieldByName("stateLock").UnsafeAddr()))
	st := (*int)(unsafe.Pointer(v.FieldByName("state").UnsafeAddr()))
	mu.Lock()
	r := *st
	mu.Unlock()
	return r
}

// Check panics at start-up if the yamux layout is not the one this package
// was written for, instead of misreading memory later.
func Check() {
	t := reflect.TypeOf(yamux.Stream{})
	f, ok := t.FieldByName("state")
	if !ok || f.Type.Kind() != reflect.Int || f.Type.Size() !=
		unsafe.Sizeof(int(0)) {
		panic("yxutil: yamux.Stream.state is not an int")
	}
	f, ok = t.FieldByName("stateLock")
	if !ok || f.Type != reflect.TypeOf(sync.Mutex{}) {
		panic("yxutil: yamux.Stream.stateLock is not a sync.Mutex")
	}
}

// Reset reports whether the peer reset the stream (RST).
func Reset(s *yamux.Stream) bool { return state(s) == stateReset }

// RemoteClosed reports whether the peer has sent FIN (or RST).
func RemoteClosed(s *yamux.Stream) bool {
	st := state(s)
	return st == stateRemoteClose || st == stateClosed || st == stateReset
}

// Reader reads a stream with correct half-close semantics: io.EOF only
// once the peer has sent FIN (or the session is gone) and every byte
// before it was read. After a local Close it polls, since this yamux
// version gives no wake-up for that case. Closing Stop (optional) makes a
// Read waiting that way return io.ErrClosedPipe.
type Reader struct {
	S    *yamux.Stream
	Stop <-chan struct{}
}

func (r Reader) Read(b []byte) (int, error) {
	wait := 100 * time.Microsecond
	for {
		n, err := r.S.Read(b)
		if n > 0 || err != io.EOF {
			return n, err
		}
		if state(r.S) != stateLocalClose || r.S.Session().IsClosed() {
			// Data and then FIN may have arrived between that Read
			// and the state check (yamux buffers a frame's data
			// before it applies a later FIN): read once more, so
			// EOF comes only after every buffered byte.
			return r.S.Read(b)
		}
		select {
		case <-r.Stop:
			return 0, io.ErrClosedPipe
		case <-time.After(wait):
		}
		if wait < 5*time.Millisecond {
			wait *= 2
		}
	}
}

package fakebackend

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A strict rotating backend: every refresh credential is single-use, as
// with a backend that rotates refresh tokens and detects their reuse. The
// first refresh call carrying a credential gets the answer programmed for
// it (SetRefresh, RefreshTo); every later call carrying the same
// credential gets Reuse() (409 token_reuse), whatever was programmed and
// whether or not the first call was answered. A credential is spent when
// its first call arrives, as a backend that marks it used before
// answering.
//
// Every call is counted and recorded, gated and delayed as with New: a
// replay waits for a gate or a programmed Delay like the first call, and
// is then answered Reuse() instead of the programmed answer.

// NewRotating starts a backend like New whose refresh credentials are
// single-use (see above). Its URL is a front server on 127.0.0.1 that
// serves the same backend.
func NewRotating(t testing.TB) *Backend {
	t.Helper()
	b := New(t)
	r := &rotation{spent: map[string]bool{}, arrivals: map[string][]time.Time{}}
	rotations.Store(b, r)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		serveRotating(b, r, w, req)
	}))
	b.URL = front.URL
	// The backend first: closing it ends held and hanging calls, which
	// the front server's Close waits for.
	t.Cleanup(func() {
		b.Close()
		front.Close()
		rotations.Delete(b)
	})
	return b
}

// rotations maps each rotating backend to its state.
var rotations sync.Map

// rotation remembers the spent refresh credentials of one backend and
// when each refresh call arrived.
type rotation struct {
	mu       sync.Mutex
	spent    map[string]bool
	arrivals map[string][]time.Time
}

// spend marks credential spent and reports whether it was already.
func (r *rotation) spend(credential string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	was := r.spent[credential]
	r.spent[credential] = true
	r.arrivals[credential] = append(r.arrivals[credential], time.Now())
	return was
}

// RefreshArrivals returns when each refresh call carrying credential
// arrived, in order; nil unless b was made by NewRotating.
func (b *Backend) RefreshArrivals(credential string) []time.Time {
	v, ok := rotations.Load(b)
	if !ok {
		return nil
	}
	r := v.(*rotation)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.arrivals[credential]...)
}

func serveRotating(b *Backend, r *rotation, w http.ResponseWriter, req *http.Request) {
	if endpointOf(req.URL.Path) != Refresh || req.Method != http.MethodPost {
		b.serve(w, req)
		return
	}
	credential := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !r.spend(credential) {
		b.serve(w, req)
		return
	}
	// A replay: recorded, gated and delayed by serve as any call, its
	// programmed answer replaced by Reuse().
	sink := &discard{header: http.Header{}}
	b.serve(sink, req)
	if sink.wrote {
		write(w, Reuse())
	}
}

// discard is a ResponseWriter that keeps nothing but whether an answer
// was written (serve writes nothing when the client went away).
type discard struct {
	header http.Header
	wrote  bool
}

func (d *discard) Header() http.Header { return d.header }

func (d *discard) WriteHeader(int) { d.wrote = true }

func (d *discard) Write(p []byte) (int, error) {
	d.wrote = true
	return len(p), nil
}

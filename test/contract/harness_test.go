// Package contract holds authlayer's behaviour tests. Every test runs
// against each loader factory ("compiled" and "yaegi"), through the raw
// option maps Traefik hands a plugin, with a fake auth backend
// (../fakebackend) and an upstream that records what it received. The
// requests, results and want* assertions are ../testkit's, shared with the
// e2e suite; this file holds what is the contract suite's own: the loader
// factories, each test's env and serving a request in process.
//
// From the test module (cd test):
//
//	go test -count=1 ./contract/                  # compiled and Yaegi
//	go test -race -count=1 ./contract/            # the same under the race detector
//	go test -count=1 -run '/compiled' ./contract/ # one factory
package contract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/loader"
	"github.com/authlayer/authlayer/test/testkit"
)

// waitBound bounds every wait in the suite: reaching it is a failure.
const waitBound = 10 * time.Second

type namedFactory struct {
	name string
	load func() (loader.Factory, error)
}

var factories = []namedFactory{
	{"compiled", func() (loader.Factory, error) { return loader.Compiled(), nil }},
	{"yaegi", yaegiFactory},
}

// Both factories run under -race. Yaegi v0.16.1 shares a select
// statement's case list between goroutines (interp/run.go _select), a race
// in the interpreter itself; the plugin therefore has no select on its
// request path, and this suite under -race is what keeps it that way.

// run runs body once per factory, as subtests "compiled" and "yaegi".
func run(t *testing.T, body func(t *testing.T, e *env)) {
	t.Helper()
	for _, nf := range factories {
		t.Run(nf.name, func(t *testing.T) {
			f, err := nf.load()
			if err != nil {
				t.Fatalf("load %s factory: %v", nf.name, err)
			}
			body(t, newEnv(t, f))
		})
	}
}

// env is one test's world: a factory, a fake backend and an upstream.
type env struct {
	factory loader.Factory
	be      *fakebackend.Backend
	up      *testkit.Upstream
	built   map[string]int // handlers built per test name
}

func newEnv(t *testing.T, f loader.Factory) *env {
	return &env{factory: f, be: fakebackend.New(t), up: testkit.NewUpstream(), built: map[string]int{}}
}

// m is shorthand for an option map.
type m = map[string]interface{}

// opts returns the base options (this env's backend, a 2s timeout,
// cookies without Secure since tests run on plain http) deep-merged with
// each override in turn. A nil value in an override deletes the key.
func (e *env) opts(overrides ...m) m {
	base := m{
		"backend": m{"url": e.be.URL, "timeout": "2s"},
		"cookies": m{"secure": "false"},
	}
	for _, o := range overrides {
		testkit.Merge(base, o)
	}
	return base
}

// guestOpts turns guests on with credentials the fake backend accepts.
func (e *env) guestOpts() m {
	e.be.EnableGuest("guest-user", "guest-pass")
	return m{"guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}}
}

// handler builds the middleware, or fails the test. Its name is the
// test's name (with "#n" from the second handler of one test on), so no
// two handlers share a name.
func (e *env) handler(t *testing.T, options m) http.Handler {
	t.Helper()
	name := t.Name()
	if n := e.built[name]; n > 0 {
		name = fmt.Sprintf("%s#%d", name, n)
	}
	e.built[t.Name()]++
	h, err := e.factory(options, e.up, name)
	if err != nil {
		t.Fatalf("New(%v): unexpected error: %v", options, err)
	}
	if h == nil {
		t.Fatalf("New returned a nil handler")
	}
	return h
}

// newRequest builds rq as the handler receives it, tagged for the
// upstream; it returns the tag.
func (e *env) newRequest(rq testkit.Request) (*http.Request, string) {
	req := rq.ServerRequest()
	return req, e.up.Tag(req)
}

// do sends rq through h. A panic fails the test.
func (e *env) do(t *testing.T, h http.Handler, rq testkit.Request) *testkit.Result {
	t.Helper()
	req, id := e.newRequest(rq)
	res, err := serve(h, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, rq.Target, err)
	}
	res.Upstream = e.up.Received(id)
	return res
}

// serve runs one request and converts a panic into an error, so that it
// is safe to call from any goroutine.
func serve(h http.Handler, req *http.Request) (res *testkit.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return testkit.ReadResult(rec.Result())
}

// doAsync sends rq in a goroutine; the returned channel yields the result.
func (e *env) doAsync(h http.Handler, rq testkit.Request) <-chan testkit.AsyncResult {
	req, id := e.newRequest(rq)
	ch := make(chan testkit.AsyncResult, 1)
	go func() {
		res, err := serve(h, req)
		if res != nil {
			res.Upstream = e.up.Received(id)
		}
		ch <- testkit.AsyncResult{Res: res, Err: err}
	}()
	return ch
}

// await waits (bounded) for an async result.
func await(t *testing.T, ch <-chan testkit.AsyncResult, what string) *testkit.Result {
	t.Helper()
	select {
	case ar := <-ch:
		if ar.Err != nil {
			t.Fatalf("%s: %v", what, ar.Err)
		}
		return ar.Res
	case <-time.After(waitBound):
		t.Fatalf("%s: no response within %v", what, waitBound)
	}
	return nil
}

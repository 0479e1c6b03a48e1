// Package lifecycle simulates Traefik configuration reloads: every reload
// builds the middleware again (CreateConfig, decode, New) for every router
// using it, cancels the previous build's context (Traefik v3), and drops
// the old handlers. Reloads must not leave goroutines or memory behind, and
// New must do no network I/O.
package lifecycle

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/test/loader"
)

const (
	root    = "../.."
	rounds  = 1000
	routers = 2 // New is called once per router using the middleware
	// goroutineSlack is how many goroutines above the baseline are
	// tolerated once things settle (runtime and test-framework noise).
	goroutineSlack = 5
	// heapSlack bounds the live heap growth between an early round and
	// the last one.
	heapSlack = 8 << 20
)

// builder builds one middleware instance with the given context.
type builder func(ctx context.Context, options map[string]interface{}, next http.Handler, name string) (http.Handler, error)

func compiledBuilder(ctx context.Context, options map[string]interface{}, next http.Handler, name string) (http.Handler, error) {
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(options, cfg); err != nil {
		return nil, err
	}
	return authlayer.New(ctx, next, cfg, name)
}

func builders(t *testing.T) map[string]builder {
	t.Helper()
	p, err := loader.LoadYaegi(root)
	if err != nil {
		t.Fatalf("Yaegi load: %v", err)
	}
	return map[string]builder{"compiled": compiledBuilder, "yaegi": p.Build}
}

// backend is an auth backend that must never be called while building.
type backend struct {
	srv   *httptest.Server
	calls atomic.Int64
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		b.calls.Add(1)
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// options is a realistic configuration as Docker labels give it (fresh
// maps each time, as Traefik deep-copies the configuration per reload).
func options(t *testing.T, backendURL string) map[string]interface{} {
	t.Helper()
	p := "traefik.http.middlewares.auth.plugin.authlayer."
	opts, err := loader.FromLabels(map[string]string{
		p + "backend.url":           backendURL,
		p + "backend.timeout":       "2s",
		p + "guest.enabled":         "true",
		p + "guest.username":        "guest",
		p + "guest.password":        "guest-password",
		p + "cookies.secure":        "false",
		p + "cache.ttl":             "5s",
		p + "cache.maxEntries":      "1000",
		p + "routes.protected":      "/dashboard,/account",
		p + "routes.authOnly":       "/login,/register",
		p + "routes.excluded":       "/static,/favicon.ico",
		p + "routes.roles[0].path":  "/admin",
		p + "routes.roles[0].roles": "admin",
	}, "auth", "authlayer")
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// baselineGoroutines waits (bounded) for the goroutine count to stop
// changing and returns it.
func baselineGoroutines() int {
	prev := -1
	n := runtime.NumGoroutine()
	for i := 0; i < 20 && n != prev; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		prev, n = n, runtime.NumGoroutine()
	}
	return n
}

// settledGoroutines waits (bounded) until the goroutine count is at most
// limit and returns the last count seen.
func settledGoroutines(limit int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > limit; i++ {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestReloadsLeaveNothingBehind(t *testing.T) {
	next := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusOK) })
	for name, build := range builders(t) {
		t.Run(name, func(t *testing.T) {
			be := newBackend(t)
			// Warm up once (lazy package state, interpreter caches) before
			// taking the baseline.
			if _, err := build(context.Background(), options(t, be.srv.URL), next, "auth@docker"); err != nil {
				t.Fatalf("New: %v", err)
			}
			base := baselineGoroutines()

			var (
				cancel    context.CancelFunc = func() {}
				handlers  []http.Handler
				heapEarly uint64
				start     = time.Now()
			)
			for round := 0; round < rounds; round++ {
				cancel() // Traefik v3 cancels the previous build's context
				var ctx context.Context
				ctx, cancel = context.WithCancel(context.Background())
				handlers = handlers[:0] // the previous round's handlers are dropped
				for r := 0; r < routers; r++ {
					h, err := build(ctx, options(t, be.srv.URL), next, "auth@docker")
					if err != nil {
						t.Fatalf("round %d: New: %v", round, err)
					}
					handlers = append(handlers, h)
				}
				if round == 99 {
					heapEarly = liveHeap()
				}
			}
			elapsed := time.Since(start)
			heapLate := liveHeap()
			cancel()
			runtime.KeepAlive(handlers)
			handlers = nil

			got := settledGoroutines(base + goroutineSlack)
			t.Logf("%d rounds x %d routers in %v (%v per New); goroutines %d -> %d; live heap %d KiB at round 100, %d KiB at the end",
				rounds, routers, elapsed, elapsed/time.Duration(rounds*routers), base, got, heapEarly>>10, heapLate>>10)
			if got > base+goroutineSlack {
				t.Errorf("goroutines grew from %d to %d over %d reloads", base, got, rounds)
			}
			if heapLate > heapEarly && heapLate-heapEarly > heapSlack {
				t.Errorf("live heap grew by %d KiB between round 100 and round %d", (heapLate-heapEarly)>>10, rounds)
			}
			if n := be.calls.Load(); n != 0 {
				t.Errorf("New called the backend %d times; it must do no network I/O", n)
			}
		})
	}
}

// TestNewDoesNoIOEvenWhenBackendIsDown checks that New is fast and offline
// when the backend does not exist (a closed loopback port), as the plugin
// catalog calls it.
func TestNewDoesNoIOEvenWhenBackendIsDown(t *testing.T) {
	be := newBackend(t)
	url := be.srv.URL
	be.srv.Close() // nothing listens there any more
	next := http.NotFoundHandler()
	for name, build := range builders(t) {
		start := time.Now()
		for i := 0; i < 20; i++ {
			if _, err := build(context.Background(), options(t, url), next, "auth@catalog"); err != nil {
				t.Fatalf("%s: New with an unreachable backend: %v", name, err)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: 20 New calls took %v", name, d)
		}
	}
}

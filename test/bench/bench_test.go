// Package bench measures authlayer's cost per request, compiled and
// interpreted by Yaegi as Traefik runs it, against baselines measured in
// the same run: the app alone, and an empty interpreted plugin (the floor
// every Yaegi plugin pays). Read the ratios, not the absolute figures.
//
//	cd test && go test -run '^$' -bench . -benchmem ./bench/
package bench

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authlayer/authlayer/test/loader"
)

type app struct{}

func (app) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

var token = "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("p", 300) + ".sig"

// backend answers every validation with one user and counts the calls, so
// a benchmark can prove it measured cache hits.
func backend(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"success": true, "data": map[string]interface{}{
			"id": "u1", "type": "user", "role": "user", "name": "Ada", "email": "ada@example.com"}})
	}))
	b.Cleanup(func() { srv.Close() })
	return srv, &calls
}

func options(url string) map[string]interface{} {
	return map[string]interface{}{
		"backend": map[string]interface{}{"url": url},
		"cache":   map[string]interface{}{"ttl": "1h"},
		"routes": map[string]interface{}{
			"protected": "/dashboard,/api/me,/settings",
			"authOnly":  "/login",
			"excluded":  "/static",
			"roles":     []interface{}{map[string]interface{}{"path": "/admin", "roles": "admin"}},
		},
	}
}

func request(withCookie bool) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/dashboard/settings?tab=1", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	if withCookie {
		req.AddCookie(&http.Cookie{Name: "userToken", Value: token})
	}
	return req
}

func run(b *testing.B, h http.Handler, req *http.Request, wantStatus int) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req.Clone(req.Context()))
	if rec.Code != wantStatus {
		b.Fatalf("warm-up status %d, want %d", rec.Code, wantStatus)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(rec, req.Clone(req.Context()))
	}
}

func yaegi(b *testing.B, root string) loader.Factory {
	f, err := loader.Yaegi(root)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func build(b *testing.B, f loader.Factory, opts map[string]interface{}) http.Handler {
	h, err := f(opts, app{}, "bench@file")
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkAppAlone(b *testing.B) { run(b, app{}, request(true), http.StatusNoContent) }

func BenchmarkYaegiEmptyPlugin(b *testing.B) {
	h := build(b, yaegi(b, "testdata/emptyplugin"), nil)
	run(b, h, request(true), http.StatusNoContent)
}

func BenchmarkCompiledCacheHit(b *testing.B) {
	srv, calls := backend(b)
	run(b, build(b, loader.Compiled(), options(srv.URL)), request(true), http.StatusNoContent)
	if calls.Load() != 1 {
		b.Fatalf("backend calls = %d, want 1", calls.Load())
	}
}

func BenchmarkYaegiCacheHit(b *testing.B) {
	srv, calls := backend(b)
	run(b, build(b, yaegi(b, "../.."), options(srv.URL)), request(true), http.StatusNoContent)
	if calls.Load() != 1 {
		b.Fatalf("backend calls = %d, want 1", calls.Load())
	}
}

// BenchmarkYaegiAnonymousRedirect is a protected page without a cookie: no
// backend call, a login redirect.
func BenchmarkYaegiAnonymousRedirect(b *testing.B) {
	srv, calls := backend(b)
	run(b, build(b, yaegi(b, "../.."), options(srv.URL)), request(false), http.StatusFound)
	if calls.Load() != 0 {
		b.Fatalf("backend calls = %d, want 0", calls.Load())
	}
}

// BenchmarkYaegiCacheHitAllGuards is the cache hit with rate limiting and
// CSRF on (a GET carrying a valid CSRF cookie, so none is issued).
func BenchmarkYaegiCacheHitAllGuards(b *testing.B) {
	srv, calls := backend(b)
	opts := options(srv.URL)
	opts["rateLimit"] = map[string]interface{}{"enabled": "true", "requests": "1000000000", "window": "1s"}
	opts["csrf"] = map[string]interface{}{"enabled": "true", "secret": strings.Repeat("s", 40)}
	h := build(b, yaegi(b, "../.."), opts)
	warm := httptest.NewRecorder()
	h.ServeHTTP(warm, request(true))
	req := request(true)
	for _, c := range (&http.Response{Header: warm.Header()}).Cookies() {
		if c.Name == "__csrf" {
			req.AddCookie(c)
		}
	}
	run(b, h, req, http.StatusNoContent)
	if calls.Load() != 1 {
		b.Fatalf("backend calls = %d, want 1", calls.Load())
	}
}

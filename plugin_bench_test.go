package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The benchmarks report the middleware's cost against BenchmarkBaseline,
// the same request served by the app alone, measured in the same run:
// compare ratios, not absolute figures (shared machines are noisy).

type nopApp struct{}

func (nopApp) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func benchRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/dashboard/settings?tab=1", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "user-" + strings.Repeat("x", 380)})
	return req
}

func benchServe(b *testing.B, h http.Handler) {
	req := benchRequest()
	rec := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := req.Clone(req.Context())
		h.ServeHTTP(rec, r)
	}
}

func BenchmarkBaseline(b *testing.B) { benchServe(b, nopApp{}) }

func BenchmarkCacheHit(b *testing.B) {
	f := newFakeBackendB(b)
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	c.Cache.TTL = "1h"
	c.Routes.Protected = []string{"/dashboard"}
	h, err := New(context.Background(), nopApp{}, c, b.Name())
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, benchRequest()) // warm the cache
	if rec.Code != http.StatusNoContent {
		b.Fatalf("warm-up status %d", rec.Code)
	}
	benchServe(b, h)
	if n := f.validates.Load(); n != 1 {
		b.Fatalf("validations = %d, want 1: the benchmark did not measure cache hits", n)
	}
}

// BenchmarkRouteMatch measures a rule decision against tables of growing
// size: the first-segment index keeps it flat.
func BenchmarkRouteMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		rules := make([]string, n)
		for i := range rules {
			rules[i] = "/section" + strconv.Itoa(i) + "/*/page"
		}
		table, err := newRouteTable(RoutesConfig{Protected: rules, Public: []string{"/**/public"}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strconv.Itoa(n)+"rules", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				matchRoute(table, "/section7/abc/page/more")
			}
		})
	}
}

func newFakeBackendB(b *testing.B) *fakeBackend {
	f := &fakeBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/me", f.me)
	f.srv = httptest.NewServer(mux)
	b.Cleanup(func() { f.srv.Close() })
	return f
}

// BenchmarkHostileCookieHeader measures a request whose Cookie header is
// attacker-sized (1 to 1000 cookies, up to ~64 KiB) on a public path: the
// cost must grow with the input, not explode.
func BenchmarkHostileCookieHeader(b *testing.B) {
	f := newFakeBackendB(b)
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	h, err := New(context.Background(), nopApp{}, c, b.Name())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100, 1000} {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "c" + strconv.Itoa(i) + "=" + strings.Repeat("v", 60)
		}
		req := httptest.NewRequest(http.MethodGet, "/public/page", nil)
		req.Header.Set("Cookie", strings.Join(parts, "; ")+"; userToken=unknown-"+strconv.Itoa(n))
		b.Run(strconv.Itoa(n)+"cookies", func(b *testing.B) {
			rec := httptest.NewRecorder()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(rec, req.Clone(req.Context()))
			}
		})
	}
}

// BenchmarkHostilePath measures long paths with many segments against a
// table with a "**" rule (matching stays linear).
func BenchmarkHostilePath(b *testing.B) {
	table, err := newRouteTable(RoutesConfig{Protected: []string{"/**/admin/*/x"}, Public: []string{"/a"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10, 1000, 10000} {
		p := strings.Repeat("/a", n)
		b.Run(strconv.Itoa(n)+"segments", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				matchRoute(table, p)
			}
		})
	}
}

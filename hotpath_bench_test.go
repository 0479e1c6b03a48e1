package authlayer

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/authlayer/authlayer/internal/cache"
)

// The parts of the cache-hit path, one by one: run them under Yaegi
// (scripts/yaegi-test.sh -run '^$' -bench Part) to see where interpreted
// time goes.

func hotMiddleware(b *testing.B) (*middleware, *fakeBackend) {
	f := newFakeBackendB(b)
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	c.Cache.TTL = "1h"
	c.Routes.Protected = []string{"/dashboard", "/api/me", "/settings"}
	c.Routes.AuthOnly = []string{"/login"}
	c.Routes.Excluded = []string{"/static"}
	h, err := New(context.Background(), nopApp{}, c, b.Name())
	if err != nil {
		b.Fatal(err)
	}
	m := h.(*middleware)
	m.ServeHTTP(httptest.NewRecorder(), benchRequest())
	return m, f
}

func BenchmarkPartStrip(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	for i := 0; i < b.N; i++ {
		stripIdentityHeaders(&m.s.headers, req)
	}
}

func BenchmarkPartMatch(b *testing.B) {
	m, _ := hotMiddleware(b)
	for i := 0; i < b.N; i++ {
		routeFor(m.routes, "/dashboard/settings", "")
	}
}

func BenchmarkPartCookies(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	for i := 0; i < b.N; i++ {
		cookiesRead(&m.s.cookies, req)
	}
}

func BenchmarkPartAuthenticate(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	route := routeFor(m.routes, req.URL.Path, "")
	for i := 0; i < b.N; i++ {
		authenticate(m, req, route, nil)
	}
}

func BenchmarkPartCacheKey(b *testing.B) {
	tok := benchRequest().Header.Get("Cookie")
	for i := 0; i < b.N; i++ {
		cache.Key(tok)
	}
}

func BenchmarkPartDenied(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	route := routeFor(m.routes, "/dashboard/settings", "")
	res := authenticate(m, req, route, nil)
	for i := 0; i < b.N; i++ {
		mayBeDenied(route, res)
	}
}

func BenchmarkPartSetHeaders(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	res := authenticate(m, req, routeFor(m.routes, req.URL.Path, ""), nil)
	for i := 0; i < b.N; i++ {
		setIdentityHeaders(&m.s.headers, req, res)
	}
}

func BenchmarkPartServeHTTP(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	rec := httptest.NewRecorder()
	for i := 0; i < b.N; i++ {
		m.ServeHTTP(rec, req)
	}
}

func BenchmarkPartMemo(b *testing.B) {
	m, _ := hotMiddleware(b)
	req := benchRequest()
	for i := 0; i < b.N; i++ {
		memoSession(m.state.sessions, req.Header)
	}
}

func emptyStep(m *middleware) bool { return m == nil }

// BenchmarkPartEmptyCall is the floor: one plain function call per loop.
func BenchmarkPartEmptyCall(b *testing.B) {
	m, _ := hotMiddleware(b)
	for i := 0; i < b.N; i++ {
		emptyStep(m)
	}
}

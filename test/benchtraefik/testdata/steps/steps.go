// This file is added to the plugin's package when the step benchmark
// (../../steps_test.go) interprets it with Yaegi: each BenchX(n) runs one
// step of the request flow n times on a prepared request, so its cost per
// call and its allocations can be read one by one. It calls the plugin's
// unexported functions: when they change, update it to match.

package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

type benchNoop struct{}

func (benchNoop) ServeHTTP(http.ResponseWriter, *http.Request) {}

// benchPass is the empty plugin's handler.
type benchPass struct{ next http.Handler }

func (p *benchPass) ServeHTTP(rw http.ResponseWriter, req *http.Request) { p.next.ServeHTTP(rw, req) }

var (
	bmUser, bmGuest, bmGuards       *middleware
	bReqUser, bReqGuest, bReqGuards *http.Request
	tReqUser, tReqGuest, tReqGuards *http.Request // never served: templates
	bRW                             *httptest.ResponseRecorder
	bRoute                          *routeMatch
	bRes                            *authResult
	bKey, bTok                      string
)

// benchRequest is a browser's request as a middleware sees it in Traefik
// (with the X-Forwarded-* headers the entry point adds).
func benchRequest(cookie string) *http.Request {
	req := httptest.NewRequest("GET", "http://bench.test/app/page?tab=1", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	h := req.Header
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) authlayer-bench")
	h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	h.Set("Accept-Language", "en-US,en;q=0.9")
	h.Set("Cookie", cookie)
	h.Set("X-Forwarded-For", "127.0.0.1")
	h.Set("X-Forwarded-Host", "bench.test")
	h.Set("X-Forwarded-Port", "80")
	h.Set("X-Forwarded-Proto", "http")
	h.Set("X-Forwarded-Server", "traefik")
	h.Set("X-Real-Ip", "127.0.0.1")
	return req
}

func benchBuild(cfg *Config, name string) *middleware {
	h, err := New(context.Background(), benchNoop{}, cfg, name)
	if err != nil {
		panic(err)
	}
	return h.(*middleware)
}

// benchConfig is the README's minimal options, with a cache that does not
// expire during the benchmark (an expired entry would send some steps
// down another path).
func benchConfig(backend string) *Config {
	c := CreateConfig()
	c.Backend.URL = backend
	c.Cache.TTL = "1h"
	return c
}

// BenchSetup builds three middlewares (README's minimal options; with
// guests; with csrf, rateLimit and audit), warms their caches and returns
// the CSRF cookie the third issued.
func BenchSetup(backend, userTok, guestTok string) string {
	bTok = userTok
	bmUser = benchBuild(benchConfig(backend), "user@steps")

	c := benchConfig(backend)
	c.Guest.Enabled = true
	c.Guest.Username = "guest"
	c.Guest.Password = "guest-password"
	bmGuest = benchBuild(c, "guest@steps")

	c = benchConfig(backend)
	c.CSRF.Enabled = true
	c.CSRF.Secret = strings.Repeat("k", 40)
	c.RateLimit.Enabled = true
	c.RateLimit.Requests = 1000000000
	c.RateLimit.Window = "1s"
	c.Audit.Enabled = true
	c.Audit.Events = []string{"auth:fail", "csrf:fail", "rateLimit:exceeded", "error"}
	bmGuards = benchBuild(c, "guards@steps")

	bRW = httptest.NewRecorder()
	bReqUser = benchRequest("theme=dark; userToken=" + userTok)
	bReqGuest = benchRequest("theme=dark; guestToken=" + guestTok)
	bmUser.ServeHTTP(httptest.NewRecorder(), bReqUser)
	bmGuest.ServeHTTP(httptest.NewRecorder(), bReqGuest)
	rec := httptest.NewRecorder()
	bmGuards.ServeHTTP(rec, benchRequest("theme=dark; userToken="+userTok))
	csrf := ""
	for _, ck := range (&http.Response{Header: rec.Header()}).Cookies() {
		if ck.Name == "__csrf" {
			csrf = ck.Name + "=" + ck.Value
		}
	}
	bReqGuards = benchRequest("theme=dark; userToken=" + userTok + "; " + csrf)
	tReqUser = benchRequest("theme=dark; userToken=" + userTok)
	tReqGuest = benchRequest("theme=dark; guestToken=" + guestTok)
	tReqGuards = benchRequest("theme=dark; userToken=" + userTok + "; " + csrf)
	bmGuards.ServeHTTP(httptest.NewRecorder(), bReqGuards)
	// Twice: the first request with a cookie header remembers its session.
	bmUser.ServeHTTP(httptest.NewRecorder(), bReqUser)
	bmGuest.ServeHTTP(httptest.NewRecorder(), bReqGuest)
	bmGuards.ServeHTTP(httptest.NewRecorder(), bReqGuards)

	bRoute = routeFor(bmUser.routes, bReqUser.URL.Path, bReqUser.URL.RawPath)
	bKey = cache.Key(userTok)
	bRes = authenticate(bmUser, bReqUser, bRoute, nil)
	return csrf
}

// BenchHandlers returns the handlers, for calls from compiled code as
// Traefik makes them.
func BenchHandlers() (user, guest, guards, pass http.Handler) {
	return bmUser, bmGuest, bmGuards, &benchPass{next: benchNoop{}}
}

// BenchRequests returns requests never served, to clone for each call
// from compiled code (as Traefik hands each request over fresh).
func BenchRequests() (user, guest, guards *http.Request) { return tReqUser, tReqGuest, tReqGuards }

// BenchTTL0 builds a middleware with cache.ttl 0s (README's minimal
// options otherwise: a backend call per request) and returns it with a
// request never served.
func BenchTTL0(backend, userTok string) (http.Handler, *http.Request) {
	c := CreateConfig()
	c.Backend.URL = backend
	c.Cache.TTL = "0s"
	return benchBuild(c, "ttl0@steps"), benchRequest("theme=dark; userToken=" + userTok)
}

// BenchI18n builds a middleware with i18n on (README's minimal options,
// locales tr and en), remembers its session, and returns it with two
// requests never served: one whose locale comes from Accept-Language
// (en-US), one with a locale prefix (/en/app/page).
func BenchI18n(backend, userTok string) (http.Handler, *http.Request, *http.Request) {
	c := benchConfig(backend)
	c.I18n.Locales = []string{"tr", "en"}
	m := benchBuild(c, "i18n@steps")
	plain := benchRequest("theme=dark; userToken=" + userTok)
	prefixed := benchRequest("theme=dark; userToken=" + userTok)
	prefixed.URL.Path = "/en" + prefixed.URL.Path
	prefixed.RequestURI = prefixed.URL.RequestURI()
	for i := 0; i < 2; i++ {
		m.ServeHTTP(httptest.NewRecorder(), plain.Clone(plain.Context()))
		m.ServeHTTP(httptest.NewRecorder(), prefixed.Clone(prefixed.Context()))
	}
	return m, plain, prefixed
}

func benchNop() {}

// BenchLoop is the loop alone.
func BenchLoop(n int) {
	for i := 0; i < n; i++ {
	}
}

// BenchCall is a call to an empty function.
func BenchCall(n int) {
	for i := 0; i < n; i++ {
		benchNop()
	}
}

// BenchStrip looks for client copies of the identity headers among the
// request's ten (none to remove after the first call).
func BenchStrip(n int) {
	m, req := bmUser, bReqUser
	for i := 0; i < n; i++ {
		stripIdentityHeaders(&m.s.headers, req)
	}
}

// BenchRoute is the route memo's look-up.
func BenchRoute(n int) {
	m, req := bmUser, bReqUser
	for i := 0; i < n; i++ {
		routeFor(m.routes, req.URL.Path, req.URL.RawPath)
	}
}

// BenchAuthenticate is the whole token flow of a cached user.
func BenchAuthenticate(n int) {
	m, req, route := bmUser, bReqUser, bRoute
	for i := 0; i < n; i++ {
		authenticate(m, req, route, nil)
	}
}

// BenchServeRemembered is the short path of a remembered session
// (ServeHTTP called from interpreted code): route memo, session memo,
// strip, set, next (a no-op handler). The request is reused: each call
// strips the identity headers the previous one set.
func BenchServeRemembered(n int) {
	m, req, rw := bmUser, bReqUser, bRW
	for i := 0; i < n; i++ {
		m.ServeHTTP(rw, req)
	}
}

// BenchSessionMemo is the session memo's look-up.
func BenchSessionMemo(n int) {
	m, req := bmUser, bReqUser
	for i := 0; i < n; i++ {
		memoSession(m.memo, req.Header)
	}
}

// BenchAuthenticateMiss is the token flow without the session memo: the
// cookie, the cache key, the validation cache.
func BenchAuthenticateMiss(n int) {
	m, req, route := bmUser, bReqUser, bRoute
	for i := 0; i < n; i++ {
		authenticateMiss(m, req, route)
	}
}

// BenchCookie is req.Cookie for the user cookie.
func BenchCookie(n int) {
	m, req := bmUser, bReqUser
	for i := 0; i < n; i++ {
		req.Cookie(m.s.cookies.user)
	}
}

// BenchCacheKey hashes the token.
func BenchCacheKey(n int) {
	for i := 0; i < n; i++ {
		cache.Key(bTok)
	}
}

// BenchCacheLookup reads the validation cache.
func BenchCacheLookup(n int) {
	c := bmUser.state.validations
	for i := 0; i < n; i++ {
		cache.Lookup(c, bKey)
	}
}

// BenchMayBeDenied is the access rules' quick check.
func BenchMayBeDenied(n int) {
	for i := 0; i < n; i++ {
		mayBeDenied(bRoute, bRes)
	}
}

// BenchSetHeaders sets the identity headers.
func BenchSetHeaders(n int) {
	m, req, res := bmUser, bReqUser, bRes
	for i := 0; i < n; i++ {
		setIdentityHeaders(&m.s.headers, req, res)
	}
}

// BenchForward sets the headers and calls next (a no-op handler).
func BenchForward(n int) {
	m, req, res, rw := bmUser, bReqUser, bRes, bRW
	for i := 0; i < n; i++ {
		forward(m, rw, req, res)
	}
}

// BenchCookieWriter is forward through the response writer wrapper (a
// response that sets cookies).
func BenchCookieWriter(n int) {
	m, req, rw := bmUser, bReqUser, bRW
	res := &authResult{id: bRes.id, token: bRes.token, loggedIn: true, setCookies: []string{"a=b"}}
	for i := 0; i < n; i++ {
		forward(m, rw, req, res)
	}
}

// BenchRateLimited spends one request from the client's budget.
func BenchRateLimited(n int) {
	m, req, rw := bmGuards, bReqGuards, bRW
	for i := 0; i < n; i++ {
		rateLimited(m, rw, req, true)
	}
}

// BenchClientKey is the client's rate-limit key.
func BenchClientKey(n int) {
	m, req := bmGuards, bReqGuards
	for i := 0; i < n; i++ {
		ratelimit.ClientKey(m.state.limiter, req)
	}
}

// BenchCSRFBefore is the session-free CSRF check of a GET.
func BenchCSRFBefore(n int) {
	m, req, rw, route := bmGuards, bReqGuards, bRW, bRoute
	for i := 0; i < n; i++ {
		csrfBefore(m, rw, req, route)
	}
}

// BenchCSRFAfter checks the request's CSRF cookie for the session.
func BenchCSRFAfter(n int) {
	m, req, rw, route := bmGuards, bReqGuards, bRW, bRoute
	for i := 0; i < n; i++ {
		res := &authResult{id: bRes.id, token: bRes.token, loggedIn: true}
		csrfAfter(m, rw, req, route, res, false)
	}
}

// BenchAuthenticateGuest is the token flow of a cached guest.
func BenchAuthenticateGuest(n int) {
	m, req, route := bmGuest, bReqGuest, bRoute
	for i := 0; i < n; i++ {
		authenticate(m, req, route, nil)
	}
}

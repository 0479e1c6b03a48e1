package e2e

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Error pages through a real Traefik: the fetch of an errorPages page is
// one fixed request whoever was refused, the page is served with a CSP
// that runs no script, a client's X-Authlayer-Error-Page never reaches the
// app, and the built-in 403 page's sign-out form lands on the login page
// with the way back.

// formCSP is the built-in 403 page's policy when it holds the sign-out
// form; pageCSP an errorPages page's.
const (
	formCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	pageCSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// echoApp serves /errors/echo.html, a page that repeats the request it
// got (Host, User-Agent, Accept-Language, X-Forwarded-*, X-Real-Ip), and
// records the headers of everything else by X-Test-Id.
type echoApp struct {
	srv       *httptest.Server
	mu        sync.Mutex
	fetches   []http.Header
	hosts     []string
	forwarded map[string]http.Header
}

func newEchoApp(t *testing.T) *echoApp {
	a := &echoApp{forwarded: map[string]http.Header{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.URL.Path != "/errors/echo.html" {
			a.forwarded[r.Header.Get(testkit.HeaderTestID)] = r.Header.Clone()
			_, _ = io.WriteString(w, testkit.UpstreamBody)
			return
		}
		a.fetches = append(a.fetches, r.Header.Clone())
		a.hosts = append(a.hosts, r.Host)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, "<p>host=%s ua=%s lang=%s xff=%s xfh=%s xfp=%s real=%s</p>", r.Host, r.UserAgent(),
			r.Header.Get("Accept-Language"), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-Ip"))
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *echoApp) routeTo(names ...string) m {
	routers := m{}
	for _, n := range names {
		routers[n] = m{"service": "echo"}
	}
	return m{
		"routers":  routers,
		"services": m{"echo": m{"loadBalancer": m{"servers": []interface{}{m{"url": a.srv.URL}}}}},
	}
}

// TestErrorPageFetchThroughTraefikIsFixed: a refused client's headers, and
// the Host it reached Traefik with, never shape the page every refused
// client is then served: the app sees authlayer's fixed request (its own
// address as Host, or the configured URL's host), no client address in
// X-Forwarded-For; the page comes with a CSP that runs no script.
func TestErrorPageFetchThroughTraefikIsFixed(t *testing.T) {
	s := start(t, traefikrun.Options{})
	app := newEchoApp(t)
	roles := m{"roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}}}
	s.deployWith(t, sites{
		"echo":    m{"routes": roles, "errorPages": m{"forbidden": "/errors/echo.html"}},
		"echoabs": m{"routes": roles, "errorPages": m{"forbidden": "https://pages.example/errors/echo.html"}},
	}, app.routeTo("echo", "echoabs"))
	tok := fakebackend.Token("pages-fixed-e2e")
	s.be.SetUser(tok, fakebackend.UserData("u-fixed", "user", nil))
	appHost := strings.TrimPrefix(app.srv.URL, "http://")
	const script = `"><script>alert(document.cookie)</script>`

	for _, tc := range []struct{ site, want string }{
		{"echo", "<p>host=" + appHost + " ua=authlayer-error-page lang= xff= xfh= xfp= real=</p>"},
		{"echoabs", "<p>host=pages.example ua=authlayer-error-page lang= xff= xfh=pages.example xfp=https real=</p>"},
	} {
		attack := page(tc.site, "/admin").Cookie(testkit.UserCookie, tok)
		for _, k := range []string{"User-Agent", "Accept-Language", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded"} {
			attack = attack.WithHeader(k, script)
		}
		first := s.do(t, attack)
		second := s.do(t, page(tc.site, "/admin").Cookie(testkit.UserCookie, tok).WithHeader("User-Agent", "victim"))
		for i, r := range []*testkit.Result{first, second} {
			if r.Code != http.StatusForbidden || r.Body != tc.want {
				t.Errorf("%s, client %d: %d %q, want %q", tc.site, i, r.Code, r.Body, tc.want)
			}
			if r.Header.Get("Content-Security-Policy") != pageCSP || r.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s, client %d: headers %v", tc.site, i, r.Header)
			}
			testkit.WantNoStore(t, r)
		}
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.fetches) != 2 {
		t.Fatalf("%d fetches, want one per site", len(app.fetches))
	}
	for i, h := range app.fetches {
		for k, v := range h {
			if strings.Contains(strings.Join(v, ","), "script") || k == "Cookie" || k == "Authorization" || k == testkit.HeaderUser {
				t.Errorf("fetch %d carried %s: %q", i, k, v)
			}
		}
	}
}

// TestErrorPageMarkerNeverReachesTheAppThroughTraefik: a client's
// X-Authlayer-Error-Page in any spelling is removed before the app, on a
// public path, a protected one and an excluded one.
func TestErrorPageMarkerNeverReachesTheAppThroughTraefik(t *testing.T) {
	s := start(t, traefikrun.Options{})
	app := newEchoApp(t)
	s.deployWith(t, sites{
		"marker": m{"routes": m{"protected": testkit.List("/account"), "excluded": testkit.List("/static")}, "errorPages": m{"forbidden": "/errors/echo.html"}},
	}, app.routeTo("marker"))
	tok := fakebackend.Token("pages-marker-e2e")
	s.be.SetUser(tok, fakebackend.UserData("u-marker", "user", nil))
	for _, target := range []string{"/", "/account", "/static/app.js"} {
		rq := page("marker", target).Cookie(testkit.UserCookie, tok)
		rq.RawKeys = map[string]string{
			"X-Authlayer-Error-Page": "1", "x_authlayer_error_page": "1", "X.Authlayer.Error.Page": "1", "X-AUTHLAYER-ERROR~PAGE": "1",
		}
		id := strings.TrimSpace(fmt.Sprint(s.up.LastID() + 1))
		r := s.do(t, rq)
		if r.Code != http.StatusOK {
			t.Fatalf("%s: %d %q", target, r.Code, r.Body)
		}
		app.mu.Lock()
		got := app.forwarded[id]
		app.mu.Unlock()
		if got == nil {
			t.Fatalf("%s: the app did not record the request", target)
		}
		for k := range got {
			if testkit.NormHeader(k) == "x-authlayer-error-page" {
				t.Errorf("%s: the app received %s", target, k)
			}
		}
	}
}

// TestForbiddenPageSignOutThroughTraefik: the built-in 403 page's form is
// allowed by its own CSP, and submitting it signs out and lands on the
// login page, which carries the denied page to come back to.
func TestForbiddenPageSignOutThroughTraefik(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"switch": m{
		"routes":    m{"roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}}, "authOnly": testkit.List("/login")},
		"endpoints": m{"logout": "/auth/logout"},
	}})
	tok := fakebackend.Token("pages-switch-e2e")
	s.be.SetUser(tok, fakebackend.UserData("u-switch", "user", nil))
	r := s.do(t, page("switch", "/admin/reports?year=2026").Cookie(testkit.UserCookie, tok))
	if r.Code != http.StatusForbidden || r.Header.Get("Content-Security-Policy") != formCSP {
		t.Fatalf("403 page: %d, CSP %q, want %q", r.Code, r.Header.Get("Content-Security-Policy"), formCSP)
	}
	_, rest, ok := strings.Cut(r.Body, `<form method="post" action="`)
	action, _, _ := strings.Cut(rest, `"`)
	if !ok {
		t.Fatalf("no sign-out form: %s", r.Body)
	}
	out := s.do(t, page("switch", html.UnescapeString(action)).With(http.MethodPost).Cookie(testkit.UserCookie, tok).
		WithBody("application/x-www-form-urlencoded", "x=1").WithHeader("Sec-Fetch-Site", "same-origin"))
	loc := out.Header.Get("Location")
	if out.Code != http.StatusSeeOther || loc != "/login?redirect=%2Fadmin%2Freports%3Fyear%3D2026" {
		t.Fatalf("sign-out: %d Location %q", out.Code, loc)
	}
	testkit.WantCookieCleared(t, out, testkit.UserCookie)
	u, _ := url.Parse(loc)
	if u.Query().Get("redirect") != "/admin/reports?year=2026" {
		t.Errorf("the login page's way back: %q", u.Query().Get("redirect"))
	}
	// The login page is served to the signed-out browser (no cookie).
	testkit.WantForwarded(t, s.do(t, page("switch", loc)))
}

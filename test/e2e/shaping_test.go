package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Request shaping through a real Traefik: error pages (built-in, file:
// and fetched from the app), routes.blockBrowserApi and
// methodOverride. The app here is an upstream of the test's own that
// records the method, request line, headers and body it receives (by
// X-Test-Id) and serves /errors/* pages.

const builtinCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type seen struct {
	method, uri, body string
	length            int64
	header            http.Header
}

type shapingApp struct {
	srv  *httptest.Server
	mu   sync.Mutex
	byID map[string]*seen
	// pages: the /errors/* fetches, as "METHOD request-line".
	pages       []string
	pageHeaders []http.Header
}

func newShapingApp(t *testing.T) *shapingApp {
	a := &shapingApp{byID: map[string]*seen{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/errors/") {
			a.pages = append(a.pages, r.Method+" "+r.RequestURI)
			a.pageHeaders = append(a.pageHeaders, r.Header.Clone())
			if r.URL.Path == "/errors/missing.html" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<h1>app page "+r.URL.Path+"</h1>")
			return
		}
		a.byID[r.Header.Get(testkit.HeaderTestID)] = &seen{method: r.Method, uri: r.RequestURI, body: string(b), length: r.ContentLength, header: r.Header.Clone()}
		_, _ = io.WriteString(w, testkit.UpstreamBody)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *shapingApp) got(id string) *seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byID[id]
}

func (a *shapingApp) pageFetches() ([]string, []http.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.pages...), append([]http.Header(nil), a.pageHeaders...)
}

// routeTo sends the routers of these sites to the app's service.
func (a *shapingApp) routeTo(names ...string) m {
	routers := m{}
	for _, n := range names {
		routers[n] = m{"service": "shaping"}
	}
	return m{
		"routers":  routers,
		"services": m{"shaping": m{"loadBalancer": m{"servers": []interface{}{m{"url": a.srv.URL}}}}},
	}
}

// sendBody sends method target to site with a body and extra raw headers,
// and returns the answer and what the app saw.
func (s *suite) sendBody(t *testing.T, a *shapingApp, site, method, target, ctype, body string, headers map[string]string) (*testkit.Result, *seen) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.tr.URL+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = site + ".test"
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header[k] = append(req.Header[k], v)
	}
	id := s.up.NewID()
	req.Header.Set(testkit.HeaderTestID, id)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &testkit.Result{Code: resp.StatusCode, Header: resp.Header, Body: string(b)}, a.got(id)
}

// TestShapingErrorPages: the built-in page, a file: page and a page
// fetched from the app through Traefik's own proxy (the request line
// names the page, not the refused path; the fetch carries no cookie), the
// 429 page; API clients keep JSON.
func TestShapingErrorPages(t *testing.T) {
	s := start(t, traefikrun.Options{})
	app := newShapingApp(t)
	file := filepath.Join(t.TempDir(), "403.html")
	if err := os.WriteFile(file, []byte("<h1>file page</h1>"), 0o644); err != nil { //nolint:gosec // read by Traefik's process
		t.Fatal(err)
	}
	roles := m{"roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}}, "protected": testkit.List("/account")}
	s.deployWith(t, sites{
		"builtin": m{"routes": roles},
		"file":    m{"routes": roles, "errorPages": m{"forbidden": "file:" + file}},
		"fetched": m{"routes": roles, "errorPages": m{"forbidden": "/errors/403.html?v=1", "unavailable": "/errors/missing.html"}},
		"limited": m{"rateLimit": m{"enabled": "true", "requests": "1", "window": "1h"}, "errorPages": m{"tooManyRequests": "/errors/429.html"}},
	}, app.routeTo("fetched", "limited"))
	tok := fakebackend.Token("pages-e2e")
	s.be.SetUser(tok, fakebackend.UserData("u-pages", "user", nil))
	down := fakebackend.Token("pages-e2e-down")
	s.be.SetValidate(down, fakebackend.Status(http.StatusInternalServerError))

	t.Run("built-in", func(t *testing.T) {
		r := s.do(t, page("builtin", "/admin/x?y=1").Cookie(testkit.UserCookie, tok))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusForbidden || r.Header.Get("Content-Security-Policy") != builtinCSP ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Body, "Access denied") ||
			!strings.Contains(r.Body, `href="/"`) || strings.Contains(r.Body, `href="/login`) {
			// Home, and no login link: the login page is auth-only for a
			// signed-in user and would bounce back (no endpoints.logout here).
			t.Errorf("403 page: %d %v %s", r.Code, r.Header, r.Body)
		}
		testkit.WantNoStore(t, r)
		r = s.do(t, api("builtin", "/admin/x").Cookie(testkit.UserCookie, tok))
		if r.Code != http.StatusForbidden || r.Body != `{"success":false,"message":"Forbidden"}` {
			t.Errorf("API 403: %d %q", r.Code, r.Body)
		}
		r = s.do(t, page("builtin", "/account").Cookie(testkit.UserCookie, down))
		if r.Code != http.StatusServiceUnavailable || !strings.Contains(r.Body, "Try again") || strings.Contains(r.Body, down) {
			t.Errorf("503 page: %d %s", r.Code, r.Body)
		}
	})

	t.Run("file", func(t *testing.T) {
		r := s.do(t, page("file", "/admin").Cookie(testkit.UserCookie, tok))
		if r.Code != http.StatusForbidden || r.Body != "<h1>file page</h1>" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("file page: %d %q", r.Code, r.Body)
		}
		testkit.WantNoStore(t, r)
	})

	t.Run("fetched from the app", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			r := s.do(t, page("fetched", "/admin/secret?token=abc").Cookie(testkit.UserCookie, tok).WithHeader("Accept-Language", "tr"))
			if r.Code != http.StatusForbidden || r.Body != "<h1>app page /errors/403.html</h1>" {
				t.Fatalf("fetched page %d: %d %q", i, r.Code, r.Body)
			}
			testkit.WantNoStore(t, r)
		}
		pages, headers := app.pageFetches()
		if len(pages) != 1 || pages[0] != "GET /errors/403.html?v=1" {
			t.Fatalf("fetches: %q, want one GET /errors/403.html?v=1", pages)
		}
		h := headers[0]
		if h.Get("Cookie") != "" || h.Get("Authorization") != "" || h.Get(testkit.HeaderUser) != "" || h.Get("Accept-Language") != "" {
			t.Errorf("the fetch's headers: %v", h)
		}
		if r := s.do(t, page("fetched", "/admin").Cookie(testkit.UserCookie, tok)); r.Header.Get("Content-Security-Policy") != pageCSP ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("the fetched page's headers: %v", r.Header)
		}
		// The app's 404 for the 503 page: the built-in page.
		r := s.do(t, page("fetched", "/account").Cookie(testkit.UserCookie, down))
		if r.Code != http.StatusServiceUnavailable || r.Header.Get("Content-Security-Policy") != builtinCSP {
			t.Errorf("503 with a missing app page: %d %v %s", r.Code, r.Header, r.Body)
		}
	})

	t.Run("429", func(t *testing.T) {
		if r := s.do(t, page("limited", "/")); r.Code != http.StatusOK || r.Body != testkit.UpstreamBody {
			t.Fatalf("first request: %d %q", r.Code, r.Body)
		}
		r := s.do(t, page("limited", "/"))
		if r.Code != http.StatusTooManyRequests || r.Body != "<h1>app page /errors/429.html</h1>" ||
			r.Header.Get("Retry-After") == "" || r.Header.Get("X-Ratelimit-Remaining") != "0" {
			t.Errorf("429 page: %d %v %q", r.Code, r.Header, r.Body)
		}
		r = s.do(t, api("limited", "/"))
		want := fmt.Sprintf(`{"success":false,"message":"Too many requests. Please try again later.","retryAfter":%s}`, r.Header.Get("Retry-After"))
		if r.Code != http.StatusTooManyRequests || r.Body != want {
			t.Errorf("API 429: %d %q, want %s", r.Code, r.Body, want)
		}
	})
}

// TestShapingBlockBrowserAPI: a browser's navigation to an API path goes
// home; a script's request passes.
func TestShapingBlockBrowserAPI(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"nav": m{"routes": m{"blockBrowserApi": "true", "homeUrl": "/welcome"}}})
	before := s.be.Total()
	r := s.do(t, page("nav", "/api/orders").WithHeader("Sec-Fetch-Mode", "navigate"))
	testkit.WantNotForwarded(t, r)
	if r.Code != http.StatusFound || r.Header.Get("Location") != "/welcome" {
		t.Errorf("navigation: %d Location %q", r.Code, r.Header.Get("Location"))
	}
	testkit.WantBackendUntouched(t, s.be, before)
	testkit.WantAnonymous(t, s.do(t, page("nav", "/api/orders").WithHeader("Sec-Fetch-Mode", "cors")))
	testkit.WantAnonymous(t, s.do(t, api("nav", "/api/orders")))
}

// TestShapingMethodOverride: through Traefik's proxy the app receives
// authlayer's override only: the client's headers (aliases included) and
// _method parameters are gone from the request line Traefik forwards;
// bodies are rewritten with a correct Content-Length; 413 beyond the cap.
func TestShapingMethodOverride(t *testing.T) {
	s := start(t, traefikrun.Options{})
	app := newShapingApp(t)
	s.deployWith(t, sites{
		"hdr":  m{"methodOverride": m{"mode": "header"}},
		"body": m{"methodOverride": m{"mode": "body", "maxBodyBytes": "100"}},
		"bodx": m{"methodOverride": m{"mode": "body"}},
	}, app.routeTo("hdr", "body", "bodx"))
	forged := map[string]string{
		"X-Http-Method-Override": "GET", "X-Http-Method": "GET", "X-Method-Override": "GET",
		"X_HTTP_METHOD_OVERRIDE": "GET", "x.http.method.override": "GET",
	}
	wantOnly := func(t *testing.T, got *seen, want string) {
		t.Helper()
		for k, vs := range got.header {
			n := testkit.NormHeader(k)
			if (n == "x-http-method-override" || n == "x-http-method" || n == "x-method-override") &&
				(want == "" || k != "X-Http-Method-Override" || len(vs) != 1 || vs[0] != want) {
				t.Errorf("the app received %s: %q (want only X-Http-Method-Override %q)", k, vs, want)
			}
		}
		if want != "" && got.header.Get("X-Http-Method-Override") != want {
			t.Errorf("X-Http-Method-Override: %q, want %q", got.header.Get("X-Http-Method-Override"), want)
		}
	}

	t.Run("header mode", func(t *testing.T) {
		r, got := s.sendBody(t, app, "hdr", http.MethodDelete, "/api/items/7?a=1&_method=GET;_method=PUT", "application/json", `{"x":1}`, forged)
		if r.Code != http.StatusOK || got == nil || got.method != http.MethodPost || got.body != `{"x":1}` {
			t.Fatalf("DELETE: %d, app saw %+v", r.Code, got)
		}
		if got.uri != "/api/items/7?a=1" {
			t.Errorf("request line at the app: %q, want /api/items/7?a=1", got.uri)
		}
		wantOnly(t, got, http.MethodDelete)
		r, got = s.sendBody(t, app, "hdr", http.MethodGet, "/items?_method=DELETE&%5Fmethod=DELETE&b=2", "", "", forged)
		if r.Code != http.StatusOK || got == nil || got.method != http.MethodGet || got.uri != "/items?b=2" {
			t.Fatalf("GET with overrides: %d, app saw %+v", r.Code, got)
		}
		wantOnly(t, got, "")
	})

	t.Run("body mode", func(t *testing.T) {
		for _, tc := range []struct {
			method, ctype, body, want, header string
		}{
			{http.MethodPut, "application/json", `{"_method":"GET","a":1}`, `{"_method":"PUT","a":1}`, ""},
			{http.MethodPatch, "application/x-www-form-urlencoded", "a=1&_method=GET", "a=1&_method=PATCH", ""},
			{http.MethodDelete, "", "", "_method=DELETE", ""},
			{http.MethodPut, "text/csv", "a,b", "a,b", http.MethodPut},
			{http.MethodPost, "application/json", `{"_method":"DELETE"}`, `{}`, ""},
		} {
			r, got := s.sendBody(t, app, "body", tc.method, "/items", tc.ctype, tc.body, forged)
			if r.Code != http.StatusOK || got == nil || got.method != http.MethodPost {
				t.Fatalf("%s %s: %d, app saw %+v", tc.method, tc.ctype, r.Code, got)
			}
			if got.body != tc.want || got.length != int64(len(tc.want)) {
				t.Errorf("%s %s: app got %q (Content-Length %d), want %q", tc.method, tc.ctype, got.body, got.length, tc.want)
			}
			wantOnly(t, got, tc.header)
		}
		r, got := s.sendBody(t, app, "body", http.MethodPut, "/items", "application/json", `{"a":"`+strings.Repeat("x", 200)+`"}`, nil)
		if r.Code != http.StatusRequestEntityTooLarge || got != nil {
			t.Errorf("over the cap: %d, forwarded %v", r.Code, got != nil)
		}
	})

	// Bodies frameworks read _method from in other types and spellings:
	// cleaned (a multipart body rebuilt, its length right through
	// Traefik's proxy) or refused before the app.
	t.Run("body mode, every reading", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = io.WriteString(zw, `{"_method":"SMUGGLED"}`)
		_ = zw.Close()
		part := func(name, value string) string {
			return "--b0\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
		}
		multi := part("_method", "SMUGGLED") + part("title", "hello") + "--b0--\r\n"
		for _, tc := range []struct {
			method, ctype, encoding, body string
			status                        int
		}{
			{http.MethodPost, "application/json", "", "\xef\xbb\xbf{\"_method\":\"SMUGGLED\",\"a\":1}", http.StatusOK},
			{http.MethodPost, "text/json", "", `{"_method":"SMUGGLED"}`, http.StatusOK},
			{http.MethodPost, "application/x-www-form-urlencoded; charset=UTF-8", "", "a=1&_method%00=SMUGGLED", http.StatusOK},
			{http.MethodPost, "", "", "_method=SMUGGLED&a=1", http.StatusOK},
			{http.MethodPost, "multipart/form-data; boundary=b0", "", multi, http.StatusOK},
			{http.MethodDelete, "multipart/form-data; boundary=b0", "", multi, http.StatusOK},
			{http.MethodPost, "application/json", "gzip", gz.String(), http.StatusUnsupportedMediaType},
			{http.MethodPost, "application/x-www-form-urlencoded; charset=utf-16", "", "a=1", http.StatusUnsupportedMediaType},
			{http.MethodPost, "application/json5", "", `{_method: 'SMUGGLED'}`, http.StatusBadRequest},
			{http.MethodPost, "multipart/mixed; boundary=b0", "", multi, http.StatusUnsupportedMediaType},
		} {
			var extra map[string]string
			if tc.encoding != "" {
				extra = map[string]string{"Content-Encoding": tc.encoding}
			}
			desc := tc.method + " " + tc.ctype + " " + tc.encoding
			r, got := s.sendBody(t, app, "bodx", tc.method, "/items", tc.ctype, tc.body, extra)
			if r.Code != tc.status {
				t.Errorf("%s: %d %q, want %d", desc, r.Code, r.Body, tc.status)
				continue
			}
			if tc.status != http.StatusOK {
				if got != nil || !strings.Contains(r.Body, `"success":false`) {
					t.Errorf("%s: refused %d but forwarded (%v) or not JSON: %q", desc, r.Code, got != nil, r.Body)
				}
				continue
			}
			if got == nil || got.method != http.MethodPost || strings.Contains(got.body, "SMUGGLED") || got.length != int64(len(got.body)) {
				t.Errorf("%s: the app saw %+v", desc, got)
				continue
			}
			if strings.HasPrefix(tc.ctype, "multipart/") {
				_, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
				if err != nil {
					t.Fatalf("%s: the app's Content-Type %q: %v", desc, got.header.Get("Content-Type"), err)
				}
				form, err := multipart.NewReader(strings.NewReader(got.body), params["boundary"]).ReadForm(1 << 20)
				if err != nil || len(form.Value["title"]) != 1 || form.Value["title"][0] != "hello" {
					t.Errorf("%s: the app's form: %v %v", desc, form, err)
					continue
				}
				if want := map[string][]string{http.MethodPost: nil, http.MethodDelete: {"DELETE"}}[tc.method]; fmt.Sprint(form.Value["_method"]) != fmt.Sprint(want) {
					t.Errorf("%s: the app's _method %q, want %q", desc, form.Value["_method"], want)
				}
			}
		}
	})
}

package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/internal/csrf"
)

const testCSRFSecret = "0123456789abcdef0123456789abcdef-test"

func csrfMiddleware(t *testing.T, f *fakeBackend, reportOnly bool) (http.Handler, *upstream) {
	return newTestMiddleware(t, f, func(c *Config) {
		c.CSRF.Enabled, c.CSRF.Secret, c.CSRF.ReportOnly = true, testCSRFSecret, reportOnly
	})
}

func post(path string, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("a=1"))
	req.Header.Set("Accept", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// csrfCookieFrom returns the __csrf cookie a response set.
func csrfCookieFrom(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: rec.Header()}).Cookies() {
		if c.Name == "__csrf" {
			return c
		}
	}
	t.Fatalf("no __csrf cookie in %q", rec.Header()["Set-Cookie"])
	return nil
}

func TestCSRFCrossSiteRejectedBeforeAnyBackendCall(t *testing.T) {
	f := newFakeBackend(t)
	h, up := csrfMiddleware(t, f, false)
	req := post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c1"})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := serve(h, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"CSRF validation failed"`) {
		t.Errorf("cross-site POST: %d %s", rec.Code, rec.Body.String())
	}
	if up.calls != 0 || f.validates.Load() != 0 || f.mints.Load() != 0 {
		t.Errorf("upstream %d, validations %d, mints %d: want none", up.calls, f.validates.Load(), f.mints.Load())
	}
	req = post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c1"})
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := serve(h, req); rec.Code != http.StatusOK {
		t.Errorf("same-origin POST: %d", rec.Code)
	}
}

func TestCSRFDoubleSubmitTokenBoundToSession(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := csrfMiddleware(t, f, false)
	user := &http.Cookie{Name: "userToken", Value: "user-c2"}
	first := serve(h, page("/", user))
	token := csrfCookieFrom(t, first)
	again := serve(h, page("/", user, token))
	for _, c := range again.Header()["Set-Cookie"] {
		if strings.HasPrefix(c, "__csrf=") {
			t.Errorf("a valid token was rotated: %q", c)
		}
	}
	// No Fetch Metadata and no Origin (an old client): the token decides.
	withHeader := post("/api/orders", user, token)
	withHeader.Header.Set("X-CSRF-Token", token.Value)
	if rec := serve(h, withHeader); rec.Code != http.StatusOK {
		t.Errorf("POST with the session's token: %d %s", rec.Code, rec.Body.String())
	}
	if rec := serve(h, post("/api/orders", user, token)); rec.Code != http.StatusForbidden {
		t.Errorf("POST without the header: %d, want 403", rec.Code)
	}
	other := post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c3"}, token)
	other.Header.Set("X-CSRF-Token", token.Value)
	if rec := serve(h, other); rec.Code != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", rec.Code)
	}
}

func TestCSRFGuestsGetATokenAndReportOnlyForwards(t *testing.T) {
	f := newFakeBackend(t)
	h, up := csrfMiddleware(t, f, true)
	rec := serve(h, page("/"))
	csrfCookieFrom(t, rec)
	req := post("/api/orders")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := serve(h, req); rec.Code != http.StatusOK || up.calls != 2 {
		t.Errorf("report-only: %d, upstream calls %d; want it forwarded", rec.Code, up.calls)
	}
}

func TestCSRFCookieNameMustNotBeATokenCookie(t *testing.T) {
	c := validConfig()
	c.CSRF.Enabled, c.CSRF.Secret, c.CSRF.CookieName = true, testCSRFSecret, "userToken"
	if _, err := New(context.Background(), http.NotFoundHandler(), c, "t"); err == nil || !strings.Contains(err.Error(), "csrf.cookieName:") {
		t.Errorf("error = %v, want one naming csrf.cookieName", err)
	}
}

// TestCSRFOptionsReachTheGuard: compileCSRF hands every csrf.* option to
// the guard, with authlayer's own readings of cookie names, paths and
// header keys (an exempt path is matched canonically; an override header
// spelled with "~", which only normalizeHeaderName folds, still counts).
func TestCSRFOptionsReachTheGuard(t *testing.T) {
	c := validConfig()
	c.CSRF = CSRFConfig{
		Enabled: true, Secret: testCSRFSecret, CookieName: "__Host-xsrf", HeaderName: "x-xsrf",
		TrustedOrigins: []string{"https://partner.example"}, ExemptPaths: []string{"/hooks/in/"},
		TrustSameSite: true, ReportOnly: true,
	}
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	g := s.csrf
	if g == nil || g.CookieName != "__Host-xsrf" || !g.ReportOnly {
		t.Fatalf("guard %+v: want cookie __Host-xsrf, report-only", g)
	}
	for _, tc := range []struct {
		desc, method, target string
		h                    http.Header
		want                 csrf.Verdict
	}{
		{"trusted origin", http.MethodPost, "/x", http.Header{"Origin": {"https://partner.example"}}, csrf.Pass},
		{"trustSameSite", http.MethodPost, "/x", http.Header{"Sec-Fetch-Site": {"same-site"}}, csrf.Pass},
		{"exempt path, canonical", http.MethodPost, "/hooks//in", http.Header{"Sec-Fetch-Site": {"cross-site"}}, csrf.Pass},
		{"override header with ~", http.MethodGet, "/x", http.Header{"Sec-Fetch-Site": {"cross-site"}, "X~http~method": {"DELETE"}}, csrf.Reject},
		{"control: cross-site POST", http.MethodPost, "/x", http.Header{"Sec-Fetch-Site": {"cross-site"}}, csrf.Reject},
	} {
		req := httptest.NewRequest(tc.method, tc.target, nil)
		for k, v := range tc.h {
			req.Header[k] = v
		}
		if got, reason := csrf.Early(g, req, canonicalPath(req.URL.Path)); got != tc.want {
			t.Errorf("%s: verdict %d (%s), want %d", tc.desc, got, reason, tc.want)
		}
	}
	tok := csrf.Issue(g, httptest.NewRequest(http.MethodGet, "/", nil), "")
	if !strings.HasPrefix(tok, "__Host-xsrf=") || !strings.Contains(tok, "; Secure") {
		t.Errorf("issued %q: want the configured name, Secure (cookies.secure)", tok)
	}
	c.CSRF.Enabled = false
	if s, err := compileSettings(c); err != nil || s.csrf != nil {
		t.Errorf("disabled: guard %v, error %v; want neither", s.csrf, err)
	}
}

// TestCSRFOptionErrorsFromNew: New refuses a bad csrf.* option naming it.
func TestCSRFOptionErrorsFromNew(t *testing.T) {
	for _, tc := range []struct {
		option string
		mutate func(*CSRFConfig)
	}{
		{"csrf.secret", func(c *CSRFConfig) { c.Secret = "short" }},
		{"csrf.cookieName", func(c *CSRFConfig) { c.CookieName = "a b" }},
		{"csrf.headerName", func(c *CSRFConfig) { c.HeaderName = "Accept" }},
		{"csrf.trustedOrigins", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://x.example/path"} }},
		{"csrf.exemptPaths", func(c *CSRFConfig) { c.ExemptPaths = []string{"/hooks/*"} }},
	} {
		c := validConfig()
		c.CSRF.Enabled, c.CSRF.Secret = true, testCSRFSecret
		tc.mutate(&c.CSRF)
		if _, err := New(context.Background(), http.NotFoundHandler(), c, "t"); err == nil || !strings.HasPrefix(err.Error(), "authlayer: "+tc.option+": ") {
			t.Errorf("%s: error %v, want one naming it", tc.option, err)
		}
	}
}

// TestCSRFOverrideSpellingsThroughTheFlow: a remembered session's
// cross-site GET that spells _method as PHP reads it is refused, not
// forwarded.
func TestCSRFOverrideSpellingsThroughTheFlow(t *testing.T) {
	f := newFakeBackend(t)
	h, up := csrfMiddleware(t, f, false)
	user := &http.Cookie{Name: "userToken", Value: "user-c4"}
	token := csrfCookieFrom(t, serve(h, page("/", user)))
	for _, q := range []string{"_method%00=DELETE", "%EF%BB%BF_method=DELETE", "_method=DELETE"} {
		req := page("/account?"+q, user, token)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		calls := up.calls
		if rec := serve(h, req); rec.Code != http.StatusForbidden || up.calls != calls {
			t.Errorf("cross-site GET ?%s: %d, forwarded %d; want 403, not forwarded", q, rec.Code, up.calls-calls)
		}
	}
	req := page("/account?_method%00=GET", user, token)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := serve(h, req); rec.Code != http.StatusOK {
		t.Errorf("control: cross-site GET ?_method%%00=GET: %d, want 200", rec.Code)
	}
}

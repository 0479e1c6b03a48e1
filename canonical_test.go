package authlayer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := map[string]string{
		"":                          "/",
		"/":                         "/",
		"//dashboard":               "/dashboard",
		"/a/../dashboard":           "/dashboard",
		"/public/../dashboard/":     "/dashboard",
		"/./dashboard/.":            "/dashboard",
		"dashboard":                 "/dashboard",
		"/dashboard;jsessionid=1/x": "/dashboard/x",
		"/public;/../admin":         "/admin",
	}
	for in, want := range tests {
		if got := canonicalPath(in); got != want {
			t.Errorf("canonicalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAmbiguousPaths(t *testing.T) {
	tests := []struct {
		target    string
		ambiguous bool
	}{
		{"/dashboard", false},
		{"/a%20b", false},
		{"/caf%C3%A9", false},
		{"/admin%2Fsecret", true},
		{"/admin%2fsecret", true},
		{"/admin%5Csecret", true},
		{"/admin%00", true},
		{"/admin%0A", true},
		{"/admin%252F", true},
		{"/admin%3Bx", true},
		{"/admin%3Fx", true},
		{"/admin%23x", true},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if got := ambiguousPath(req.URL.Path, req.URL.RawPath); got != tc.ambiguous {
			t.Errorf("ambiguousPath(%q) = %v, want %v", tc.target, got, tc.ambiguous)
		}
	}
}

func TestAmbiguousPathIsRejectedOrProtected(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Routes.Public = []string{"/docs/public"} })
	for _, target := range []string{"/docs%2Fpublic", "/dashboard%2F..%2F", "/docs/public%00"} {
		rec := serve(h, page(target))
		if rec.Code != http.StatusBadRequest || up.calls != 0 {
			t.Errorf("%s: status %d, upstream calls %d; want 400 and no call", target, rec.Code, up.calls)
		}
	}
	h, up = newTestMiddleware(t, f, func(c *Config) {
		c.Routes.AmbiguousPaths = "protect"
		c.Guest.Enabled = false
	})
	rec := serve(h, page("/files/a%2Fb.txt"))
	if rec.Code != http.StatusFound || up.calls != 0 {
		t.Errorf("protect mode, anonymous: status %d, upstream calls %d; want a login redirect", rec.Code, up.calls)
	}
	rec = serve(h, page("/files/a%2Fb.txt", &http.Cookie{Name: "userToken", Value: "user-1"}))
	if rec.Code != http.StatusOK || up.calls != 1 {
		t.Errorf("protect mode, logged in: status %d, upstream calls %d; want it served", rec.Code, up.calls)
	}
}

func TestMatrixParamsDoNotEscapeProtection(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Guest.Enabled = false })
	for _, target := range []string{"/dashboard;x=1", "/DASHBOARD/", "//dashboard", "/static/../dashboard", "/dashboard/./"} {
		rec := serve(h, page(target))
		if rec.Code != http.StatusFound || up.calls != 0 {
			t.Errorf("%s: status %d, upstream calls %d; want the login redirect", target, rec.Code, up.calls)
		}
	}
}

func TestOverlongPathIsRefused(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	rec := serve(h, page("/public"+strings.Repeat("/a", 3000)))
	if rec.Code != http.StatusBadRequest || up.calls != 0 {
		t.Errorf("a 6 KiB path: status %d, upstream calls %d; want 400", rec.Code, up.calls)
	}
}

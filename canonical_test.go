package authlayer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := map[string]string{
		"":                      "/",
		"/":                     "/",
		"//dashboard":           "/dashboard",
		"/a/../dashboard":       "/dashboard",
		"/public/../dashboard/": "/dashboard",
		"/./dashboard/.":        "/dashboard",
		"dashboard":             "/dashboard",
		"/public;/../admin":     "/admin",
		// The literal reading: parameters stay, and a segment with
		// parameters is a name, never a dot segment (Go, Node, nginx).
		"/dashboard;jsessionid=1/x":  "/dashboard;jsessionid=1/x",
		"/dashboard/..;/":            "/dashboard/..;",
		"/dashboard/.;/x":            "/dashboard/.;/x",
		"/admin/..;jsessionid=1/x/.": "/admin/..;jsessionid=1/x",
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

// dotParamTargets are dot segments with parameters: ".." or "." to a Java
// servlet container, a plain name to Go, Node and nginx.
var dotParamTargets = []string{
	"/dashboard/..;/",
	"/dashboard/..;",
	"/dashboard/..;x=1/",
	"/dashboard/..;jsessionid=1/static/app.js",
	"/dashboard/..;/static/app.js",
	"/dashboard/%2e%2e;/static/app.js",
	"/dashboard/%2E%2E;/",
	"/dashboard/.%2e;/static/app.js",
	"/dashboard/.;/x",
	"/.;/dashboard",
	"/DASHBOARD/..;/",
	"/Dashboard/..;/static",
	"/admin/..;/x",
	"/Admin/..;/x",
	"/admin/%2e%2e;/x",
	"/static/..;/dashboard",
	"/x/..;/admin",
	"/x/y/..;/..;/dashboard",
}

// TestDotSegmentsWithParamsAreRejected: by default such a path is refused
// with 400 before any backend call, for a guest and a logged-in user
// alike, and never reaches the app.
func TestDotSegmentsWithParamsAreRejected(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	for _, target := range dotParamTargets {
		for _, who := range []string{"guest", "user-1"} {
			req := page(target)
			if who != "guest" {
				req = page(target, &http.Cookie{Name: "userToken", Value: who})
			}
			up.calls = 0
			validations, mints := f.validates.Load(), f.mints.Load()
			rec := serve(h, req)
			if rec.Code != http.StatusBadRequest || up.calls != 0 {
				t.Errorf("%s as %s: status %d, upstream calls %d; want 400 and no call", target, who, rec.Code, up.calls)
			}
			if f.validates.Load() != validations || f.mints.Load() != mints {
				t.Errorf("%s as %s: the backend was called", target, who)
			}
		}
	}
}

// TestDotSegmentsWithParamsProtect: with routes.ambiguousPaths=protect
// such a path is at least protected, and a role rule under any reading
// applies.
func TestDotSegmentsWithParamsProtect(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Routes.AmbiguousPaths = "protect" })
	user := &http.Cookie{Name: "userToken", Value: "user-1"}
	admin := &http.Cookie{Name: "userToken", Value: "user-admin"}
	for _, target := range dotParamTargets {
		up.calls = 0
		rec := serve(h, page(target))
		if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/login?") || up.calls != 0 {
			t.Errorf("%s as a guest: status %d Location %q, upstream calls %d; want the login redirect", target, rec.Code, rec.Header().Get("Location"), up.calls)
		}
	}
	for _, target := range []string{"/admin/..;/x", "/Admin/..;/x", "/ADMIN/%2e%2e;/x", "/admin/.%2E;/x", "/x/..;/admin", "/admin/..;jsessionid=1/"} {
		up.calls = 0
		if rec := serve(h, page(target, user)); rec.Code != http.StatusForbidden || up.calls != 0 {
			t.Errorf("%s as a non-admin: status %d, upstream calls %d; want 403", target, rec.Code, up.calls)
		}
		if rec := serve(h, page(target, admin)); rec.Code != http.StatusOK || up.calls != 1 {
			t.Errorf("%s as an admin: status %d, upstream calls %d; want it served", target, rec.Code, up.calls)
		}
	}
	// Not excluded under any reading: the user's identity reaches the app.
	up.calls = 0
	if rec := serve(h, page("/dashboard/..;/static/app.js", user)); rec.Code != http.StatusOK || up.calls != 1 || up.headers.Get("X-Auth-User-Id") != "1" {
		t.Errorf("/dashboard/..;/static/app.js as a user: status %d, calls %d, user id %q; want it served through authlayer",
			rec.Code, up.calls, up.headers.Get("X-Auth-User-Id"))
	}
}

// TestParamsTakeTheStricterReading: a path with parameters but no dot
// segment among them is decided as the stricter of its literal reading and
// its reading with parameters dropped; benign parameters still work.
func TestParamsTakeTheStricterReading(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) {
		c.Guest.Enabled = false
		c.Routes.Public = []string{"/public"}
	})
	user := &http.Cookie{Name: "userToken", Value: "user-1"}
	for _, target := range []string{
		"/dashboard/;x/../static/app.js", // Go: /dashboard/static/app.js; Java: /static/app.js
		"/dashboard;x=1",
		"/Dashboard;x=1/settings",
		"/static;v=1/../dashboard",
	} {
		up.calls = 0
		rec := serve(h, page(target))
		if rec.Code != http.StatusFound || up.calls != 0 {
			t.Errorf("%s anonymous: status %d, upstream calls %d; want the login redirect", target, rec.Code, up.calls)
		}
	}
	for _, target := range []string{"/admin/;x/../x", "/admin;x=1", "/x/;y/../../admin/z"} {
		up.calls = 0
		if rec := serve(h, page(target, user)); rec.Code != http.StatusForbidden || up.calls != 0 {
			t.Errorf("%s as a non-admin: status %d, upstream calls %d; want 403", target, rec.Code, up.calls)
		}
	}
	for _, target := range []string{"/public;x=1", "/public/page;jsessionid=2", "/other;x=1", "/static/app.js;v=2"} {
		up.calls = 0
		if rec := serve(h, page(target)); rec.Code != http.StatusOK || up.calls != 1 {
			t.Errorf("%s anonymous: status %d, upstream calls %d; want it served", target, rec.Code, up.calls)
		}
	}
	validations := f.validates.Load()
	req := page("/static/app.js;v=2")
	req.Header.Set("X-Auth-User", "spoofed")
	if rec := serve(h, req); rec.Code != http.StatusOK || f.validates.Load() != validations || up.headers.Get("X-Auth-User") != "" {
		t.Errorf("/static/app.js;v=2: status %d, a backend call or a spoofed header; want it excluded as before", rec.Code)
	}
}

// TestRecordedPathIsOneTheAppSaw: routeMatch.path (CSRF exemption) is the
// literal reading when every reading agrees, and otherwise a path no
// csrf.exemptPaths entry can equal (it keeps a ";" or an escape).
func TestRecordedPathIsOneTheAppSaw(t *testing.T) {
	table, err := newRouteTable(RoutesConfig{Protected: []string{"/dashboard"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target, want string
	}{
		{"/dashboard//x/./", "/dashboard/x"},
		{"/a;x/../b", "/b"}, // every reading gives /b
		{"/public;x=1", "/public;x=1"},
		{"/dashboard;x=1//a/./b", "/dashboard;x=1/a/b"},
		{"/dashboard/..;/", "/dashboard/..;"},
		{"/dashboard/%2e%2e;/", "/dashboard/..;"},
		{"/webhooks/;x/../stripe", "/webhooks/;x/../stripe"}, // Go: /webhooks/stripe; Java: /stripe
		{"/webhooks%2Fstripe", "/webhooks%2Fstripe"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		r := decideRoute(newRouteMemo(table, true, nil), req.URL.Path, req.URL.RawPath)
		if r.path != tc.want {
			t.Errorf("%s: path %q, want %q", tc.target, r.path, tc.want)
		}
	}
}

// TestCSRFExemptionNeedsEveryReading: an exempt path is exempt only when
// every reading of the request's path is that path.
func TestCSRFExemptionNeedsEveryReading(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) {
		c.CSRF.Enabled, c.CSRF.Secret = true, testCSRFSecret
		c.CSRF.ExemptPaths = []string{"/webhooks/stripe"}
	})
	for _, tc := range []struct {
		target string
		exempt bool
	}{
		{"/webhooks/stripe", true},
		{"/webhooks//stripe/", true},
		{"/webhooks/stripe;x=1", false},
		{"/webhooks;x=1/stripe", false},
		{"/webhooks/;x/../stripe", false}, // Java reads /stripe
		{"/webhooks/x/..;/stripe", false}, // ambiguous: 400
	} {
		req := httptest.NewRequest(http.MethodPost, tc.target, nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.AddCookie(&http.Cookie{Name: "userToken", Value: "user-1"})
		up.calls = 0
		rec := serve(h, req)
		if got := rec.Code == http.StatusOK && up.calls == 1; got != tc.exempt {
			t.Errorf("cross-site POST %s: status %d, upstream calls %d; exempt %v, want %v", tc.target, rec.Code, up.calls, got, tc.exempt)
		}
	}
}

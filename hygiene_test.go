package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// appSettingCookies is an app that sets its own cookies, one of them with
// an auth cookie's name, and a public cache policy.
type appSettingCookies struct{}

func (appSettingCookies) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Add("Set-Cookie", "userToken=from-the-app; Path=/")
	w.Header().Add("Set-Cookie", "theme=dark; Path=/")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.WriteHeader(http.StatusOK)
}

func TestRefreshResponseWinsOverAppCookieAndIsNotCached(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, nil)
	h.(*middleware).next = appSettingCookies{}
	rec := serve(h, page("/", &http.Cookie{Name: "userToken", Value: "expired-h"}))
	cookies := rec.Header()["Set-Cookie"]
	var user, theme int
	for _, c := range cookies {
		switch cookieNameOf(c) {
		case "userToken":
			user++
			if !strings.HasPrefix(c, "userToken=user-h;") {
				t.Errorf("the app's userToken won: %q", c)
			}
		case "theme":
			theme++
		}
	}
	if user != 1 || theme != 1 {
		t.Errorf("Set-Cookie = %q, want one userToken (authlayer's) and the app's theme", cookies)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store on a response carrying session cookies", got)
	}
}

func TestAppMaySetAuthCookieWhenAuthlayerSetsNone(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, func(c *Config) { c.Guest.Enabled = false })
	h.(*middleware).next = appSettingCookies{}
	rec := serve(h, page("/login"))
	if got := rec.Header()["Set-Cookie"]; len(got) != 2 {
		t.Errorf("a login endpoint's own cookies were touched: %q", got)
	}
}

func TestDuplicateCookieNamesAreNotTrusted(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Guest.Enabled = false })
	req := page("/dashboard")
	req.Header.Set("Cookie", "userToken=user-attacker; userToken=user-victim")
	rec := serve(h, req)
	if rec.Code != http.StatusFound || up.calls != 0 {
		t.Errorf("two different user cookies: status %d, upstream calls %d; want the login redirect", rec.Code, up.calls)
	}
	req = page("/dashboard")
	req.Header.Set("Cookie", "userToken=user-same; userToken=user-same")
	if rec := serve(h, req); rec.Code != http.StatusOK {
		t.Errorf("the same value twice is not ambiguous: status %d", rec.Code)
	}
}

func TestOversizedTokenCookieIsNeverEmitted(t *testing.T) {
	cs := cookieSettings{user: "userToken", path: "/", secure: true, sameSite: http.SameSiteLaxMode}
	if got := cs.userCookie(strings.Repeat("a", maxCookieBytes)); got != "" {
		t.Errorf("a %d-byte cookie was emitted", len(got))
	}
	if got := cs.userCookie("small"); got == "" {
		t.Error("a small cookie was refused")
	}
}

func TestHostPrefixedCookieNames(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, func(c *Config) {
		c.Cookies.User, c.Cookies.Guest, c.Cookies.Secure = "__Host-user", "__Host-guest", true
	})
	rec := serve(h, page("/", &http.Cookie{Name: "__Host-user", Value: "expired-p"}))
	got := rec.Header().Get("Set-Cookie")
	if !strings.HasPrefix(got, "__Host-user=user-p;") || !strings.Contains(got, "Secure") ||
		!strings.Contains(got, "Path=/") || strings.Contains(got, "Domain") {
		t.Errorf("__Host- cookie = %q, want Secure, Path=/ and no Domain", got)
	}
}

func TestDecisionsIgnoreClientRoutingHeaders(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) {
		c.Guest.Enabled = false
		c.Routes.Public = []string{"/public"}
	})
	req := page("/dashboard")
	for _, name := range []string{"X-Forwarded-Uri", "X-Original-Uri", "X-Original-Url", "X-Rewrite-Url"} {
		req.Header.Set(name, "/public")
	}
	req.Header.Set("X-Forwarded-Host", "public.example.com")
	req.Header.Set("Forwarded", "host=public.example.com")
	if rec := serve(h, req); rec.Code != http.StatusFound || up.calls != 0 {
		t.Errorf("routing headers changed the decision: %d, upstream calls %d", rec.Code, up.calls)
	}
}

// TestBackendCallsAreCapped: with backend.maxConcurrent=1 and one call
// held by a hung backend, a call for another token fails fast as
// unavailable instead of piling up.
func TestBackendCallsAreCapped(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer hung.Close()
	c := CreateConfig()
	c.Backend.URL, c.Backend.MaxConcurrent, c.Backend.Timeout = hung.URL, 1, "5s"
	c.Routes.Protected = []string{"/a", "/b"}
	h, err := New(context.Background(), &upstream{}, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan int)
	held := httptest.NewRequest(http.MethodGet, "/a", nil)
	held.AddCookie(&http.Cookie{Name: "userToken", Value: "one"})
	go func() { first <- serve(h, held).Code }()
	m := h.(*middleware)
	for i := 0; i < 2000 && m.state.backend.inFlight.Load() == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	req := httptest.NewRequest(http.MethodGet, "/b", nil)
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "another"})
	start := time.Now()
	if code := serve(h, req).Code; code != http.StatusServiceUnavailable {
		t.Errorf("a call over the cap: %d, want 503", code)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("a call over the cap waited %v for the hung one", waited)
	}
	close(release)
	<-first
}

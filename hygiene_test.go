package authlayer

import (
	"net/http"
	"strings"
	"testing"
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

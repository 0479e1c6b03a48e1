package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/slots"
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
	if got := userCookieValue(&cs, strings.Repeat("a", maxCookieBytes)); got != "" {
		t.Errorf("a %d-byte cookie was emitted", len(got))
	}
	if got := userCookieValue(&cs, "small"); got == "" {
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
// held by a hung backend, a call for another token waits for a slot until
// the request's deadline (backend.timeout), then fails closed with 503:
// it neither piles onto the backend nor hangs.
func TestBackendCallsAreCapped(t *testing.T) {
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notePeak(&inFlight, &peak)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer hung.Close()
	defer close(release)
	c := CreateConfig()
	c.Backend.URL, c.Backend.MaxConcurrent, c.Backend.Timeout = hung.URL, 1, "300ms"
	c.Routes.Protected = []string{"/a", "/b"}
	h, err := New(context.Background(), &upstream{}, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan int, 1)
	held := httptest.NewRequest(http.MethodGet, "/a", nil)
	held.AddCookie(&http.Cookie{Name: "userToken", Value: "one"})
	go func() { first <- serve(h, held).Code }()
	m := h.(*middleware)
	for i := 0; i < 2000 && slots.Busy(m.state.backend.slots) == 0; i++ {
		time.Sleep(time.Millisecond)
	}
	req := httptest.NewRequest(http.MethodGet, "/b", nil)
	req.RemoteAddr = "192.0.2.9:1234"
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "another"})
	start := time.Now()
	if code := serve(h, req).Code; code != http.StatusServiceUnavailable {
		t.Errorf("a call over the cap: %d, want 503", code)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("a call over the cap waited %v, past its 300ms deadline", waited)
	}
	if n := peak.Load(); n != 1 {
		t.Errorf("backend saw %d calls at once, want 1 (the cap is 1)", n)
	}
	if code := <-first; code != http.StatusServiceUnavailable {
		t.Errorf("the hung call: %d, want 503 at its deadline", code)
	}
}

// TestBurstBeyondTheCapIsServed: 40 cold sessions at once with
// backend.maxConcurrent=4 and a backend taking 20ms: every request waits
// for a slot and is served; none gets a spurious 503.
func TestBurstBeyondTheCapIsServed(t *testing.T) {
	var inFlight, peak atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notePeak(&inFlight, &peak)
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"data":{"id":"u","type":"user"}}`))
	}))
	defer slow.Close()
	c := CreateConfig()
	c.Backend.URL, c.Backend.MaxConcurrent, c.Backend.Timeout = slow.URL, 4, "10s"
	c.Routes.Protected = []string{"/x"}
	h, err := New(context.Background(), &upstream{}, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	const burst = 40
	codes := make(chan int, burst)
	for i := 0; i < burst; i++ {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.RemoteAddr = "198.51.100." + strconv.Itoa(i) + ":1000"
		req.AddCookie(&http.Cookie{Name: "userToken", Value: "tok" + strconv.Itoa(i)})
		go func(r *http.Request) { codes <- serve(h, r).Code }(req)
	}
	for i := 0; i < burst; i++ {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("request in a burst beyond the cap: %d, want 200", code)
		}
	}
	if p := peak.Load(); p > 4 {
		t.Errorf("backend saw %d calls at once, cap is 4", p)
	}
}

// notePeak counts one more call in flight and keeps the highest count.
func notePeak(inFlight, peak *atomic.Int64) {
	n := inFlight.Add(1)
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}

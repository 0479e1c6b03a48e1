package authlayer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
)

// revocableBackend validates "user-*" tokens until revoked is set.
func revocableBackend(t *testing.T, revoked *atomic.Bool, calls *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		tok := bearer(r)
		if revoked.Load() || !strings.HasPrefix(tok, "user-") {
			writeJSON(w, 401, map[string]interface{}{"success": false})
			return
		}
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{"id": tok, "type": "user"}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func memoMiddleware(t *testing.T, url string, mutate func(*Config)) *middleware {
	c := CreateConfig()
	c.Backend.URL = url
	c.Cookies.Secure = false
	c.Cache.TTL = "100ms"
	c.Routes.Protected = []string{"/dashboard"}
	if mutate != nil {
		mutate(c)
	}
	h, err := New(context.Background(), &upstream{}, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return h.(*middleware)
}

// TestSessionMemoNeverOutlivesTheValidation: the memo answers repeated
// requests without a backend call, but a revocation is seen once the
// validation's cache.ttl has passed, as without the memo.
func TestSessionMemoNeverOutlivesTheValidation(t *testing.T) {
	var revoked atomic.Bool
	var calls atomic.Int64
	m := memoMiddleware(t, revocableBackend(t, &revoked, &calls).URL, nil)
	user := &http.Cookie{Name: "userToken", Value: "user-memo"}
	for i := 0; i < 5; i++ {
		if rec := serve(m, page("/dashboard", user)); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("backend calls: %d, want 1", n)
	}
	if n := memoSize(m.state.sessions); n != 1 {
		t.Fatalf("memo entries: %d, want 1", n)
	}
	revoked.Store(true)
	time.Sleep(150 * time.Millisecond) // wall time: cache.ttl passes
	if rec := serve(m, page("/dashboard", user)); rec.Code == http.StatusOK {
		t.Fatal("a revoked session was served from the memo after its validation expired")
	}
}

// TestSessionMemoKeepsOnlySettledSessions: a refresh, a guest mint or a
// duplicate cookie is decided anew on every request.
func TestSessionMemoKeepsOnlySettledSessions(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, nil)
	m := h.(*middleware)
	serve(h, page("/", &http.Cookie{Name: "userToken", Value: "expired-m1"})) // refreshed
	serve(h, page("/"))                                                       // guest minted
	dup := page("/dashboard")
	dup.Header.Set("Cookie", "userToken=user-m2; userToken=user-m3")
	if rec := serve(h, dup); rec.Code == http.StatusOK {
		t.Fatal("a duplicated user cookie was trusted")
	}
	if n := memoSize(m.state.sessions); n != 0 {
		t.Fatalf("memo holds %d entries, want none", n)
	}
	again := page("/dashboard")
	again.Header.Set("Cookie", "userToken=user-m2; userToken=user-m3")
	if rec := serve(h, again); rec.Code == http.StatusOK {
		t.Fatal("a duplicated user cookie was trusted on a second request")
	}
}

// TestSessionMemoEntriesAreNotModified: with CSRF on, every request
// without a CSRF cookie gets one; the shared remembered session is never
// changed by it.
func TestSessionMemoEntriesAreNotModified(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, func(c *Config) {
		c.CSRF.Enabled = true
		c.CSRF.Secret = strings.Repeat("s", 32)
	})
	m := h.(*middleware)
	user := &http.Cookie{Name: "userToken", Value: "user-m4"}
	for i := 0; i < 3; i++ {
		rec := serve(h, page("/dashboard", user))
		if n := len(rec.Result().Cookies()); rec.Code != http.StatusOK || n != 1 {
			t.Fatalf("request %d: %d with %d cookies, want 200 with the CSRF cookie", i, rec.Code, n)
		}
	}
	res := memoSession(m.state.sessions, page("/dashboard", user).Header)
	if res == nil || len(res.setCookies) != 0 {
		t.Fatalf("remembered session %+v, want one with nothing to set", res)
	}
}

// TestSessionMemoIsBounded: distinct Cookie headers beyond the bound
// empty the memo instead of growing it; oversized headers are not kept.
func TestSessionMemoIsBounded(t *testing.T) {
	var revoked atomic.Bool
	var calls atomic.Int64
	m := memoMiddleware(t, revocableBackend(t, &revoked, &calls).URL, func(c *Config) { c.Cache.MaxEntries = 20 })
	for i := 0; i < 100; i++ {
		serve(m, page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-" + strconv.Itoa(i)}))
	}
	if n := memoSize(m.state.sessions); n > 20 {
		t.Fatalf("memo holds %d entries, bound is 20", n)
	}
	big := page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-big"}, &http.Cookie{Name: "pad", Value: strings.Repeat("p", 3000)})
	before := memoSize(m.state.sessions)
	serve(m, big)
	if n := memoSize(m.state.sessions); n > before {
		t.Fatal("a Cookie header over 2 KiB was kept in the memo")
	}
}

// TestRememberedSessionsStillSpendTheBudget: with rate limiting on, a
// remembered session's requests spend the request budget like any other,
// and are refused once it is spent.
func TestRememberedSessionsStillSpendTheBudget(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, rateConfig(5, 100, 100))
	user := &http.Cookie{Name: "userToken", Value: "user-rl"}
	for i := 0; i < 5; i++ {
		if rec := serve(h, from(page("/dashboard", user), "198.51.100.90")); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if rec := serve(h, from(page("/dashboard", user), "198.51.100.90")); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("sixth request: %d, want 429", rec.Code)
	}
	if up.calls != 5 || f.validates.Load() != 1 {
		t.Errorf("app saw %d requests, backend %d validations; want 5 and 1", up.calls, f.validates.Load())
	}
}

// TestRememberedSessionsStillCheckCSRF: a remembered session whose CSRF
// cookie is valid passes safe requests without CSRF work, but an unsafe
// request without the token header, or a cross-site one, is refused.
func TestRememberedSessionsStillCheckCSRF(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) {
		c.CSRF.Enabled = true
		c.CSRF.Secret = strings.Repeat("s", 32)
	})
	user := &http.Cookie{Name: "userToken", Value: "user-cs"}
	first := serve(h, page("/dashboard", user))
	var token *http.Cookie
	for _, c := range first.Result().Cookies() {
		if c.Name == "__csrf" {
			token = c
		}
	}
	if token == nil {
		t.Fatal("no CSRF cookie issued")
	}
	for i := 0; i < 3; i++ { // the memo now knows the cookie is valid
		if rec := serve(h, page("/dashboard", user, token)); rec.Code != http.StatusOK || rec.Header().Get("Set-Cookie") != "" {
			t.Fatalf("safe request %d: %d, Set-Cookie %q", i, rec.Code, rec.Header().Get("Set-Cookie"))
		}
	}
	calls := up.calls
	post := page("/dashboard", user, token)
	post.Method = http.MethodPost
	if rec := serve(h, post); rec.Code != http.StatusForbidden {
		t.Errorf("POST without the token header: %d, want 403", rec.Code)
	}
	override := page("/dashboard?_method=DELETE", user, token)
	override.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := serve(h, override); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site GET with a DELETE override: %d, want 403", rec.Code)
	}
	headerOverride := page("/dashboard", user, token)
	headerOverride.Header.Set("Sec-Fetch-Site", "cross-site")
	headerOverride.Header["X_http_method_override"] = []string{"DELETE"}
	if rec := serve(h, headerOverride); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site GET with an X_HTTP_METHOD_OVERRIDE header: %d, want 403", rec.Code)
	}
	withHeader := page("/dashboard", user, token)
	withHeader.Method = http.MethodPost
	withHeader.Header.Set("X-CSRF-Token", token.Value)
	if rec := serve(h, withHeader); rec.Code != http.StatusOK {
		t.Errorf("POST with the token header: %d, want 200", rec.Code)
	}
	if up.calls != calls+1 {
		t.Errorf("app saw %d refused requests", up.calls-calls-1)
	}
}

// memoSize reports the number of entries, for tests.
func memoSize(sm *sessionMemo) int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return len(sm.entries)
}

// TestSessionMemoRefusesALoggedOutToken: a session whose token was logged
// out while its request was in flight is neither remembered nor served
// from the validation cache afterwards, although the backend (whose logout
// did nothing) still says it is valid.
func TestSessionMemoRefusesALoggedOutToken(t *testing.T) {
	var revoked atomic.Bool
	var calls atomic.Int64
	m := memoMiddleware(t, revocableBackend(t, &revoked, &calls).URL, func(c *Config) { c.Cache.TTL = "60s" })
	user := &http.Cookie{Name: "userToken", Value: "user-memo-out-" + t.Name()}
	if rec := serve(m, page("/dashboard", user)); rec.Code != http.StatusOK {
		t.Fatalf("first request: %d", rec.Code)
	}
	markLoggedOut(user.Value, time.Time{}, time.Hour, true)
	res := &authResult{id: &identity{tokenType: "user"}, token: user.Value, loggedIn: true}
	memoForget(m.state.sessions, []string{user.Value}) // the memo as a logout leaves it
	memoRemember(m, page("/dashboard", user), res, time.Now().Add(time.Minute).UnixNano())
	if n := memoSize(m.state.sessions); n != 0 {
		t.Errorf("memo entries after remembering a logged-out session: %d, want 0", n)
	}
	// The validation cache still holds the valid answer (nothing dropped
	// it here): the cached path must check the mark too.
	if rec := serve(m, page("/dashboard", user)); rec.Code == http.StatusOK {
		t.Errorf("a logged-out token was served (%d) from the validation cache", rec.Code)
	}
}

// signedHS256 is a compact JWS of claims, signed with jwtFlowSecret.
func signedHS256(claims string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(jwtFlowSecret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestSessionMemoRemembersLocalVerdicts: a token verified here is
// remembered for its cookies by the request that verified it, while its
// verdict is cached (the flow carries the cached entry's expiry to the
// memo), and not at all with cache.ttl "0s"; either way the app gets the token's identity and the backend is
// never asked.
func TestSessionMemoRemembersLocalVerdicts(t *testing.T) {
	var calls atomic.Int64
	backend := revocableBackend(t, new(atomic.Bool), &calls)
	token := signedHS256(`{"sub":"7","type":"user","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + `}`)
	for _, tc := range []struct {
		ttl     string
		entries int
	}{{"1h", 1}, {"0s", 0}} {
		up := &upstream{}
		m := memoMiddleware(t, backend.URL, func(c *Config) {
			c.Cache.TTL = tc.ttl
			c.JWT.Enabled, c.JWT.Secret = true, jwtFlowSecret
		})
		m.next = up
		for i := 0; i < 3; i++ {
			if rec := serve(m, page("/dashboard", &http.Cookie{Name: "userToken", Value: token})); rec.Code != http.StatusOK {
				t.Fatalf("cache.ttl %s, request %d: status %d", tc.ttl, i, rec.Code)
			}
			if got := up.headers.Get("X-Auth-User-Id"); got != "7" {
				t.Fatalf("cache.ttl %s, request %d: X-Auth-User-Id %q, want 7", tc.ttl, i, got)
			}
			if n := memoSize(m.state.sessions); n != tc.entries {
				t.Fatalf("cache.ttl %s, after request %d: %d memo entries, want %d (remembered by the request that verified it)", tc.ttl, i, n, tc.entries)
			}
		}
		if tc.entries == 1 {
			_, cachedUntil, _ := cache.Lookup(m.state.validations, cache.Key(token))
			e := memoEntryFor(m.state.sessions, "userToken="+token)
			if e == nil || e.until.UnixNano() > cachedUntil {
				t.Errorf("the memo entry (%v) outlives the cached verdict (until %d)", e, cachedUntil)
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d backend calls for a locally verified token, want 0", n)
	}
}

// memoEntryFor is the memo's entry for a Cookie header, for tests.
func memoEntryFor(sm *sessionMemo, cookieHeader string) *authResult {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.entries[cookieHeader]
}

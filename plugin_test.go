package authlayer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBackend is an auth backend on loopback with call counters. Tokens
// "user-<id>" and "guest-<n>" are valid; "expired-…" is not and refreshes
// to "user-<…>"; "reuse-…" refreshes to 409; "down-…" answers 500.
type fakeBackend struct {
	srv                         *httptest.Server
	validates, refreshes, mints atomic.Int64
	mu                          sync.Mutex
	lastRefreshAuth             string
}

func newFakeBackend(t *testing.T) *fakeBackend {
	f := &fakeBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/me", f.me)
	mux.HandleFunc("/auth/refresh", f.refresh)
	mux.HandleFunc("/auth/guest", f.guest)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeBackend) me(w http.ResponseWriter, r *http.Request) {
	f.validates.Add(1)
	tok := bearer(r)
	switch {
	case strings.HasPrefix(tok, "user-"):
		role := "user"
		if strings.HasPrefix(tok, "user-admin") {
			role = "admin"
		}
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{
			"id": strings.TrimPrefix(tok, "user-"), "type": "user", "role": role, "name": "Zoë"}})
	case strings.HasPrefix(tok, "guest-"):
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{"id": "visitor-" + strings.TrimPrefix(tok, "guest-"), "type": "guest"}})
	case strings.HasPrefix(tok, "down-"):
		writeJSON(w, 500, map[string]interface{}{"success": false})
	default:
		writeJSON(w, 401, map[string]interface{}{"success": false, "message": "invalid"})
	}
}

func (f *fakeBackend) refresh(w http.ResponseWriter, r *http.Request) {
	f.refreshes.Add(1)
	tok := bearer(r)
	f.mu.Lock()
	f.lastRefreshAuth = tok
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(tok, "expired-slow-"):
		time.Sleep(time.Second) // slower than a short cluster.refreshLease
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{
			"accessToken": "user-" + strings.TrimPrefix(tok, "expired-"), "refreshToken": "rt-next"}})
	case strings.HasPrefix(tok, "expired-"):
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{
			"accessToken": "user-" + strings.TrimPrefix(tok, "expired-"), "refreshToken": "rt-next"}})
	case strings.HasPrefix(tok, "reuse-"):
		writeJSON(w, 409, map[string]interface{}{"success": false, "code": "token_reuse"})
	default:
		writeJSON(w, 401, map[string]interface{}{"success": false})
	}
}

func (f *fakeBackend) guest(w http.ResponseWriter, r *http.Request) {
	n := f.mints.Add(1)
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	if body["username"] != "guest" || body["password"] != "pw" || r.Header.Get("Authorization") != "" {
		writeJSON(w, 401, map[string]interface{}{"success": false})
		return
	}
	writeJSON(w, 200, map[string]interface{}{"data": map[string]interface{}{"accessToken": "guest-" + string(rune('a'+n%26))}})
}

// upstream records what the app received.
type upstream struct {
	mu      sync.Mutex
	headers http.Header
	calls   int
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.headers = r.Header.Clone()
	u.calls++
	u.mu.Unlock()
	_, _ = w.Write([]byte("app"))
}

func newTestMiddleware(t *testing.T, f *fakeBackend, mutate func(*Config)) (http.Handler, *upstream) {
	t.Helper()
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	c.Cookies.Secure = false
	c.Guest = GuestConfig{Enabled: true, Username: "guest", Password: "pw"}
	c.Routes.Protected = []string{"/dashboard"}
	c.Routes.AuthOnly = []string{"/login"}
	c.Routes.Excluded = []string{"/static"}
	c.Routes.Roles = []RoleRule{{Path: "/admin", Roles: []string{"admin"}}}
	if mutate != nil {
		mutate(c)
	}
	up := &upstream{}
	h, err := New(context.Background(), up, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return h, up
}

func page(path string, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestValidUserReachesAppWithIdentity(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	req := page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-7"})
	req.Header["X_Auth_User"] = []string{"spoofed"} // as a WSGI/PHP client would spell it
	rec := serve(h, req)
	if rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	raw, _ := base64.StdEncoding.DecodeString(up.headers.Get("X-Auth-User"))
	var user map[string]interface{}
	if err := json.Unmarshal(raw, &user); err != nil || user["name"] != "Zoë" {
		t.Errorf("X-Auth-User = %q (%v)", raw, err)
	}
	if got := up.headers.Get("X-Auth-User-Id"); got != "7" {
		t.Errorf("X-Auth-User-Id = %q", got)
	}
	if got := up.headers.Get("Authorization"); got != "Bearer user-7" {
		t.Errorf("Authorization = %q", got)
	}
	if _, ok := up.headers["X_Auth_User"]; ok { //nolint:staticcheck // SA1008: the raw, non-canonical alias is what is tested
		t.Error("the spoofed alias reached the app")
	}
	serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-7"}))
	if n := f.validates.Load(); n != 1 {
		t.Errorf("validations = %d, want 1 (second request is a cache hit)", n)
	}
}

func TestExpiredTokenIsRefreshedOnceAndRemembered(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	rec := serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "expired-9"}))
	if rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "userToken=user-9;") || !strings.Contains(got, "HttpOnly") {
		t.Errorf("Set-Cookie = %q", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := up.headers.Get("X-Refreshed-Token"); got != "user-9" {
		t.Errorf("X-Refreshed-Token = %q", got)
	}
	// A reload builds a new instance; the old cookie still arrives.
	h2, _ := newTestMiddleware(t, f, nil)
	rec = serve(h2, page("/dashboard", &http.Cookie{Name: "userToken", Value: "expired-9"}))
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "userToken=user-9;") {
		t.Errorf("after reload Set-Cookie = %q", got)
	}
	if n := f.refreshes.Load(); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

func TestConcurrentExpiredRequestsShareOneRefresh(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, nil)
	const n = 200
	cookies := make([]string, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		i := i
		go func() {
			defer wg.Done()
			rec := serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "expired-c"}))
			cookies[i] = rec.Header().Get("Set-Cookie")
		}()
	}
	wg.Wait()
	if got := f.refreshes.Load(); got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	for i, c := range cookies {
		if !strings.HasPrefix(c, "userToken=user-c;") {
			t.Fatalf("response %d Set-Cookie = %q", i, c)
		}
	}
}

func TestReuseLogsOut(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	rec := serve(h, page("/", &http.Cookie{Name: "userToken", Value: "reuse-1"}))
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/login?redirect=%2F") {
		t.Errorf("reuse: status %d Location %q, want a login redirect", rec.Code, rec.Header().Get("Location"))
	}
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "userToken=;") || !strings.Contains(got, "Max-Age=0") {
		t.Errorf("reuse must clear the user cookie, got %q", got)
	}
	if up.calls != 0 || f.mints.Load() != 0 {
		t.Errorf("reuse reached the app (%d) or minted a guest (%d)", up.calls, f.mints.Load())
	}
}

func TestGuestMintedForAnonymousVisitor(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	rec := serve(h, page("/"))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Set-Cookie"), "guestToken=guest-") {
		t.Fatalf("status %d Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	if up.headers.Get("X-Auth-Token-Type") != "guest" || !strings.HasPrefix(up.headers.Get("X-Refreshed-Token"), "guest-") {
		t.Errorf("upstream headers %v", up.headers)
	}
	rec = serve(h, page("/dashboard"))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/login?redirect=%2Fdashboard" {
		t.Errorf("guest on protected page: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestAccessRules(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Guest.Enabled = false })
	user := &http.Cookie{Name: "userToken", Value: "user-1"}
	admin := &http.Cookie{Name: "userToken", Value: "user-admin"}
	api := httptest.NewRequest(http.MethodGet, "/dashboard/data", nil)
	rec := serve(h, api)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"success":false`) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("API without token: %d %q", rec.Code, rec.Body.String())
	}
	if rec := serve(h, page("/admin", user)); rec.Code != 403 {
		t.Errorf("non-admin on /admin: %d, want 403", rec.Code)
	}
	if rec := serve(h, page("/admin", admin)); rec.Code != 200 {
		t.Errorf("admin on /admin: %d, want 200", rec.Code)
	}
	rec = serve(h, page("/login?redirect=%2Fdashboard%3Fa%3D1", user))
	if rec.Code != 302 || rec.Header().Get("Location") != "/dashboard?a=1" {
		t.Errorf("logged-in user on /login: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = serve(h, page("/login?redirect=%2F%2Fevil.com", user))
	if rec.Header().Get("Location") != "/" {
		t.Errorf("off-site return-to followed: %q", rec.Header().Get("Location"))
	}
	up.calls = 0
	validations := f.validates.Load()
	req := page("/static/app.js")
	req.Header.Set("X-Auth-User", "spoofed")
	if rec := serve(h, req); rec.Code != 200 || up.calls != 1 || up.headers.Get("X-Auth-User") != "" {
		t.Errorf("excluded path: %d calls %d header %q", rec.Code, up.calls, up.headers.Get("X-Auth-User"))
	}
	if f.validates.Load() != validations {
		t.Error("an excluded path called the backend")
	}
}

func TestBackendDownFailsClosed(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	rec := serve(h, page("/dashboard", &http.Cookie{Name: "userToken", Value: "down-1"}))
	if rec.Code != 503 || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("protected with backend down: %d Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	rec = serve(h, page("/", &http.Cookie{Name: "userToken", Value: "down-1"}))
	if rec.Code != 200 || up.headers.Get("X-Auth-User") != "" || up.headers.Get("Authorization") != "" {
		t.Errorf("public with backend down: %d headers %v", rec.Code, up.headers)
	}
	serve(h, page("/", &http.Cookie{Name: "userToken", Value: "down-1"}))
	if n := f.validates.Load(); n != 3 {
		t.Errorf("validations = %d, want 3 (transient answers are not cached)", n)
	}
}

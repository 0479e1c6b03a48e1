package authbackend

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fakeClock is a settable clock for token lifetimes and grace windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is the Ed25519 key of RFC 8037, appendix A.1 (a published test
// key: never use it to sign anything real).
var testKey = ed25519.NewKeyFromSeed(b64url("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))

func b64url(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func newTestServer(t *testing.T, mutate func(*Config)) (*Server, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg := Config{
		SigningKey: testKey, Users: DemoUsers(),
		GuestUsername: "guest", GuestPassword: "guest-secret",
		Now: clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, clock
}

// envelope is the JSON answer shape of every endpoint.
type envelope struct {
	Success bool                   `json:"success"`
	Code    string                 `json:"code"`
	Message string                 `json:"message"`
	Data    map[string]interface{} `json:"data"`
}

func do(t *testing.T, h http.Handler, req *http.Request) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env envelope
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, rec.Body.String(), err)
		}
	}
	return rec, env
}

func jsonLogin(username, password string) *http.Request {
	body, _ := json.Marshal(map[string]string{"username": username, "password": password})
	req := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func withBearer(method, path, token string) *http.Request {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// noCookies fails the test if the backend set a cookie: only authlayer
// does.
func noCookies(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Result().Cookies(); len(got) != 0 {
		t.Errorf("%s: the backend set cookies %v; authlayer sets them", what, got)
	}
}

// login logs username in (password = username) through POST /auth/login,
// as authlayer's endpoints.login does, and returns the access and refresh
// tokens of the answer.
func login(t *testing.T, s *Server, username string) (access, refresh string) {
	t.Helper()
	rec, env := do(t, s, jsonLogin(username, username))
	if rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("login %s: got %d %+v, want 200 success", username, rec.Code, env)
	}
	access, _ = env.Data["accessToken"].(string)
	refresh, _ = env.Data["refreshToken"].(string)
	if access == "" {
		t.Fatalf("login %s: no data.accessToken in %v", username, env.Data)
	}
	return access, refresh
}

func TestNewRejectsBadSigningKeys(t *testing.T) {
	mismatched := append(ed25519.PrivateKey{}, testKey...)
	mismatched[len(mismatched)-1] ^= 1 // the public half no longer belongs to the seed
	for name, key := range map[string]ed25519.PrivateKey{
		"none": nil, "short": testKey[:ed25519.SeedSize], "mismatched public half": mismatched,
	} {
		if _, err := New(Config{SigningKey: key}); err == nil || !strings.Contains(err.Error(), "signing key") {
			t.Errorf("%s: got %v, want an error naming the signing key", name, err)
		}
	}
}

// TestLoginAnswersTheContract: next-api-layer's login answer, which
// authlayer's endpoints.login reads (responses.accessToken and
// responses.refreshToken default to data.accessToken and
// data.refreshToken): the tokens and the user, and no cookie.
func TestLoginAnswersTheContract(t *testing.T) {
	s, clock := newTestServer(t, nil)
	rec, env := do(t, s, jsonLogin("admin", "admin"))
	if rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("got %d %+v, want 200 success", rec.Code, env)
	}
	noCookies(t, "login", rec)
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store: the answer holds tokens", got)
	}
	want := map[string]interface{}{
		"id": "u-admin", "type": "user", "username": "admin", "name": "Ada Admin", "email": "admin@example.test", "role": "admin",
		"exp": float64(clock.Now().Add(DefaultAccessTTL).Unix()),
	}
	for k, v := range want {
		if env.Data[k] != v {
			t.Errorf("data.%s = %v, want %v", k, env.Data[k], v)
		}
	}
	access, _ := env.Data["accessToken"].(string)
	refresh, _ := env.Data["refreshToken"].(string)
	if rec, me := do(t, s, withBearer(http.MethodGet, "/auth/me", access)); rec.Code != http.StatusOK || me.Data["id"] != "u-admin" {
		t.Errorf("data.accessToken: /auth/me got %d %+v, want admin", rec.Code, me)
	}
	if rec, _ := refreshWith(t, s, refresh); rec.Code != http.StatusOK {
		t.Errorf("data.refreshToken: /auth/refresh got %d, want 200", rec.Code)
	}
	if _, ok := env.Data["password"]; ok {
		t.Error("the answer echoes the password")
	}
}

func TestLoginSingleTokenModeHasNoRefreshToken(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) { c.SingleToken = true })
	rec, env := do(t, s, jsonLogin("alice", "alice"))
	if rec.Code != http.StatusOK || env.Data["accessToken"] == nil {
		t.Fatalf("got %d %+v, want 200 with an access token", rec.Code, env)
	}
	if _, ok := env.Data["refreshToken"]; ok {
		t.Errorf("single-token mode: data.refreshToken = %v, want none", env.Data["refreshToken"])
	}
}

func TestLoginFailure(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for name, req := range map[string]*http.Request{
		"wrong password": jsonLogin("alice", "wrong"),
		"unknown user":   jsonLogin("nobody", "nobody"),
		"empty":          jsonLogin("", ""),
	} {
		rec, env := do(t, s, req)
		if rec.Code != http.StatusUnauthorized || env.Success || env.Code != "invalid_credentials" || env.Message == "" {
			t.Errorf("%s: got %d %+v, want 401 invalid_credentials with a message", name, rec.Code, env)
		}
		if env.Data != nil {
			t.Errorf("%s: data %v, want none", name, env.Data)
		}
		noCookies(t, name, rec)
	}
	form := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {"alice"}}.Encode()))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	garbage := httptest.NewRequest(http.MethodPost, "/auth/login", strings.NewReader("{"))
	garbage.Header.Set("Content-Type", "application/json")
	for name, req := range map[string]*http.Request{"a form (authlayer sends JSON)": form, "bad JSON": garbage} {
		if rec, env := do(t, s, req); rec.Code != http.StatusBadRequest || env.Success {
			t.Errorf("%s: got %d %+v, want 400", name, rec.Code, env)
		}
	}
}

func TestMe(t *testing.T) {
	s, clock := newTestServer(t, nil)
	access, refresh := login(t, s, "alice")

	rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", access))
	if rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("valid token: got %d %+v", rec.Code, env)
	}
	wantExp := float64(clock.Now().Add(DefaultAccessTTL).Unix())
	if env.Data["id"] != "u-alice" || env.Data["type"] != "user" || env.Data["role"] != "user" ||
		env.Data["name"] != "Alice Martin" || env.Data["email"] != "alice@example.test" || env.Data["exp"] != wantExp {
		t.Errorf("data = %v", env.Data)
	}

	// Tokens that are not the backend's own, well-formed access tokens
	// must all fail: another key (even naming this key's kid), the public
	// key used as an HMAC secret (algorithm confusion), alg "none", an
	// edited payload, a refresh token, and good signatures over the wrong
	// kid, audience, issuer or kind.
	kid := KeyID(testKey.Public().(ed25519.PublicKey))
	admin := func() jwt.MapClaims {
		return jwt.MapClaims{
			"sub": "u-admin", "knd": "access", "type": "user", "jti": "x", "iss": DefaultIssuer, "aud": []string{AccessAudience},
			"iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Hour).Unix(),
		}
	}
	signed := func(method jwt.SigningMethod, key interface{}, kid string, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		out, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(testKey.Public())
	with := func(k string, v interface{}) jwt.MapClaims { c := admin(); c[k] = v; return c }
	parts := strings.Split(access, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	// The control: the claims the cases below spoil, signed right, pass.
	if rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", signed(jwt.SigningMethodEdDSA, testKey, kid, admin()))); rec.Code != http.StatusOK || env.Data["id"] != "u-admin" {
		t.Fatalf("control token: got %d %+v, want 200 as u-admin", rec.Code, env)
	}
	for name, tok := range map[string]string{
		"missing": "", "garbage": "not-a-jwt", "tampered": tampered, "refresh token": refresh,
		"another key":                     signed(jwt.SigningMethodEdDSA, otherKey, kid, admin()),
		"HS256 keyed with the public key": signed(jwt.SigningMethodHS256, pubDER, kid, admin()),
		"alg none":                        signed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, admin()),
		"no kid":                          signed(jwt.SigningMethodEdDSA, testKey, "", admin()),
		"another kid":                     signed(jwt.SigningMethodEdDSA, testKey, "other", admin()),
		"refresh audience":                signed(jwt.SigningMethodEdDSA, testKey, kid, with("aud", []string{RefreshAudience})),
		"no audience":                     signed(jwt.SigningMethodEdDSA, testKey, kid, with("aud", []string{})),
		"another issuer":                  signed(jwt.SigningMethodEdDSA, testKey, kid, with("iss", "someone-else")),
		"unknown kind":                    signed(jwt.SigningMethodEdDSA, testKey, kid, with("knd", "id")),
	} {
		rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", tok))
		if rec.Code != http.StatusUnauthorized || env.Success || env.Message == "" {
			t.Errorf("%s: got %d %+v, want 401 with a message", name, rec.Code, env)
		}
	}

	clock.Advance(DefaultAccessTTL)
	if rec, _ := do(t, s, withBearer(http.MethodGet, "/auth/me", access)); rec.Code != http.StatusUnauthorized {
		t.Errorf("expired token: got %d, want 401", rec.Code)
	}
}

func refreshWith(t *testing.T, s *Server, credential string) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	return do(t, s, withBearer(http.MethodPost, "/auth/refresh", credential))
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	s, clock := newTestServer(t, nil)
	access, refresh := login(t, s, "alice")
	clock.Advance(DefaultAccessTTL + time.Second) // the access token expired

	rec, env := refreshWith(t, s, refresh)
	if rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("refresh: got %d %+v", rec.Code, env)
	}
	access2, _ := env.Data["accessToken"].(string)
	refresh2, _ := env.Data["refreshToken"].(string)
	if access2 == "" || refresh2 == "" || access2 == access || refresh2 == refresh {
		t.Fatalf("refresh: want a new, different pair, got %v", env.Data)
	}
	if rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", access2)); rec.Code != http.StatusOK || env.Data["id"] != "u-alice" {
		t.Fatalf("new access token: got %d %+v", rec.Code, env)
	}

	// Inside the grace window the old refresh token returns the same pair.
	clock.Advance(DefaultReuseGrace - time.Second)
	rec, env = refreshWith(t, s, refresh)
	if rec.Code != http.StatusOK || env.Data["accessToken"] != access2 || env.Data["refreshToken"] != refresh2 {
		t.Fatalf("replay in grace: got %d %v, want the same pair again", rec.Code, env.Data)
	}

	// After it, a replay is reuse: 409 and the whole family is revoked.
	clock.Advance(2 * time.Second)
	rec, env = refreshWith(t, s, refresh)
	if rec.Code != http.StatusConflict || env.Success || env.Code != "token_reuse" {
		t.Fatalf("replay after grace: got %d %+v, want 409 token_reuse", rec.Code, env)
	}
	rec, env = refreshWith(t, s, refresh2)
	if rec.Code != http.StatusForbidden || env.Code != "token_revoked" {
		t.Errorf("rotated token after reuse: got %d %+v, want 403 token_revoked", rec.Code, env)
	}
	if rec, _ := do(t, s, withBearer(http.MethodGet, "/auth/me", access2)); rec.Code != http.StatusUnauthorized {
		t.Errorf("access token of a revoked family: got %d, want 401", rec.Code)
	}

	// Another login is another family and is unaffected.
	other, _ := login(t, s, "alice")
	if rec, _ := do(t, s, withBearer(http.MethodGet, "/auth/me", other)); rec.Code != http.StatusOK {
		t.Errorf("new login after reuse: got %d, want 200", rec.Code)
	}
}

func TestRefreshChainKeepsWorking(t *testing.T) {
	s, clock := newTestServer(t, nil)
	_, refresh := login(t, s, "admin")
	for i := 0; i < 5; i++ {
		clock.Advance(DefaultAccessTTL)
		rec, env := refreshWith(t, s, refresh)
		if rec.Code != http.StatusOK {
			t.Fatalf("rotation %d: got %d %+v", i, rec.Code, env)
		}
		refresh = env.Data["refreshToken"].(string)
		if rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", env.Data["accessToken"].(string))); rec.Code != http.StatusOK || env.Data["role"] != "admin" {
			t.Fatalf("rotation %d: new access token got %d %+v", i, rec.Code, env)
		}
	}
}

func TestRefreshConcurrentOneRotation(t *testing.T) {
	s, _ := newTestServer(t, nil)
	_, refresh := login(t, s, "alice")
	const n = 16
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, withBearer(http.MethodPost, "/auth/refresh", refresh))
			var env envelope
			_ = json.Unmarshal(rec.Body.Bytes(), &env)
			got[i], _ = env.Data["refreshToken"].(string)
		}(i)
	}
	wg.Wait()
	for i := range got {
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("request %d got %q, want every request to get the one rotated token %q", i, got[i], got[0])
		}
	}
}

func TestRefreshExpired(t *testing.T) {
	s, clock := newTestServer(t, nil)
	_, refresh := login(t, s, "alice")
	clock.Advance(DefaultRefreshTTL)
	rec, env := refreshWith(t, s, refresh)
	if rec.Code != http.StatusUnauthorized || env.Code != "token_expired" {
		t.Fatalf("got %d %+v, want 401 token_expired", rec.Code, env)
	}
}

func TestRefreshRejectsBadCredentials(t *testing.T) {
	s, _ := newTestServer(t, nil)
	guest, _, err := s.issueGuest()
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"missing": "", "garbage": "a.b.c", "guest token": guest} {
		if rec, env := refreshWith(t, s, tok); rec.Code != http.StatusUnauthorized || env.Success {
			t.Errorf("%s: got %d %+v, want 401", name, rec.Code, env)
		}
	}
}

func TestRefreshSingleTokenMode(t *testing.T) {
	s, clock := newTestServer(t, func(c *Config) { c.SingleToken = true })
	access, refresh := login(t, s, "alice")
	if refresh != "" {
		t.Fatal("single-token mode set a refresh cookie")
	}
	clock.Advance(DefaultAccessTTL + time.Second)
	rec, env := refreshWith(t, s, access)
	if rec.Code != http.StatusOK || env.Data["accessToken"] == "" || env.Data["refreshToken"] != nil {
		t.Fatalf("got %d %v, want a new access token and no refresh token", rec.Code, env.Data)
	}
	clock.Advance(DefaultReuseGrace + time.Second)
	if rec, env := refreshWith(t, s, access); rec.Code != http.StatusConflict || env.Code != "token_reuse" {
		t.Errorf("reused expired access token: got %d %+v, want 409", rec.Code, env)
	}
	fresh, _ := login(t, s, "alice")
	clock.Advance(DefaultRefreshTTL)
	if rec, env := refreshWith(t, s, fresh); rec.Code != http.StatusUnauthorized || env.Code != "token_expired" {
		t.Errorf("access token older than the refresh lifetime: got %d %+v, want 401", rec.Code, env)
	}
}

func TestGuest(t *testing.T) {
	s, clock := newTestServer(t, nil)
	post := func(body string) (*httptest.ResponseRecorder, envelope) {
		req := httptest.NewRequest(http.MethodPost, "/auth/guest", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, s, req)
	}
	rec, env := post(`{"username":"guest","password":"guest-secret"}`)
	if rec.Code != http.StatusOK || !env.Success || env.Data["type"] != "guest" {
		t.Fatalf("got %d %+v", rec.Code, env)
	}
	tok, _ := env.Data["accessToken"].(string)
	rec, env = do(t, s, withBearer(http.MethodGet, "/auth/me", tok))
	if rec.Code != http.StatusOK || env.Data["type"] != "guest" || !strings.HasPrefix(env.Data["id"].(string), "guest-") {
		t.Fatalf("me with guest token: got %d %+v", rec.Code, env)
	}
	if env.Data["exp"] != float64(clock.Now().Add(DefaultGuestTTL).Unix()) {
		t.Errorf("guest exp = %v, want one hour from now", env.Data["exp"])
	}
	for _, body := range []string{`{"username":"guest","password":"nope"}`, `{"username":"alice","password":"guest-secret"}`, `{}`} {
		if rec, _ := post(body); rec.Code != http.StatusUnauthorized {
			t.Errorf("body %s: got %d, want 401", body, rec.Code)
		}
	}
	if rec, _ := post(`not json`); rec.Code != http.StatusBadRequest {
		t.Errorf("bad body: got %d, want 400", rec.Code)
	}

	disabled, _ := newTestServer(t, func(c *Config) { c.GuestUsername = "" })
	req := httptest.NewRequest(http.MethodPost, "/auth/guest", strings.NewReader(`{"username":"","password":""}`))
	if rec, _ := do(t, disabled, req); rec.Code != http.StatusNotFound {
		t.Errorf("guests disabled: got %d, want 404", rec.Code)
	}
}

// logoutWith calls POST /auth/logout as authlayer's endpoints.logout
// does: the access token as Bearer, the refresh token in a JSON body.
func logoutWith(t *testing.T, s *Server, access, refresh string) (*httptest.ResponseRecorder, envelope) {
	t.Helper()
	var body io.Reader = http.NoBody
	if refresh != "" {
		raw, _ := json.Marshal(map[string]string{"refreshToken": refresh})
		body = strings.NewReader(string(raw))
	}
	req := httptest.NewRequest(http.MethodPost, "/auth/logout", body)
	if refresh != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	return do(t, s, req)
}

func TestLogoutRevokesTheLogin(t *testing.T) {
	s, _ := newTestServer(t, nil)
	access, refresh := login(t, s, "alice")
	other, otherRefresh := login(t, s, "alice") // another login, untouched

	rec, env := logoutWith(t, s, access, refresh)
	if rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("logout: got %d %+v, want 200 success", rec.Code, env)
	}
	noCookies(t, "logout", rec)
	if rec, env := refreshWith(t, s, refresh); rec.Code != http.StatusForbidden || env.Code != "token_revoked" {
		t.Errorf("refresh after logout: got %d %+v, want 403 token_revoked", rec.Code, env)
	}
	if rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", access)); rec.Code != http.StatusUnauthorized || env.Code != "token_revoked" {
		t.Errorf("access token after logout: got %d %+v, want 401 token_revoked", rec.Code, env)
	}
	if rec, _ := do(t, s, withBearer(http.MethodGet, "/auth/me", other)); rec.Code != http.StatusOK {
		t.Errorf("another login of the same user: got %d, want 200", rec.Code)
	}
	if rec, _ := refreshWith(t, s, otherRefresh); rec.Code != http.StatusOK {
		t.Errorf("another login's refresh token: got %d, want 200", rec.Code)
	}
}

// TestLogoutWithEitherCredential: an expired access token alone (authlayer
// sends what the browser carried), or the refresh token alone, names the
// login; nothing that names one is a 401.
func TestLogoutWithEitherCredential(t *testing.T) {
	s, clock := newTestServer(t, nil)
	access, refresh := login(t, s, "alice")
	clock.Advance(DefaultAccessTTL + time.Second)
	if rec, env := logoutWith(t, s, access, ""); rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("logout with an expired access token: got %d %+v", rec.Code, env)
	}
	if rec, _ := refreshWith(t, s, refresh); rec.Code != http.StatusForbidden {
		t.Errorf("refresh after a logout by access token: got %d, want 403", rec.Code)
	}

	_, refresh = login(t, s, "admin")
	if rec, env := logoutWith(t, s, "", refresh); rec.Code != http.StatusOK || !env.Success {
		t.Fatalf("logout with the refresh token: got %d %+v", rec.Code, env)
	}
	if rec, _ := refreshWith(t, s, refresh); rec.Code != http.StatusForbidden {
		t.Errorf("refresh after a logout by refresh token: got %d, want 403", rec.Code)
	}

	guest, _, _ := s.issueGuest()
	for name, tok := range map[string]string{"nothing": "", "garbage": "a.b.c", "a guest token": guest} {
		if rec, env := logoutWith(t, s, tok, ""); rec.Code != http.StatusUnauthorized || env.Success {
			t.Errorf("logout with %s: got %d %+v, want 401", name, rec.Code, env)
		}
	}
}

func TestMethodsAreEnforced(t *testing.T) {
	s, _ := newTestServer(t, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/auth/login"}, {http.MethodGet, "/auth/refresh"},
		{http.MethodGet, "/auth/logout"}, {http.MethodPost, "/auth/me"},
	} {
		if rec, _ := do(t, s, httptest.NewRequest(tc.method, tc.path, nil)); rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: got %d, want 405", tc.method, tc.path, rec.Code)
		}
	}
}

func TestSessionsArePruned(t *testing.T) {
	s, clock := newTestServer(t, nil)
	_, refresh := login(t, s, "alice")
	if rec, _ := refreshWith(t, s, refresh); rec.Code != http.StatusOK {
		t.Fatalf("refresh: %d", rec.Code)
	}
	if used, _ := s.sessions.size(); used != 1 {
		t.Fatalf("used = %d, want 1", used)
	}
	clock.Advance(DefaultRefreshTTL + time.Minute)
	_, refresh = login(t, s, "alice")
	refreshWith(t, s, refresh) // triggers the sweep
	if used, _ := s.sessions.size(); used != 1 {
		t.Errorf("used = %d after expiry, want only the new credential", used)
	}
}

// decodeJWS splits a compact JWS, checks its EdDSA signature with pub using
// crypto/ed25519 alone (not the library that signed it), and returns its
// header and claims.
func decodeJWS(t *testing.T, token string, pub ed25519.PublicKey) (header, claims map[string]interface{}) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Fatal("the Ed25519 signature does not verify with the public key")
	}
	for i, dst := range []*map[string]interface{}{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return header, claims
}

func jsonEqual(t *testing.T, got interface{}, want string) bool {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) == want
}

// TestTokensAreEdDSASigned checks what authlayer verifies locally: every
// token is an EdDSA JWS naming the key's thumbprint, verifiable with the
// public key alone, and the access tokens carry the user.
func TestTokensAreEdDSASigned(t *testing.T) {
	s, clock := newTestServer(t, nil)
	pub := testKey.Public().(ed25519.PublicKey)
	now := clock.Now().Unix()
	access, refresh := login(t, s, "admin")

	header, c := decodeJWS(t, access, pub)
	if !jsonEqual(t, header, `{"alg":"EdDSA","kid":"`+KeyID(pub)+`","typ":"JWT"}`) {
		t.Errorf("access token header = %v", header)
	}
	want := map[string]string{
		"iss": `"authlayer-demo"`, "aud": `["authlayer-demo-app"]`, "sub": `"u-admin"`, "knd": `"access"`, "type": `"user"`,
		"roles": `["admin"]`, "name": `"Ada Admin"`, "email": `"admin@example.test"`, "username": `"admin"`,
		"iat": fmt.Sprint(now), "nbf": fmt.Sprint(now), "exp": fmt.Sprint(now + int64(DefaultAccessTTL/time.Second)),
	}
	for k, v := range want {
		if !jsonEqual(t, c[k], v) {
			t.Errorf("access token claim %s = %v, want %s", k, c[k], v)
		}
	}
	if c["jti"] == "" || c["fam"] == "" {
		t.Errorf("access token lacks jti or fam: %v", c)
	}

	_, rc := decodeJWS(t, refresh, pub)
	if !jsonEqual(t, rc["aud"], `["authlayer-demo-refresh"]`) || rc["knd"] != "refresh" || rc["sub"] != "u-admin" || rc["fam"] != c["fam"] {
		t.Errorf("refresh token claims = %v, want the refresh audience and the access token's family", rc)
	}
	for _, k := range []string{"type", "roles", "name", "email"} {
		if _, ok := rc[k]; ok {
			t.Errorf("refresh token carries %s: it is no session token", k)
		}
	}

	guest, _, err := s.issueGuest()
	if err != nil {
		t.Fatal(err)
	}
	_, gc := decodeJWS(t, guest, pub)
	if gc["type"] != "guest" || !jsonEqual(t, gc["roles"], `["guest"]`) || !jsonEqual(t, gc["aud"], `["authlayer-demo-app"]`) ||
		!strings.HasPrefix(fmt.Sprint(gc["sub"]), "guest-") || !jsonEqual(t, gc["exp"], fmt.Sprint(now+int64(DefaultGuestTTL/time.Second))) {
		t.Errorf("guest token claims = %v", gc)
	}

	// Signed with the configured key, not any other.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	s2, _ := newTestServer(t, func(c *Config) { c.SigningKey = other })
	access2, _ := login(t, s2, "alice")
	if parts := strings.Split(access2, "."); ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), b64url(parts[2])) {
		t.Error("a server configured with another key signed with the test key")
	}
	if rec, _ := do(t, s, withBearer(http.MethodGet, "/auth/me", access2)); rec.Code != http.StatusUnauthorized {
		t.Errorf("a token of a backend with another key: got %d, want 401", rec.Code)
	}
}

// TestKeyIDIsTheThumbprint checks KeyID against RFC 8037, appendix A.3.
func TestKeyIDIsTheThumbprint(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	if got := base64.RawURLEncoding.EncodeToString(pub); got != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Fatalf("test key's x = %s, not RFC 8037's", got)
	}
	if got := KeyID(pub); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("KeyID = %s, want RFC 8037's thumbprint kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", got)
	}
}

func TestKeyPEMs(t *testing.T) {
	privPEM, err := PrivateKeyPEM(testKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"PEM": privPEM, "one line": OneLine(privPEM), "indented": "\n  " + privPEM + "  \n",
	} {
		got, err := ParsePrivateKey(text)
		if err != nil || !got.Equal(testKey) {
			t.Errorf("%s: ParsePrivateKey = %v, want the key back", name, err)
		}
	}
	if strings.Contains(OneLine(privPEM), "\n") {
		t.Errorf("OneLine kept a newline: %q", OneLine(privPEM))
	}

	pub := testKey.Public().(ed25519.PublicKey)
	pubPEM, err := PublicKeyPEM(pub, KeyID(pub))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(pubPEM))
	if block == nil || block.Type != "PUBLIC KEY" || block.Headers["kid"] != KeyID(pub) {
		t.Fatalf("PublicKeyPEM = %q, want a PUBLIC KEY block with the kid header", pubPEM)
	}
	if parsed, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil || !pub.Equal(parsed) {
		t.Errorf("PublicKeyPEM's key = %v %v, want the public key", parsed, err)
	}
	if plain, _ := PublicKeyPEM(pub, ""); strings.Contains(plain, "kid") {
		t.Errorf("PublicKeyPEM without a kid = %q", plain)
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	for name, text := range map[string]string{
		"empty": "", "garbage": "not a key", "public key": pubPEM, "EC key": ecPEM,
		"two keys": privPEM + privPEM,
		"bad DER":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")})),
	} {
		if _, err := ParsePrivateKey(text); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "MC4C") {
			t.Errorf("%s: the error quotes key material: %v", name, err)
		}
	}
}

// TestAuthTimeSurvivesRefreshes: every token of a login carries the time
// the user signed in (auth_time), unchanged by refreshes, while iat moves
// on: the app tells a refreshed token from a fresh login by iat >
// auth_time. /auth/me returns it too; guest tokens have none.
func TestAuthTimeSurvivesRefreshes(t *testing.T) {
	for _, single := range []bool{false, true} {
		s, clock := newTestServer(t, func(c *Config) { c.SingleToken = single })
		pub := testKey.Public().(ed25519.PublicKey)
		signedIn := clock.Now().Unix()
		access, refresh := login(t, s, "alice")
		if _, c := decodeJWS(t, access, pub); !jsonEqual(t, c["auth_time"], fmt.Sprint(signedIn)) || !jsonEqual(t, c["iat"], fmt.Sprint(signedIn)) {
			t.Fatalf("single=%v: login token auth_time %v iat %v, want both %d", single, c["auth_time"], c["iat"], signedIn)
		}
		credential := refresh
		if single {
			credential = access
		}
		for i := 1; i <= 3; i++ {
			clock.Advance(DefaultAccessTTL + time.Second)
			rec, env := refreshWith(t, s, credential)
			if rec.Code != http.StatusOK {
				t.Fatalf("single=%v: refresh %d: %d %+v", single, i, rec.Code, env)
			}
			access = env.Data["accessToken"].(string)
			credential = access
			if !single {
				credential = env.Data["refreshToken"].(string)
				if _, rc := decodeJWS(t, credential, pub); !jsonEqual(t, rc["auth_time"], fmt.Sprint(signedIn)) {
					t.Errorf("single=%v: refresh %d: refresh token auth_time %v, want %d", single, i, rc["auth_time"], signedIn)
				}
			}
			_, c := decodeJWS(t, access, pub)
			if !jsonEqual(t, c["auth_time"], fmt.Sprint(signedIn)) || !jsonEqual(t, c["iat"], fmt.Sprint(clock.Now().Unix())) {
				t.Errorf("single=%v: refresh %d: auth_time %v iat %v, want %d and %d", single, i, c["auth_time"], c["iat"], signedIn, clock.Now().Unix())
			}
			if rec, env := do(t, s, withBearer(http.MethodGet, "/auth/me", access)); rec.Code != http.StatusOK || env.Data["auth_time"] != float64(signedIn) {
				t.Errorf("single=%v: refresh %d: /auth/me = %d %v, want auth_time %d", single, i, rec.Code, env.Data, signedIn)
			}
		}
	}
	s, _ := newTestServer(t, nil)
	req := httptest.NewRequest(http.MethodPost, "/auth/guest", strings.NewReader(`{"username":"guest","password":"guest-secret"}`))
	req.Header.Set("Content-Type", "application/json")
	rec, env := do(t, s, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("guest: %d %+v", rec.Code, env)
	}
	if _, c := decodeJWS(t, env.Data["accessToken"].(string), testKey.Public().(ed25519.PublicKey)); c["auth_time"] != nil {
		t.Errorf("a guest token carries auth_time %v", c["auth_time"])
	}
}

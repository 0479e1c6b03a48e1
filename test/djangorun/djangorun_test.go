package djangorun

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Exact bodies the real server answers (simplejwt 5.2, DRF 3.14).
const (
	bodyBlacklisted     = `{"detail":"Token is blacklisted","code":"token_not_valid"}`
	bodyInvalidOrExpire = `{"detail":"Token is invalid or expired","code":"token_not_valid"}`
	bodyWrongType       = `{"detail":"Token has wrong type","code":"token_not_valid"}`
	bodyBadCredentials  = `{"detail":"No active account found with the given credentials"}`
	bodyNoCredentials   = `{"detail":"Authentication credentials were not provided."}`
	bodyAccessInvalid   = `{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token is invalid or expired"}]}`
	bodyAccessWrongType = `{"detail":"Given token not valid for any token type","code":"token_not_valid","messages":[{"token_class":"AccessToken","token_type":"access","message":"Token has wrong type"}]}`
	bodyVerifyBlacklist = `{"non_field_errors":["Token is blacklisted"]}`
	bodyRefreshRequired = `{"refresh":["This field is required."]}`
	bodyGetNotAllowed   = `{"detail":"Method \"GET\" not allowed."}`
	bodyEmpty           = `{}`
)

func want(t *testing.T, what string, r Response, status int, body string) {
	t.Helper()
	if r.Status != status || r.Body != body {
		t.Fatalf("%s: got %s, want %d %s", what, r, status, body)
	}
}

// wantTokens checks an answer carrying tokens: the status and exactly the
// given fields, each a token.
func wantTokens(t *testing.T, what string, r Response, fields ...string) map[string]string {
	t.Helper()
	if r.Status != http.StatusOK || len(r.JSON) != len(fields) {
		t.Fatalf("%s: got %s, want 200 with %v", what, r, fields)
	}
	out := map[string]string{}
	for _, f := range fields {
		v, _ := r.JSON[f].(string)
		if strings.Count(v, ".") != 2 {
			t.Fatalf("%s: field %q is not a JWT: %s", what, f, r)
		}
		out[f] = v
	}
	return out
}

// claims checks the HS256 signature with key and returns the payload.
func claims(t *testing.T, token, key string) map[string]interface{} {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != parts[2] {
		t.Fatal("the HS256 signature does not verify with the signing key")
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(header) != `{"alg":"HS256","typ":"JWT"}` {
		t.Fatalf("header %s", header)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]interface{}
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var jti = regexp.MustCompile(`^[0-9a-f]{32}$`)

// wantClaims checks simplejwt's claims and the project's own, and returns
// iat and exp.
func wantClaims(t *testing.T, c map[string]interface{}, typ string, userID float64, username string, roles ...string) (iat, exp float64) {
	t.Helper()
	exp, _ = c["exp"].(float64)
	iat, _ = c["iat"].(float64)
	id, _ := c["jti"].(string)
	gotRoles, _ := c["roles"].([]interface{})
	wantRoles := []interface{}{}
	for _, r := range roles {
		wantRoles = append(wantRoles, r)
	}
	if c["token_type"] != typ || c["user_id"] != userID || c["username"] != username ||
		!reflect.DeepEqual(gotRoles, wantRoles) || !jti.MatchString(id) ||
		iat == 0 || exp == 0 || len(c) != 7 {
		t.Fatalf("claims %v: want token_type %q, user_id %v, username %q, roles %v, a jti, iat, exp, nothing else",
			c, typ, userID, username, roles)
	}
	return iat, exp
}

// clock brackets a request: simplejwt's times are whole seconds, rounded
// down, of a moment between before and after.
type clock struct{ before, after int64 }

func bracket(f func()) clock {
	before := time.Now().Unix()
	f()
	return clock{before, time.Now().Unix()}
}

// wantAt checks that v is a moment of c plus d.
func (c clock) wantAt(t *testing.T, what string, v float64, d time.Duration) {
	t.Helper()
	if s := int64(d / time.Second); v < float64(c.before+s) || v > float64(c.after+s) {
		t.Fatalf("%s: %v, want %d..%d", what, v, c.before+s, c.after+s)
	}
}

// wantPair checks the claims of a login's pair: one clock for both tokens,
// the access token's iat copied from the refresh token.
func wantPair(t *testing.T, key, access, refresh string, c clock, accessLife, refreshLife time.Duration, userID float64, username string, roles ...string) {
	t.Helper()
	aIat, aExp := wantClaims(t, claims(t, access, key), "access", userID, username, roles...)
	rIat, rExp := wantClaims(t, claims(t, refresh, key), "refresh", userID, username, roles...)
	c.wantAt(t, "iat", rIat, 0)
	if aIat != rIat || aExp-aIat != accessLife.Seconds() || rExp-rIat != refreshLife.Seconds() {
		t.Fatalf("access iat %v exp %v, refresh iat %v exp %v: want one iat, exp-iat %v and %v",
			aIat, aExp, rIat, rExp, accessLife.Seconds(), refreshLife.Seconds())
	}
}

func TestTokenFlow(t *testing.T) {
	s := Start(t, Defaults())
	t.Logf("started in %s at %s", s.StartupTime(), s.URL())
	key := s.SigningKey()

	var access, refresh, bobAccess, bobRefresh string
	c := bracket(func() { access, refresh = s.Login(t, "alice", "alice-pw") })
	wantPair(t, key, access, refresh, c, DefaultAccessLifetime, DefaultRefreshLifetime, 1, "alice", "admin")
	c = bracket(func() { bobAccess, bobRefresh = s.Login(t, "bob", "bob-pw") })
	wantPair(t, key, bobAccess, bobRefresh, c, DefaultAccessLifetime, DefaultRefreshLifetime, 2, "bob")

	t.Run("login", func(t *testing.T) {
		r := s.Post(t, TokenPath, map[string]string{"username": "alice", "password": "wrong"})
		want(t, "wrong password", r, http.StatusUnauthorized, bodyBadCredentials)
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		r = s.Post(t, TokenPath, map[string]string{"username": "nobody", "password": "x"})
		want(t, "unknown user", r, http.StatusUnauthorized, bodyBadCredentials)
		want(t, "no fields", s.Post(t, TokenPath, map[string]string{}), http.StatusBadRequest,
			`{"username":["This field is required."],"password":["This field is required."]}`)
		wantTokens(t, "login", s.Post(t, TokenPath, map[string]string{"username": "alice", "password": "alice-pw"}), "refresh", "access")
	})

	t.Run("me", func(t *testing.T) {
		want(t, "alice", s.Get(t, MePath, access), http.StatusOK,
			`{"id":1,"username":"alice","email":"alice@example.test","is_staff":true,"groups":["admin"]}`)
		want(t, "bob", s.Get(t, MePath, bobAccess), http.StatusOK,
			`{"id":2,"username":"bob","email":"bob@example.test","is_staff":false,"groups":[]}`)
		r := s.Get(t, MePath, "")
		want(t, "no token", r, http.StatusUnauthorized, bodyNoCredentials)
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		want(t, "garbage", s.Get(t, MePath, "garbage"), http.StatusUnauthorized, bodyAccessInvalid)
		want(t, "a refresh token", s.Get(t, MePath, refresh), http.StatusUnauthorized, bodyAccessWrongType)
		other := forge(t, access, "another-key")
		want(t, "another key", s.Get(t, MePath, other), http.StatusUnauthorized, bodyAccessInvalid)
	})

	t.Run("refresh rotates and blacklists", func(t *testing.T) {
		_, old := s.Login(t, "alice", "alice-pw")
		oldIat, _ := wantClaims(t, claims(t, old, key), "refresh", 1, "alice", "admin")
		time.Sleep(1100 * time.Millisecond) // let a second tick: iat tells the tokens apart
		var got map[string]string
		c := bracket(func() {
			got = wantTokens(t, "refresh", s.Post(t, RefreshPath, map[string]string{"refresh": old}), "access", "refresh")
		})
		if got["refresh"] == old {
			t.Fatal("the refresh token was not rotated")
		}
		// The new access token's iat is the refresh token's (simplejwt copies
		// every claim of the refresh token but token_type, exp and jti), its
		// exp is now plus its lifetime.
		aIat, aExp := wantClaims(t, claims(t, got["access"], key), "access", 1, "alice", "admin")
		if aIat != oldIat {
			t.Fatalf("refreshed access token: iat %v, want the refresh token's %v", aIat, oldIat)
		}
		c.wantAt(t, "refreshed access token's exp", aExp, DefaultAccessLifetime)
		rIat, rExp := wantClaims(t, claims(t, got["refresh"], key), "refresh", 1, "alice", "admin")
		c.wantAt(t, "rotated refresh token's iat", rIat, 0)
		c.wantAt(t, "rotated refresh token's exp", rExp, DefaultRefreshLifetime)
		want(t, "me with the new access token", s.Get(t, MePath, got["access"]), http.StatusOK,
			`{"id":1,"username":"alice","email":"alice@example.test","is_staff":true,"groups":["admin"]}`)

		r := s.Post(t, RefreshPath, map[string]string{"refresh": old})
		want(t, "replay", r, http.StatusUnauthorized, bodyBlacklisted)
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="api"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		next := wantTokens(t, "refresh with the rotated token", s.Post(t, RefreshPath, map[string]string{"refresh": got["refresh"]}), "access", "refresh")
		want(t, "replay of the second", s.Post(t, RefreshPath, map[string]string{"refresh": got["refresh"]}), http.StatusUnauthorized, bodyBlacklisted)
		wantTokens(t, "refresh with the third", s.Post(t, RefreshPath, map[string]string{"refresh": next["refresh"]}), "access", "refresh")

		want(t, "an access token", s.Post(t, RefreshPath, map[string]string{"refresh": got["access"]}), http.StatusUnauthorized, bodyWrongType)
		want(t, "garbage", s.Post(t, RefreshPath, map[string]string{"refresh": "garbage"}), http.StatusUnauthorized, bodyInvalidOrExpire)
		want(t, "another key", s.Post(t, RefreshPath, map[string]string{"refresh": forge(t, next["refresh"], "another-key")}), http.StatusUnauthorized, bodyInvalidOrExpire)
	})

	t.Run("verify", func(t *testing.T) {
		a, r := s.Login(t, "alice", "alice-pw")
		want(t, "access", s.Post(t, VerifyPath, map[string]string{"token": a}), http.StatusOK, bodyEmpty)
		want(t, "refresh (any type verifies)", s.Post(t, VerifyPath, map[string]string{"token": r}), http.StatusOK, bodyEmpty)
		want(t, "garbage", s.Post(t, VerifyPath, map[string]string{"token": "garbage"}), http.StatusUnauthorized, bodyInvalidOrExpire)
		want(t, "another key", s.Post(t, VerifyPath, map[string]string{"token": forge(t, a, "another-key")}), http.StatusUnauthorized, bodyInvalidOrExpire)
		wantTokens(t, "rotate", s.Post(t, RefreshPath, map[string]string{"refresh": r}), "access", "refresh")
		want(t, "blacklisted refresh", s.Post(t, VerifyPath, map[string]string{"token": r}), http.StatusBadRequest, bodyVerifyBlacklist)
		want(t, "no field", s.Post(t, VerifyPath, map[string]string{}), http.StatusBadRequest, `{"token":["This field is required."]}`)
	})

	t.Run("blacklist", func(t *testing.T) {
		a, r := s.Login(t, "alice", "alice-pw")
		want(t, "blacklist", s.Post(t, BlacklistPath, map[string]string{"refresh": r}), http.StatusOK, bodyEmpty)
		want(t, "refresh after", s.Post(t, RefreshPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyBlacklisted)
		want(t, "blacklist again", s.Post(t, BlacklistPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyBlacklisted)
		want(t, "an access token", s.Post(t, BlacklistPath, map[string]string{"refresh": a}), http.StatusUnauthorized, bodyWrongType)
		want(t, "no field", s.Post(t, BlacklistPath, map[string]string{}), http.StatusBadRequest, bodyRefreshRequired)
		// simplejwt never revokes access tokens: they live until exp.
		want(t, "the access token still works", s.Get(t, MePath, a), http.StatusOK,
			`{"id":1,"username":"alice","email":"alice@example.test","is_staff":true,"groups":["admin"]}`)
	})

	t.Run("request shapes", func(t *testing.T) {
		_, r := s.Login(t, "alice", "alice-pw")
		// authlayer's default refresh request: the credential as a Bearer
		// header, no body.
		want(t, "Bearer, no body", s.Do(t, http.MethodPost, RefreshPath, "Bearer "+r, "", nil), http.StatusBadRequest, bodyRefreshRequired)
		// A form body is accepted as well as JSON.
		wantTokens(t, "form", s.Do(t, http.MethodPost, RefreshPath, "", "application/x-www-form-urlencoded", []byte("refresh="+r)), "access", "refresh")
		want(t, "GET", s.Do(t, http.MethodGet, RefreshPath, "", "", nil), http.StatusMethodNotAllowed, bodyGetNotAllowed)
		// Without the trailing slash, Django's CommonMiddleware redirects.
		nr := s.Do(t, http.MethodPost, strings.TrimSuffix(RefreshPath, "/"), "", "application/json", []byte(`{}`))
		if nr.Status != http.StatusMovedPermanently || nr.Header.Get("Location") != RefreshPath {
			t.Fatalf("no trailing slash: %s, Location %q", nr, nr.Header.Get("Location"))
		}
		unknown := s.Get(t, "/api/nothing/", "")
		if unknown.Status != http.StatusNotFound || !strings.HasPrefix(unknown.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("unknown path: %s, Content-Type %q", unknown, unknown.Header.Get("Content-Type"))
		}
		bad := s.Do(t, http.MethodPost, RefreshPath, "", "application/json", []byte("{"))
		if bad.Status != http.StatusBadRequest || !strings.HasPrefix(bad.Body, `{"detail":"JSON parse error - `) {
			t.Fatalf("not JSON: %s", bad)
		}
	})

	t.Run("counts", func(t *testing.T) {
		s.ResetCounts(t)
		if c := s.Counts(t); len(c) != 0 {
			t.Fatalf("counts after a reset: %v", c)
		}
		_, r := s.Login(t, "bob", "bob-pw")
		s.Post(t, RefreshPath, map[string]string{"refresh": r})
		s.Post(t, RefreshPath, map[string]string{"refresh": r})
		s.Get(t, MePath, "")
		want := map[string]int{TokenPath: 1, RefreshPath: 2, MePath: 1}
		if c := s.Counts(t); !reflect.DeepEqual(c, want) {
			t.Fatalf("counts %v, want %v", c, want)
		}
	})

	if strings.Contains(s.Log(), refresh) || strings.Contains(s.Log(), "alice-pw") {
		t.Fatal("a token or a password in the server's log")
	}
}

// forge re-signs token's header and payload with another key.
func forge(t *testing.T, token, key string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// until polls f every 100 ms until it returns true, for at most limit.
func until(t *testing.T, limit time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestExpiredAccessToken(t *testing.T) {
	o := Defaults()
	o.AccessLifetime = time.Second
	s := Start(t, o)
	var a, r string
	c := bracket(func() { a, r = s.Login(t, "alice", "alice-pw") })
	wantPair(t, s.SigningKey(), a, r, c, time.Second, DefaultRefreshLifetime, 1, "alice", "admin")
	until(t, 5*time.Second, "the access token expires", func() bool {
		return s.Get(t, MePath, a).Status == http.StatusUnauthorized
	})
	want(t, "me", s.Get(t, MePath, a), http.StatusUnauthorized, bodyAccessInvalid)
	want(t, "verify", s.Post(t, VerifyPath, map[string]string{"token": a}), http.StatusUnauthorized, bodyInvalidOrExpire)
	want(t, "the expired access token as a refresh token", s.Post(t, RefreshPath, map[string]string{"refresh": a}), http.StatusUnauthorized, bodyInvalidOrExpire)
	got := wantTokens(t, "refresh", s.Post(t, RefreshPath, map[string]string{"refresh": r}), "access", "refresh")
	want(t, "me with the new access token", s.Get(t, MePath, got["access"]), http.StatusOK,
		`{"id":1,"username":"alice","email":"alice@example.test","is_staff":true,"groups":["admin"]}`)
}

func TestExpiredRefreshToken(t *testing.T) {
	o := Defaults()
	o.AccessLifetime, o.RefreshLifetime = time.Second, time.Second
	s := Start(t, o)
	_, r := s.Login(t, "alice", "alice-pw")
	until(t, 5*time.Second, "the refresh token expires", func() bool {
		return s.Post(t, VerifyPath, map[string]string{"token": r}).Status == http.StatusUnauthorized
	})
	want(t, "refresh", s.Post(t, RefreshPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyInvalidOrExpire)
	want(t, "blacklist", s.Post(t, BlacklistPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyInvalidOrExpire)
}

func TestWithoutRotation(t *testing.T) {
	o := Defaults()
	o.Rotate, o.BlacklistAfterRotation = false, false
	s := Start(t, o)
	_, r := s.Login(t, "bob", "bob-pw")
	rIat, _ := wantClaims(t, claims(t, r, s.SigningKey()), "refresh", 2, "bob")
	for i := 0; i < 2; i++ {
		var got map[string]string
		c := bracket(func() {
			got = wantTokens(t, "refresh", s.Post(t, RefreshPath, map[string]string{"refresh": r}), "access")
		})
		aIat, aExp := wantClaims(t, claims(t, got["access"], s.SigningKey()), "access", 2, "bob")
		c.wantAt(t, "refreshed access token's exp", aExp, DefaultAccessLifetime)
		if aIat != rIat {
			t.Fatalf("refreshed access token: iat %v, want the refresh token's %v", aIat, rIat)
		}
	}
	want(t, "blacklist", s.Post(t, BlacklistPath, map[string]string{"refresh": r}), http.StatusOK, bodyEmpty)
	want(t, "refresh after", s.Post(t, RefreshPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyBlacklisted)
	// Without BLACKLIST_AFTER_ROTATION, verify does not look at the blacklist.
	want(t, "verify a blacklisted token", s.Post(t, VerifyPath, map[string]string{"token": r}), http.StatusOK, bodyEmpty)
}

func TestRotationWithoutBlacklist(t *testing.T) {
	o := Defaults()
	o.BlacklistAfterRotation = false
	s := Start(t, o)
	_, r := s.Login(t, "alice", "alice-pw")
	first := wantTokens(t, "refresh", s.Post(t, RefreshPath, map[string]string{"refresh": r}), "access", "refresh")
	again := wantTokens(t, "replay (allowed)", s.Post(t, RefreshPath, map[string]string{"refresh": r}), "access", "refresh")
	if first["refresh"] == r || again["refresh"] == first["refresh"] {
		t.Fatal("every refresh must answer a new refresh token")
	}
}

// TestConcurrentRefresh sends one refresh token several times at once:
// simplejwt checks the blacklist before it blacklists, without a lock, so
// requests that overlap may all succeed; each answer is a new pair or the
// blacklisted 401, and a later replay is refused.
func TestConcurrentRefresh(t *testing.T) {
	s := Start(t, Defaults())
	_, r := s.Login(t, "alice", "alice-pw")
	const n = 6
	answers := make([]Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			resp, err := s.do(http.MethodPost, RefreshPath, "", "application/json", []byte(`{"refresh":"`+r+`"}`))
			if err != nil {
				resp = Response{Body: err.Error()}
			}
			answers[i] = resp
		}(i)
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, a := range answers {
		switch {
		case a.Status == http.StatusOK && len(a.JSON) == 2:
			ok++
		case a.Status == http.StatusUnauthorized && a.Body == bodyBlacklisted:
		default:
			t.Fatalf("concurrent refresh: %s; log:\n%s", a, s.Log())
		}
	}
	if ok == 0 {
		t.Fatal("no concurrent refresh succeeded")
	}
	t.Logf("%d of %d concurrent refreshes with one token succeeded", ok, n)
	want(t, "replay after", s.Post(t, RefreshPath, map[string]string{"refresh": r}), http.StatusUnauthorized, bodyBlacklisted)
}

func TestStop(t *testing.T) {
	s := Start(t, Options{})
	s.Stop()
	_, err := s.do(http.MethodGet, CountsPath, "", "", nil)
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Fatalf("after Stop: %v, want a refused connection", err)
	}
	s.Stop()
}

func TestMissingInterpreter(t *testing.T) {
	t.Setenv(EnvPython, "/nonexistent/python3")
	bin, why := check()
	if bin != "" || !strings.Contains(why, "/nonexistent/python3 not found") || !strings.Contains(why, "python3-djangorestframework-simplejwt") {
		t.Fatalf("check: %q, %q", bin, why)
	}
}

func TestSettings(t *testing.T) {
	env, key, err := settings(Options{
		AccessLifetime: 1500 * time.Millisecond,
		Users:          []User{{Username: "ana", Password: "p:w,x", Groups: []string{"a", "b"}}},
		SigningKey:     "k",
	})
	if err != nil || key != "k" {
		t.Fatal(err, key)
	}
	for _, kv := range []string{
		"DJANGOAPP_ACCESS_TOKEN_LIFETIME=1.5",
		"DJANGOAPP_REFRESH_TOKEN_LIFETIME=86400",
		"DJANGOAPP_ROTATE_REFRESH_TOKENS=0",
		"DJANGOAPP_BLACKLIST_AFTER_ROTATION=0",
		"DJANGOAPP_SIGNING_KEY=k",
		`DJANGOAPP_USERS=[{"username":"ana","password":"p:w,x","groups":["a","b"],"is_staff":false}]`,
	} {
		found := false
		for _, e := range env {
			found = found || e == kv
		}
		if !found {
			t.Errorf("no %s", kv)
		}
	}
	if _, _, err := settings(Options{RefreshLifetime: -time.Second}); err == nil {
		t.Error("a negative lifetime was accepted")
	}
	if _, key, _ := settings(Options{}); len(key) != 64 {
		t.Errorf("random key %q", key)
	}
}

func TestAllowedHosts(t *testing.T) {
	s := Start(t, Options{AllowedHosts: []string{"app.test"}})
	for host, status := range map[string]int{"app.test": http.StatusUnauthorized, "localhost": http.StatusUnauthorized, "other.test": http.StatusBadRequest} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+MePath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, status)
		}
	}
}

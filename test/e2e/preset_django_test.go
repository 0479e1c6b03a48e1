package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/djangorun"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// The django-simplejwt preset through a real Traefik, in front of a real
// Django REST framework + simplejwt backend (../djangorun: Debian's
// packages, rotation and blacklisting after rotation on): the behaviour
// suite the default backend passes, as far as Django has the features (it
// has no guests). Every site's options are the preset, the backend's URL,
// the login and logout endpoints, the routes and plain-http cookies, plus
// the one option a case is about (cache.ttl, refresh.graceWindow, csrf).
// Backend calls are counted by Django itself (djangorun's Counts).
//
//	cd test && TRAEFIK_BIN=… AUTHLAYER_REQUIRE_DJANGO=1 go test -count=1 -v -run TestDjango ./e2e/

// Paths of the Django sites: /app and /api/app need a user, /admin the
// role admin (alice's group; bob has none).
const (
	djangoPage  = "/app"
	djangoAPI   = "/api/app"
	djangoAdmin = "/admin"
)

// djangoSite is a site's options for the Django backend srv, extra merged
// on top.
func djangoSite(srv *djangorun.Server, extra m) m {
	o := m{
		"backend":   m{"url": srv.URL(), "preset": "django-simplejwt", "timeout": "5s"},
		"cookies":   m{"secure": "false"},
		"endpoints": m{"login": "/auth/login", "logout": "/auth/logout"},
		"routes": m{
			"protected": testkit.List(djangoPage, djangoAPI),
			"roles":     []interface{}{m{"path": djangoAdmin, "roles": testkit.List("admin")}},
		},
	}
	testkit.Merge(o, extra)
	return o
}

// startDjangoSuite starts Traefik (skipping or failing as the suite does
// without one) after checking for Django (skipped without it unless
// AUTHLAYER_REQUIRE_DJANGO=1), so that neither is started for nothing.
func startDjangoSuite(t *testing.T) *suite {
	t.Helper()
	djangorun.Need(t)
	traefikrun.Binary(t)
	began := time.Now()
	s := start(t, traefikrun.Options{})
	t.Logf("Traefik started in %s", time.Since(began).Round(time.Millisecond))
	return s
}

// startDjango starts one Django backend and logs how long it took.
func startDjango(t *testing.T, what string, o djangorun.Options) *djangorun.Server {
	t.Helper()
	srv := djangorun.Start(t, o)
	t.Logf("Django (%s) on %s, started in %s", what, srv.URL(), srv.StartupTime().Round(time.Millisecond))
	return srv
}

// claimsOf decodes a JWT's payload without checking it (numbers kept as
// json.Number); a token that is not a JWT fails the test.
func claimsOf(t *testing.T, token string) map[string]interface{} {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c map[string]interface{}
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return c
}

// claimString is claim key of token as text ("" when absent).
func claimString(t *testing.T, token, key string) string {
	t.Helper()
	switch v := claimsOf(t, token)[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// expiry is the token's exp.
func expiry(t *testing.T, token string) time.Time {
	t.Helper()
	n, err := claimsOf(t, token)["exp"].(json.Number).Int64()
	if err != nil {
		t.Fatalf("exp: %v", err)
	}
	return time.Unix(n, 0)
}

// waitPast sleeps until every token has expired at the backend: simplejwt
// refuses a token once the current second passes its exp (whole seconds),
// so a second after exp, with a little margin.
func waitPast(t *testing.T, what string, tokens ...string) {
	t.Helper()
	var last time.Time
	for _, tok := range tokens {
		if e := expiry(t, tok); e.After(last) {
			last = e
		}
	}
	d := time.Until(last.Add(time.Second + 100*time.Millisecond))
	if d > 30*time.Second {
		t.Fatalf("%s: the tokens expire in %s: not a short-lived test token", what, d)
	}
	if d > 0 {
		t.Logf("waiting %s for %s to expire at the backend", d.Round(time.Millisecond), what)
		time.Sleep(d)
	}
}

// setCookie is the value res sets for name, "" when it sets none (or only
// clears it).
func setCookie(res *testkit.Result, name string) string {
	for _, c := range res.SetCookies(name) {
		if !testkit.IsClearing(c) {
			return c.Value
		}
	}
	return ""
}

// decodedUser is the upstream's X-Auth-User as a JSON object (nil when
// absent or not one).
func decodedUser(r *testkit.Result) map[string]interface{} {
	if r.Upstream == nil {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(r.Upstream.Get(testkit.HeaderUser))
	if err != nil {
		return nil
	}
	var u map[string]interface{}
	if json.Unmarshal(raw, &u) != nil {
		return nil
	}
	return u
}

// wantClaimsIdentity checks what the app got for a session on access: the
// identity read from the token's claims (X-Auth-User-Id = user_id,
// X-Auth-Token-Type = token_type "access", X-Auth-User = the claims,
// roles included), the token as a Bearer header, and X-Refreshed-Token
// only when refreshed.
func wantClaimsIdentity(t *testing.T, r *testkit.Result, access, username string, roles []interface{}, refreshed bool) {
	t.Helper()
	testkit.WantForwarded(t, r)
	h := r.Upstream
	if got, want := h.Get(testkit.HeaderUserID), claimString(t, access, "user_id"); got != want || want == "" {
		t.Errorf("upstream %s: got %q, want %q (the user_id claim)", testkit.HeaderUserID, got, want)
	}
	if got := h.Get(testkit.HeaderTokenType); got != "access" {
		t.Errorf("upstream %s: got %q, want access (the token_type claim)", testkit.HeaderTokenType, got)
	}
	if got := h.Get(testkit.HeaderAuthz); got != "Bearer "+access {
		t.Errorf("upstream Authorization: not the session's access token")
	}
	if got := h.Get(testkit.HeaderRefreshed); (got != "") != refreshed || (refreshed && got != access) {
		t.Errorf("upstream %s: present %v, want present %v with the new token", testkit.HeaderRefreshed, got != "", refreshed)
	}
	u := decodedUser(r)
	if u == nil {
		t.Fatalf("upstream %s: not base64 of a JSON object", testkit.HeaderUser)
	}
	if u["username"] != username || u["token_type"] != "access" || u["jti"] != claimString(t, access, "jti") {
		t.Errorf("upstream %s: username %v token_type %v, want %s's access token's claims", testkit.HeaderUser, u["username"], u["token_type"], username)
	}
	if !reflect.DeepEqual(u["roles"], roles) {
		t.Errorf("upstream %s roles: got %v, want %v", testkit.HeaderUser, u["roles"], roles)
	}
}

// countsLine is Django's request counts, for failure messages and logs.
func countsLine(c map[string]int) string {
	parts := []string{}
	for _, p := range []string{djangorun.TokenPath, djangorun.VerifyPath, djangorun.RefreshPath, djangorun.BlacklistPath} {
		name := strings.Trim(strings.TrimPrefix(p, "/api/token/"), "/")
		if name == "" {
			name = "token"
		}
		parts = append(parts, name+"="+strconv.Itoa(c[p]))
	}
	return strings.Join(parts, " ")
}

// TestDjangoSessions: login through endpoints.login (JSON and an HTML
// form), validation through token/verify/ with the identity from the
// token's claims, role rules on the "roles" claim, the validation cache
// and deduplication, CSRF, and logout blacklisting the refresh token,
// against Django with simplejwt's default lifetimes.
func TestDjangoSessions(t *testing.T) {
	s := startDjangoSuite(t)
	srv := startDjango(t, "5 min access tokens, rotation, blacklist", djangorun.Defaults())
	const cacheTTL = time.Second
	began := time.Now()
	s.deploy(t, sites{
		"dj":      djangoSite(srv, nil),
		"djcache": djangoSite(srv, m{"cache": m{"ttl": cacheTTL.String()}}),
		"djcsrf":  djangoSite(srv, m{"csrf": m{"enabled": "true", "secret": csrfSecret}}),
	})
	t.Logf("sites deployed in %s", time.Since(began).Round(time.Millisecond))
	adminRoles := testkit.List("admin")

	t.Run("JSON login, validation from the claims", func(t *testing.T) {
		srv.ResetCounts(t)
		r := s.do(t, api("dj", "/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"alice-pw"}`))
		access, refresh := setCookie(r, testkit.UserCookie), setCookie(r, testkit.RefreshCookie)
		if r.Code != http.StatusOK || access == "" || refresh == "" {
			t.Fatalf("JSON login: %d %s, Set-Cookie for %v", r.Code, r.Body, setCookieNames(r))
		}
		if strings.Contains(r.Body, access) || strings.Contains(r.Body, refresh) {
			t.Error("the login answer holds a token")
		}
		c := srv.Counts(t)
		t.Logf("JSON login: %d in %s; Django calls %s", r.Code, r.Elapsed.Round(time.Millisecond), countsLine(c))
		if c[djangorun.TokenPath] != 1 || c[djangorun.VerifyPath] != 1 {
			t.Errorf("Django calls for a login: %s, want token=1 verify=1", countsLine(c))
		}

		p := s.do(t, page("dj", djangoPage).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		wantClaimsIdentity(t, p, access, "alice", adminRoles, false)
		testkit.WantNoSetCookie(t, p)
		if n := srv.Counts(t)[djangorun.VerifyPath]; n != 1 {
			t.Errorf("verify calls after the login's token was used: %d, want 1 (the login validated it)", n)
		}

		// verify/ accepts refresh tokens too: the token_type claim keeps
		// one in the access cookie from being a session.
		w := s.do(t, api("dj", djangoAPI).Cookie(testkit.UserCookie, refresh))
		testkit.WantNotForwarded(t, w)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("a refresh token as the access cookie: %d %s, want 401", w.Code, w.Body)
		}

		bad := s.do(t, api("dj", "/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"wrong"}`))
		if bad.Code != http.StatusUnauthorized || setCookie(bad, testkit.UserCookie) != "" {
			t.Errorf("JSON login with a wrong password: %d %s, Set-Cookie %q", bad.Code, bad.Body, bad.Header.Values("Set-Cookie"))
		}
		t.Logf("wrong password: %d %s", bad.Code, bad.Body)
	})

	t.Run("form login", func(t *testing.T) {
		form := url.Values{"username": {"bob"}, "password": {"bob-pw"}, "redirect": {djangoPage}}
		r := s.do(t, page("dj", "/auth/login").With(http.MethodPost).WithBody("application/x-www-form-urlencoded", form.Encode()))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != djangoPage || r.Upstream != nil {
			t.Fatalf("form login: %d Location %q forwarded %v, want 303 %s", r.Code, r.Header.Get("Location"), r.Upstream != nil, djangoPage)
		}
		access, refresh := setCookie(r, testkit.UserCookie), setCookie(r, testkit.RefreshCookie)
		if access == "" || refresh == "" {
			t.Fatalf("form login: Set-Cookie %v, want both token cookies", setCookieNames(r))
		}
		for _, c := range r.Cookies {
			if (c.Name == testkit.UserCookie || c.Name == testkit.RefreshCookie) && !c.HttpOnly {
				t.Errorf("cookie %s is not HttpOnly", c.Name)
			}
		}
		p := s.do(t, page("dj", djangoPage).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		wantClaimsIdentity(t, p, access, "bob", testkit.List(), false)

		form.Set("password", "wrong")
		r = s.do(t, page("dj", "/auth/login").With(http.MethodPost).WithBody("application/x-www-form-urlencoded", form.Encode()))
		if want := "/login?error=invalid_credentials&redirect=%2Fapp"; r.Code != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("failed form login: %d Location %q, want 303 %s", r.Code, r.Header.Get("Location"), want)
		}
	})

	t.Run("role rule on the roles claim", func(t *testing.T) {
		alice, _ := srv.Login(t, "alice", "alice-pw")
		bob, _ := srv.Login(t, "bob", "bob-pw")
		wantClaimsIdentity(t, s.do(t, page("dj", djangoAdmin).Cookie(testkit.UserCookie, alice)), alice, "alice", adminRoles, false)
		r := s.do(t, page("dj", djangoAdmin).Cookie(testkit.UserCookie, bob))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusForbidden {
			t.Errorf("bob (no group) on %s: %d, want 403", djangoAdmin, r.Code)
		}
		r = s.do(t, api("dj", djangoAdmin).Cookie(testkit.UserCookie, bob))
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusForbidden)
		r = s.do(t, page("dj", djangoAdmin))
		testkit.WantLoginRedirect(t, r, http.StatusFound, djangoAdmin)
	})

	t.Run("cache and deduplication", func(t *testing.T) {
		access, _ := srv.Login(t, "alice", "alice-pw") // never seen by the middleware
		srv.ResetCounts(t)
		const burstN = 32
		startB := time.Now()
		results := s.startBurst(burstN, page("djcache", djangoPage).Cookie(testkit.UserCookie, access)).collect(t)
		burstTook := time.Since(startB)
		for _, r := range results {
			testkit.WantForwarded(t, r)
		}
		wantClaimsIdentity(t, results[0], access, "alice", adminRoles, false)
		verify := srv.Counts(t)[djangorun.VerifyPath]
		t.Logf("burst of %d requests with one new token: %d verify call(s) in %s", burstN, verify, burstTook.Round(time.Millisecond))
		if maxCalls := 1 + int(burstTook/cacheTTL); verify < 1 || verify > maxCalls {
			t.Errorf("verify calls for a burst of %d taking %s: %d, want 1 (at most %d at cache.ttl %s)", burstN, burstTook.Round(time.Millisecond), verify, maxCalls, cacheTTL)
		}

		// Steady traffic with the same token for 2.5 cache lifetimes: one
		// verify call per cache.ttl.
		srv.ResetCounts(t)
		const workers = 4
		var mu sync.Mutex
		sent, served := 0, 0
		startS := time.Now()
		deadline := startS.Add(cacheTTL*5/2 + 50*time.Millisecond)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A request every 10 ms or so per worker, bounded.
				for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
					r, err := s.send(page("djcache", djangoPage).Cookie(testkit.UserCookie, access))
					mu.Lock()
					sent++
					if err == nil && r.Upstream != nil && r.Code == http.StatusOK {
						served++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		took := time.Since(startS)
		verify = srv.Counts(t)[djangorun.VerifyPath]
		lifetimes := int(took / cacheTTL)
		t.Logf("steady traffic: %d requests (%d served) in %s, %d verify calls (cache.ttl %s: %.1f requests per verify call)",
			sent, served, took.Round(time.Millisecond), verify, cacheTTL, float64(sent)/float64(max(verify, 1)))
		if served != sent {
			t.Errorf("%d of %d requests served", served, sent)
		}
		if verify < lifetimes || verify > lifetimes+1 {
			t.Errorf("verify calls over %s at cache.ttl %s: %d, want %d or %d", took.Round(time.Millisecond), cacheTTL, verify, lifetimes, lifetimes+1)
		}
	})

	t.Run("CSRF on a POST to a protected path", func(t *testing.T) {
		alice, _ := srv.Login(t, "alice", "alice-pw")
		bob, _ := srv.Login(t, "bob", "bob-pw")
		r := s.do(t, page("djcsrf", djangoPage).Cookie(testkit.UserCookie, alice))
		wantClaimsIdentity(t, r, alice, "alice", adminRoles, false)
		tok := setCookie(r, csrfCookie)
		if tok == "" {
			t.Fatalf("no %s cookie on alice's first page: %q", csrfCookie, r.Header.Values("Set-Cookie"))
		}
		post := func(user, cookieTok, headerTok string) testkit.Request {
			rq := api("djcsrf", djangoPage+"/form").With(http.MethodPost).WithBody("application/json", `{}`).Cookie(testkit.UserCookie, user)
			if cookieTok != "" {
				rq = rq.Cookie(csrfCookie, cookieTok)
			}
			if headerTok != "" {
				rq = rq.WithHeader(csrfHeader, headerTok)
			}
			return rq
		}
		wantClaimsIdentity(t, s.do(t, post(alice, tok, tok)), alice, "alice", adminRoles, false)
		testkit.WantCSRFRejected(t, s.do(t, post(alice, "", "")))
		testkit.WantCSRFRejected(t, s.do(t, post(alice, tok, "")))
		testkit.WantCSRFRejected(t, s.do(t, post(bob, tok, tok))) // bound to alice's user id

		// A cross-site POST is refused before any backend call.
		fresh, _ := srv.Login(t, "alice", "alice-pw")
		srv.ResetCounts(t)
		testkit.WantCSRFRejected(t, s.do(t, post(fresh, tok, tok).WithHeader("Sec-Fetch-Site", "cross-site")))
		if c := srv.Counts(t); c[djangorun.VerifyPath]+c[djangorun.RefreshPath] != 0 {
			t.Errorf("Django calls for a cross-site POST: %s, want none", countsLine(c))
		}
		// Same-origin Fetch Metadata passes without the token.
		wantClaimsIdentity(t, s.do(t, post(alice, "", "").WithHeader("Sec-Fetch-Site", "same-origin")), alice, "alice", adminRoles, false)
	})

	t.Run("logout blacklists the refresh token", func(t *testing.T) {
		r := s.do(t, api("dj", "/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"alice-pw"}`))
		access, refresh := setCookie(r, testkit.UserCookie), setCookie(r, testkit.RefreshCookie)
		if r.Code != http.StatusOK || access == "" || refresh == "" {
			t.Fatalf("login: %d %s", r.Code, r.Body)
		}
		wantClaimsIdentity(t, s.do(t, page("dj", djangoPage).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)), access, "alice", adminRoles, false)

		srv.ResetCounts(t)
		out := s.do(t, api("dj", "/auth/logout").With(http.MethodPost).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		c := srv.Counts(t)
		t.Logf("logout: %d %s in %s; Django calls %s", out.Code, out.Body, out.Elapsed.Round(time.Millisecond), countsLine(c))
		if out.Code != http.StatusOK {
			t.Fatalf("logout: %d %s", out.Code, out.Body)
		}
		testkit.WantCookieCleared(t, out, testkit.UserCookie)
		testkit.WantCookieCleared(t, out, testkit.RefreshCookie)
		if c[djangorun.BlacklistPath] != 1 {
			t.Errorf("blacklist calls at logout: %d, want 1", c[djangorun.BlacklistPath])
		}
		if resp := srv.Post(t, djangorun.RefreshPath, map[string]string{"refresh": refresh}); resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "blacklisted") {
			t.Errorf("the logged-out refresh token at the backend: %s, want 401 Token is blacklisted", resp)
		}

		// simplejwt blacklists refresh tokens only: its verify/ still
		// accepts the access token. What refuses it now is authlayer's
		// logout mark.
		if resp := srv.Post(t, djangorun.VerifyPath, map[string]string{"token": access}); resp.Status != http.StatusOK {
			t.Logf("the logged-out access token at the backend's verify/: %s", resp)
		}

		// The old cookies replayed: the page sends to the login page, the
		// API answers 401, and no refresh is even tried (the verify call
		// below is the garbage access token's).
		srv.ResetCounts(t)
		p := s.do(t, page("dj", djangoPage).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		testkit.WantNotForwarded(t, p)
		testkit.WantLoginRedirect(t, p, http.StatusFound, djangoPage)
		a := s.do(t, api("dj", djangoAPI).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		testkit.WantNotForwarded(t, a)
		testkit.WantJSONError(t, a, http.StatusUnauthorized)
		o := s.do(t, api("dj", djangoAPI).Cookie(testkit.UserCookie, "expired.or.garbage").Cookie(testkit.RefreshCookie, refresh))
		testkit.WantNotForwarded(t, o)
		c = srv.Counts(t)
		t.Logf("replays of the logged-out cookies: page %d, API %d, refresh cookie alone %d; Django calls %s", p.Code, a.Code, o.Code, countsLine(c))
		if c[djangorun.RefreshPath] != 0 {
			t.Errorf("refresh calls for logged-out cookies: %d, want 0", c[djangorun.RefreshPath])
		}
	})
}

// TestDjangoRefresh: real token expiry (2 s access tokens), refresh storms
// of 2, 8 and 32 parallel requests (one refresh call per credential, every
// request served, rotated cookies), the grace window and a replay after it
// (simplejwt's 401 "Token is blacklisted": reuse, logged out), and the
// cascade when the refresh token has expired too.
func TestDjangoRefresh(t *testing.T) {
	s := startDjangoSuite(t)
	short := djangorun.Defaults()
	short.AccessLifetime = 2 * time.Second
	srv := startDjango(t, "2 s access tokens, rotation, blacklist", short)
	both := djangorun.Defaults()
	both.AccessLifetime, both.RefreshLifetime = time.Second, 2*time.Second
	gone := startDjango(t, "1 s access and 2 s refresh tokens", both)
	const grace = time.Second
	s.deploy(t, sites{
		"storm": djangoSite(srv, nil),
		"reuse": djangoSite(srv, m{"refresh": m{"graceWindow": grace.String()}}),
		"gone":  djangoSite(gone, nil),
	})
	adminRoles := testkit.List("admin")

	// Every pair first, then one wait for their real expiry.
	sizes := []int{2, 8, 32}
	type pair struct{ access, refresh string }
	storms := make([]pair, len(sizes))
	for i := range sizes {
		storms[i].access, storms[i].refresh = srv.Login(t, "alice", "alice-pw")
	}
	var replay pair
	replay.access, replay.refresh = srv.Login(t, "alice", "alice-pw")
	var expired pair
	expired.access, expired.refresh = gone.Login(t, "alice", "alice-pw")
	waitPast(t, "the 2 s access tokens", storms[0].access, storms[1].access, storms[2].access, replay.access)

	t.Run("refresh storms", func(t *testing.T) {
		for i, n := range sizes {
			p := storms[i]
			srv.ResetCounts(t)
			began := time.Now()
			results := s.startBurst(n, page("storm", djangoPage).Cookie(testkit.UserCookie, p.access).Cookie(testkit.RefreshCookie, p.refresh)).collect(t)
			took := time.Since(began)
			c := srv.Counts(t)
			t.Logf("storm of %d requests with one expired access token: %s; Django calls %s", n, took.Round(time.Millisecond), countsLine(c))
			if c[djangorun.RefreshPath] != 1 {
				t.Errorf("storm of %d: %d refresh calls, want 1", n, c[djangorun.RefreshPath])
			}
			newAccess, newRefresh := setCookie(results[0], testkit.UserCookie), setCookie(results[0], testkit.RefreshCookie)
			if newAccess == "" || newAccess == p.access {
				t.Fatalf("storm of %d: no new access cookie (Set-Cookie %v, status %d)", n, setCookieNames(results[0]), results[0].Code)
			}
			if newRefresh == "" || newRefresh == p.refresh {
				t.Errorf("storm of %d: no rotated refresh cookie (rotation is on)", n)
			}
			testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
				wantClaimsIdentity(t, r, newAccess, "alice", adminRoles, true)
				testkit.WantCookieSet(t, r, testkit.UserCookie, newAccess)
				testkit.WantCookieSet(t, r, testkit.RefreshCookie, newRefresh)
			})
			if !expiry(t, newAccess).After(time.Now()) {
				t.Errorf("storm of %d: the new access token has already expired", n)
			}
			// The rotated pair is a working session; the old refresh
			// token is blacklisted at the backend.
			wantClaimsIdentity(t, s.do(t, page("storm", djangoPage).Cookie(testkit.UserCookie, newAccess).Cookie(testkit.RefreshCookie, newRefresh)), newAccess, "alice", adminRoles, false)
			if resp := srv.Post(t, djangorun.RefreshPath, map[string]string{"refresh": p.refresh}); resp.Status != http.StatusUnauthorized {
				t.Errorf("storm of %d: the rotated-away refresh token at the backend: %s, want 401", n, resp)
			}
		}
	})

	t.Run("replay after the grace window is reuse", func(t *testing.T) {
		srv.ResetCounts(t)
		first := s.do(t, page("reuse", djangoPage).Cookie(testkit.UserCookie, replay.access).Cookie(testkit.RefreshCookie, replay.refresh))
		newAccess, newRefresh := setCookie(first, testkit.UserCookie), setCookie(first, testkit.RefreshCookie)
		if newAccess == "" || newRefresh == "" || newRefresh == replay.refresh {
			t.Fatalf("refresh: %d, Set-Cookie %v, want a new access and a rotated refresh token", first.Code, setCookieNames(first))
		}
		wantClaimsIdentity(t, first, newAccess, "alice", adminRoles, true)
		refreshedAt := time.Now()

		// Within the grace window, a straggler with the old cookies gets
		// the same new pair without a second refresh call.
		again := s.do(t, page("reuse", djangoPage).Cookie(testkit.UserCookie, replay.access).Cookie(testkit.RefreshCookie, replay.refresh))
		inGrace := time.Since(refreshedAt) < grace
		c := srv.Counts(t)
		t.Logf("the old cookies again %s after the refresh: %d; Django calls %s", time.Since(refreshedAt).Round(time.Millisecond), again.Code, countsLine(c))
		if inGrace {
			wantClaimsIdentity(t, again, newAccess, "alice", adminRoles, true)
			testkit.WantCookieSet(t, again, testkit.RefreshCookie, newRefresh)
			if c[djangorun.RefreshPath] != 1 {
				t.Errorf("refresh calls with a straggler inside the grace window: %d, want 1", c[djangorun.RefreshPath])
			}
		}

		time.Sleep(time.Until(refreshedAt.Add(grace + 200*time.Millisecond)))
		srv.ResetCounts(t)
		p := s.do(t, page("reuse", djangoPage).Cookie(testkit.UserCookie, replay.access).Cookie(testkit.RefreshCookie, replay.refresh))
		c = srv.Counts(t)
		t.Logf("replay after the grace window: %d Location %q; Django calls %s", p.Code, p.Header.Get("Location"), countsLine(c))
		if c[djangorun.RefreshPath] != 1 {
			t.Errorf("refresh calls for the replay: %d, want 1 (answered 401 Token is blacklisted)", c[djangorun.RefreshPath])
		}
		testkit.WantNotForwarded(t, p)
		testkit.WantCookieCleared(t, p, testkit.UserCookie)
		testkit.WantCookieCleared(t, p, testkit.RefreshCookie)
		testkit.WantLoginRedirect(t, p, http.StatusFound, djangoPage)

		a := s.do(t, api("reuse", djangoAPI).Cookie(testkit.UserCookie, replay.access).Cookie(testkit.RefreshCookie, replay.refresh))
		testkit.WantNotForwarded(t, a)
		testkit.WantJSONError(t, a, http.StatusUnauthorized)
		testkit.WantCookieCleared(t, a, testkit.UserCookie)
		testkit.WantCookieCleared(t, a, testkit.RefreshCookie)
		if resp := srv.Post(t, djangorun.RefreshPath, map[string]string{"refresh": replay.refresh}); resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "blacklisted") {
			t.Errorf("the replayed token at the backend: %s, want 401 Token is blacklisted", resp)
		}
	})

	t.Run("expired access and refresh tokens", func(t *testing.T) {
		waitPast(t, "the 2 s refresh token", expired.refresh)
		if resp := gone.Post(t, djangorun.RefreshPath, map[string]string{"refresh": expired.refresh}); resp.Status != http.StatusUnauthorized {
			t.Fatalf("the expired refresh token at the backend: %s, want 401", resp)
		}
		gone.ResetCounts(t)
		p := s.do(t, page("gone", djangoPage).Cookie(testkit.UserCookie, expired.access).Cookie(testkit.RefreshCookie, expired.refresh))
		testkit.WantNotForwarded(t, p)
		testkit.WantLoginRedirect(t, p, http.StatusFound, djangoPage)
		testkit.WantCookieCleared(t, p, testkit.UserCookie)
		testkit.WantCookieCleared(t, p, testkit.RefreshCookie)
		a := s.do(t, api("gone", djangoAPI).Cookie(testkit.UserCookie, expired.access).Cookie(testkit.RefreshCookie, expired.refresh))
		testkit.WantNotForwarded(t, a)
		testkit.WantJSONError(t, a, http.StatusUnauthorized)
		testkit.WantCookieCleared(t, a, testkit.UserCookie)
		testkit.WantCookieCleared(t, a, testkit.RefreshCookie)
		// A public page is served anonymously (no guests), the cookies
		// cleared.
		pub := s.do(t, page("gone", "/news").Cookie(testkit.UserCookie, expired.access).Cookie(testkit.RefreshCookie, expired.refresh))
		testkit.WantAnonymous(t, pub)
		testkit.WantCookieCleared(t, pub, testkit.UserCookie)
		testkit.WantCookieCleared(t, pub, testkit.RefreshCookie)
		t.Logf("expired pair: page %d Location %q, API %d %s, public page %d; Django calls %s",
			p.Code, p.Header.Get("Location"), a.Code, a.Body, pub.Code, countsLine(gone.Counts(t)))
	})
}

// setCookieNames lists the cookies a response sets or clears, without
// values.
func setCookieNames(r *testkit.Result) []string {
	out := make([]string, 0, len(r.Cookies))
	for _, c := range r.Cookies {
		name := c.Name
		if testkit.IsClearing(c) {
			name += " (cleared)"
		}
		out = append(out, name)
	}
	return out
}

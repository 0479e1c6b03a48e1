package contract

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/oauth2server"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/zitadelrun"
)

// The oauth2 preset, compiled and under Yaegi, against two authorization
// servers:
//
//   - a real OpenID Provider, zitadel/oidc's example server (../zitadelrun,
//     built from the Go module proxy): validation at userinfo, a refresh
//     burst with rotation (one token call), a replayed refresh token
//     (invalid_grant) ending the session, logout revoking the refresh
//     token (RFC 7009). It has no password grant, so the session starts
//     with tokens from its authorization code flow, set as cookies.
//   - the tests' own RFC 6749 server (../oauth2server), which has the
//     password grant: login through endpoints.login, then the same, with
//     the exact requests the preset sends checked (form fields, client
//     authentication) and a server that revokes the whole token family
//     on a replay (as Auth0 and Okta do).
//
// Each runs for a confidential client (HTTP Basic, RFC 6749 §2.3.1) and a
// public one (client_id in the form). The options are the preset, the
// URL, the client and the endpoints (and, for zitadel, its token path).

// oauth2Opts is the whole configuration of an oauth2-preset user.
func oauth2Opts(url, clientID, secret string, extra m) m {
	backend := m{"url": url, "preset": "oauth2", "clientId": clientID}
	if secret != "" {
		backend["clientSecret"] = secret
	}
	o := m{
		"backend":   backend,
		"cookies":   m{"secure": "false"},
		"routes":    m{"protected": []interface{}{"/app"}},
		"endpoints": m{"login": "/auth/login", "logout": "/auth/logout"},
	}
	testkit.Merge(o, extra)
	return o
}

// oauth2Client is one client kind under test.
type oauth2Client struct {
	name, id, secret string
}

// refreshBurst sends n requests at once through h with the given cookies and
// returns their results.
func refreshBurst(t *testing.T, e *env, h http.Handler, n int, access, refresh string) []*testkit.Result {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]*testkit.Result, n)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.do(t, h, testkit.Page("/app").Cookie("userToken", access).Cookie("refreshToken", refresh))
		}(i)
	}
	wg.Wait()
	return results
}

// wantOneRefresh checks a burst's results: all forwarded as userID with
// the same new access token, and a rotated refresh token; it returns the
// new tokens.
func wantOneRefresh(t *testing.T, results []*testkit.Result, oldRefresh, userID string) (string, string) {
	t.Helper()
	newAccess, newRefresh := cookieValue(results[0], "userToken"), cookieValue(results[0], "refreshToken")
	for i, r := range results {
		testkit.WantForwarded(t, r)
		if got := r.Upstream.Get(testkit.HeaderUserID); got != userID {
			t.Errorf("request %d: %s %q, want %q", i, testkit.HeaderUserID, got, userID)
		}
		if cookieValue(r, "userToken") != newAccess || newAccess == "" {
			t.Errorf("request %d did not get the refreshed access token", i)
		}
	}
	if newRefresh == "" || newRefresh == oldRefresh {
		t.Errorf("no rotated refresh token set (the server rotates)")
	}
	return newAccess, newRefresh
}

// wantSessionEnded checks that a request was not let through and its
// cookies were cleared.
func wantSessionEnded(t *testing.T, r *testkit.Result) {
	t.Helper()
	testkit.WantNotForwarded(t, r)
	testkit.WantCookieCleared(t, r, "refreshToken")
	testkit.WantCookieCleared(t, r, "userToken")
}

func TestOAuth2PresetZitadel(t *testing.T) {
	srv := zitadelrun.Start(t, zitadelrun.Defaults())
	clients := []oauth2Client{
		{"confidential", zitadelrun.WebClientID, zitadelrun.WebClientSecret},
		{"public", zitadelrun.NativeClientID, ""},
	}
	run(t, func(t *testing.T, e *env) {
		for _, c := range clients {
			t.Run(c.name, func(t *testing.T) {
				opts := oauth2Opts(srv.URL(), c.id, c.secret, m{"backend": m{"refreshPath": strings.TrimPrefix(zitadelrun.TokenPath, "/")}})
				h := e.handler(t, opts)
				tk := srv.Login(t, c.id, "alice", "alice-pw")

				// Validation: GET userinfo with the Bearer token; the
				// user is the answer, its id the "sub".
				srv.ResetCounts()
				page := e.do(t, h, testkit.Page("/app").Cookie("userToken", tk.Access))
				testkit.WantForwarded(t, page)
				if got := page.Upstream.Get(testkit.HeaderUserID); got != "u-alice" {
					t.Errorf("%s %q, want the sub u-alice", testkit.HeaderUserID, got)
				}
				if n := srv.Count(zitadelrun.UserinfoPath); n != 1 {
					t.Errorf("%d userinfo calls, want 1 (counts %v)", n, srv.Counts())
				}

				// Refresh: an unusable access token beside the refresh
				// cookie; a burst makes one token call.
				srv.ResetCounts()
				results := refreshBurst(t, e, h, 8, "expired-or-garbage", tk.Refresh)
				if n := srv.Count(zitadelrun.TokenPath); n != 1 {
					t.Errorf("%d token calls for one burst, want 1 (counts %v)", n, srv.Counts())
				}
				newAccess, newRefresh := wantOneRefresh(t, results, tk.Refresh, "u-alice")
				if r := srv.Userinfo(t, newAccess); r.Status != http.StatusOK || r.Field("sub") != "u-alice" {
					t.Errorf("the access token set by the refresh is not the provider's: %s", r)
				}

				// A replay of the rotated refresh token from another
				// instance (no memo of it): 400 invalid_grant, the
				// session ends.
				srv.ResetCounts()
				other := e.handler(t, opts)
				wantSessionEnded(t, e.do(t, other, testkit.Page("/app").Cookie("userToken", "expired-or-garbage").Cookie("refreshToken", tk.Refresh)))
				if n := srv.Count(zitadelrun.TokenPath); n != 1 {
					t.Errorf("%d token calls for the replay, want 1", n)
				}

				// Logout revokes the refresh token (RFC 7009).
				srv.ResetCounts()
				out := e.do(t, h, testkit.API("/auth/logout").With(http.MethodPost).Cookie("userToken", newAccess).Cookie("refreshToken", newRefresh))
				if out.Code != http.StatusOK {
					t.Fatalf("logout: %d %s", out.Code, out.Body)
				}
				if n := srv.Count(zitadelrun.RevokePath); n != 1 {
					t.Errorf("%d revocation calls at logout, want 1 (counts %v)", n, srv.Counts())
				}
				if r := srv.Refresh(t, c.id, newRefresh); r.Status != http.StatusBadRequest || r.Field("error") != "invalid_grant" {
					t.Errorf("the logged-out refresh token still refreshes: %s", r)
				}
			})
		}
	})
}

func TestOAuth2PresetRFC6749Server(t *testing.T) {
	srv := oauth2server.Start(t, oauth2server.Defaults())
	clients := []oauth2Client{
		{"confidential", oauth2server.ConfidentialID, oauth2server.ConfidentialSecret},
		{"public", oauth2server.PublicID, ""},
	}
	alice := map[string]interface{}{
		"sub": "sub-alice", "preferred_username": "alice", "roles": []interface{}{"admin", "staff"}, "email": "alice@example.test",
	}
	run(t, func(t *testing.T, e *env) {
		for _, c := range clients {
			t.Run(c.name, func(t *testing.T) {
				opts := oauth2Opts(srv.URL(), c.id, c.secret, nil)
				h := e.handler(t, opts)

				// Login: the password grant at POST token.
				srv.ResetCounts()
				login := e.do(t, h, testkit.API("/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"alice-pw"}`))
				access, refresh := cookieValue(login, "userToken"), cookieValue(login, "refreshToken")
				if login.Code != http.StatusOK || access == "" || refresh == "" {
					t.Fatalf("login: %d %s, cookies %v; server calls %v", login.Code, login.Body, login.Header["Set-Cookie"], srv.Calls(oauth2server.TokenPath))
				}
				wantTokenCall(t, srv.Calls(oauth2server.TokenPath), c, map[string]string{
					"grant_type": "password", "username": "alice", "password": "alice-pw",
				}, http.StatusOK)
				// The login validates its new token at userinfo.
				wantUserinfoCall(t, srv.Calls(oauth2server.UserinfoPath))

				// Validation on an instance that has not seen the token:
				// GET userinfo with the Bearer token; the user is the
				// whole answer, its id the "sub".
				srv.ResetCounts()
				page := e.do(t, e.handler(t, opts), testkit.Page("/app").Cookie("userToken", access))
				testkit.WantForwarded(t, page)
				if got := page.Upstream.Get(testkit.HeaderUserID); got != "sub-alice" {
					t.Errorf("%s %q, want the sub sub-alice", testkit.HeaderUserID, got)
				}
				testkit.WantUserHeader(t, page.Upstream.Values(testkit.HeaderUser), alice)
				wantUserinfoCall(t, srv.Calls(oauth2server.UserinfoPath))

				// Refresh: a burst with an unusable access token and the
				// refresh cookie makes one refresh_token grant.
				srv.ResetCounts()
				results := refreshBurst(t, e, h, 8, "expired-or-garbage", refresh)
				wantTokenCall(t, srv.Calls(oauth2server.TokenPath), c, map[string]string{
					"grant_type": "refresh_token", "refresh_token": refresh,
				}, http.StatusOK)
				newAccess, newRefresh := wantOneRefresh(t, results, refresh, "sub-alice")

				// A replay of the rotated refresh token from another
				// instance: invalid_grant, the session ends; the server
				// revokes the whole family (the new tokens too).
				srv.ResetCounts()
				other := e.handler(t, opts)
				wantSessionEnded(t, e.do(t, other, testkit.Page("/app").Cookie("userToken", "expired-or-garbage").Cookie("refreshToken", refresh)))
				wantTokenCall(t, srv.Calls(oauth2server.TokenPath), c, map[string]string{
					"grant_type": "refresh_token", "refresh_token": refresh,
				}, http.StatusBadRequest)
				if r := srv.Refresh(t, c.id, newRefresh); r.Field("error") != oauth2server.ErrInvalidGrant {
					t.Errorf("the family survived the replay: %s", r)
				}
				// The revoked family's access token is no session on a
				// middleware that has not seen it.
				third := e.handler(t, opts)
				testkit.WantNotForwarded(t, e.do(t, third, testkit.Page("/app").Cookie("userToken", newAccess)))

				// Logout (a new login: the family is gone) revokes the
				// refresh token (RFC 7009).
				login = e.do(t, h, testkit.API("/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"alice-pw"}`))
				access, refresh = cookieValue(login, "userToken"), cookieValue(login, "refreshToken")
				if login.Code != http.StatusOK || access == "" || refresh == "" {
					t.Fatalf("second login: %d %s", login.Code, login.Body)
				}
				srv.ResetCounts()
				out := e.do(t, h, testkit.API("/auth/logout").With(http.MethodPost).Cookie("userToken", access).Cookie("refreshToken", refresh))
				if out.Code != http.StatusOK {
					t.Fatalf("logout: %d %s", out.Code, out.Body)
				}
				testkit.WantCookieCleared(t, out, "refreshToken")
				wantClientCall(t, "revocation", srv.Calls(oauth2server.RevokePath), c, map[string]string{
					"token": refresh, "token_type_hint": "refresh_token",
				}, http.StatusOK)
				if r := srv.Refresh(t, c.id, refresh); r.Field("error") != oauth2server.ErrInvalidGrant {
					t.Errorf("the logged-out refresh token still refreshes: %s", r)
				}
				if r := srv.Userinfo(t, access); r.Status != http.StatusUnauthorized {
					t.Errorf("the logged-out grant's access token is still valid: %s", r)
				}
			})
		}
	})
}

// TestOAuth2PresetExpiredAccessToken: an access token the server has
// expired (userinfo: 401 error="invalid_token") beside the refresh cookie
// is refreshed with one refresh_token grant.
func TestOAuth2PresetExpiredAccessToken(t *testing.T) {
	srv := oauth2server.Start(t, oauth2server.Defaults())
	c := oauth2Client{"confidential", oauth2server.ConfidentialID, oauth2server.ConfidentialSecret}
	run(t, func(t *testing.T, e *env) {
		opts := oauth2Opts(srv.URL(), c.id, c.secret, nil)
		tk := srv.Login(t, c.id, "alice", "alice-pw")
		srv.Advance(oauth2server.DefaultAccessLifetime)
		srv.ResetCounts()
		r := e.do(t, e.handler(t, opts), testkit.Page("/app").Cookie("userToken", tk.Access).Cookie("refreshToken", tk.Refresh))
		testkit.WantForwarded(t, r)
		if got := r.Upstream.Get(testkit.HeaderUserID); got != "sub-alice" {
			t.Errorf("%s %q, want sub-alice", testkit.HeaderUserID, got)
		}
		if calls := srv.Calls(oauth2server.UserinfoPath); len(calls) == 0 || calls[0].Error != oauth2server.ErrInvalidToken {
			t.Errorf("userinfo calls %v, want the expired token refused first", calls)
		}
		wantTokenCall(t, srv.Calls(oauth2server.TokenPath), c, map[string]string{
			"grant_type": "refresh_token", "refresh_token": tk.Refresh,
		}, http.StatusOK)
		if a := cookieValue(r, "userToken"); a == "" || a == tk.Access {
			t.Errorf("no new access token set")
		}
	})
}

// TestOAuth2PresetLoginRefused: wrong credentials are the server's
// invalid_grant; no cookie is set.
func TestOAuth2PresetLoginRefused(t *testing.T) {
	srv := oauth2server.Start(t, oauth2server.Defaults())
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, oauth2Opts(srv.URL(), oauth2server.PublicID, "", nil))
		srv.ResetCounts()
		r := e.do(t, h, testkit.API("/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"wrong"}`))
		if r.Code == http.StatusOK || cookieValue(r, "userToken") != "" || cookieValue(r, "refreshToken") != "" {
			t.Errorf("a refused login: %d %s, cookies %v", r.Code, r.Body, r.Header["Set-Cookie"])
		}
		calls := srv.Calls(oauth2server.TokenPath)
		if len(calls) != 1 || calls[0].Error != oauth2server.ErrInvalidGrant {
			t.Errorf("token calls %v, want one answered invalid_grant", calls)
		}
	})
}

// wantUserinfoCall checks that calls is one GET with a Bearer token,
// answered 200.
func wantUserinfoCall(t *testing.T, calls []oauth2server.Call) {
	t.Helper()
	if len(calls) != 1 || calls[0].Method != http.MethodGet || !calls[0].Bearer || calls[0].Status != http.StatusOK {
		t.Errorf("userinfo calls %v, want one GET with a Bearer token answered 200", calls)
	}
}

// wantTokenCall checks that calls is exactly one token endpoint call with
// fields (and the client's authentication) answered status.
func wantTokenCall(t *testing.T, calls []oauth2server.Call, c oauth2Client, fields map[string]string, status int) {
	t.Helper()
	wantClientCall(t, "token", calls, c, fields, status)
}

// wantClientCall checks one POST form call to the token or revocation
// endpoint: exactly fields in the form (plus client_id for a public
// client), the client authenticated as RFC 6749 §2.3.1 says, and status.
func wantClientCall(t *testing.T, what string, calls []oauth2server.Call, c oauth2Client, fields map[string]string, status int) {
	t.Helper()
	if len(calls) != 1 {
		t.Errorf("%s: %d calls %v, want 1", what, len(calls), calls)
		return
	}
	call := calls[0]
	if call.Method != http.MethodPost || call.ContentType != "application/x-www-form-urlencoded" || call.Status != status || call.ClientID != c.id {
		t.Errorf("%s: %v, want a POST form from %s answered %d", what, call, c.id, status)
	}
	want := map[string]string{}
	for k, v := range fields {
		want[k] = v
	}
	wantAuth := "basic"
	if c.secret == "" {
		wantAuth = "none"
		want["client_id"] = c.id
	}
	if call.ClientAuth != wantAuth {
		t.Errorf("%s: client authentication %q, want %q", what, call.ClientAuth, wantAuth)
	}
	if len(call.Form) != len(want) {
		t.Errorf("%s: form %v, want exactly the fields of %v", what, call, sortedKeys(want))
	}
	for k, v := range want {
		if got := call.Form[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s: form field %s does not hold the expected value (%v)", what, k, call)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

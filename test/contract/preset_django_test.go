package contract

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/djangorun"
	"github.com/authlayer/authlayer/test/testkit"
)

// The django-simplejwt preset against a real Django REST framework +
// simplejwt backend (../djangorun, Debian's packages), compiled and under
// Yaegi: login, validation through token/verify/ with the user from the
// token's claims, refresh with rotation (one call for a burst), a replayed
// refresh token recognised as reuse (401 "Token is blacklisted"), logout
// blacklisting the refresh token. The options are the preset, the URL and
// the endpoints: nothing else.

func djangoOpts(srv *djangorun.Server) m {
	return m{
		"backend":   m{"url": srv.URL(), "preset": "django-simplejwt", "timeout": "5s"},
		"cookies":   m{"secure": "false"},
		"routes":    m{"protected": []interface{}{"/app"}},
		"endpoints": m{"login": "/auth/login", "logout": "/auth/logout"},
	}
}

// cookieValue is the value res sets for name ("" when it sets none).
func cookieValue(res *testkit.Result, name string) string {
	for _, c := range res.SetCookies(name) {
		if !testkit.IsClearing(c) {
			return c.Value
		}
	}
	return ""
}

func TestDjangoPreset(t *testing.T) {
	srv := djangorun.Start(t, djangorun.Defaults())
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, djangoOpts(srv))

		// Login: the browser's JSON goes to api/token/ as sent.
		login := e.do(t, h, testkit.API("/auth/login").With(http.MethodPost).WithBody("application/json", `{"username":"alice","password":"alice-pw"}`))
		access, refresh := cookieValue(login, "userToken"), cookieValue(login, "refreshToken")
		if login.Code != http.StatusOK || access == "" || refresh == "" {
			t.Fatalf("login: %d %s, cookies %v", login.Code, login.Body, login.Header["Set-Cookie"])
		}

		// Validation: token/verify/ answers {}; the user comes from the
		// token's claims (user_id, token_type access).
		page := e.do(t, h, testkit.Page("/app").Cookie("userToken", access))
		testkit.WantForwarded(t, page)
		if got := page.Upstream.Get("X-Auth-User-Id"); got == "" {
			t.Errorf("no user id from the claims: %v", page.Upstream)
		}

		// A refresh token in the access cookie is no session (verify
		// accepts it; its token_type is refresh).
		wrong := e.do(t, h, testkit.Page("/app").Cookie("userToken", refresh))
		testkit.WantNotForwarded(t, wrong)

		// Refresh: an unusable access token beside the refresh cookie; a
		// burst of requests makes one refresh call, with rotation.
		srv.ResetCounts(t)
		var wg sync.WaitGroup
		results := make([]*testkit.Result, 8)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = e.do(t, h, testkit.Page("/app").Cookie("userToken", "expired.or.garbage").Cookie("refreshToken", refresh))
			}(i)
		}
		wg.Wait()
		if n := srv.Counts(t)[djangorun.RefreshPath]; n != 1 {
			t.Errorf("%d refresh calls for one burst, want 1", n)
		}
		newAccess, newRefresh := cookieValue(results[0], "userToken"), cookieValue(results[0], "refreshToken")
		for i, r := range results {
			testkit.WantForwarded(t, r)
			if cookieValue(r, "userToken") != newAccess || newAccess == "" {
				t.Errorf("request %d did not get the refreshed token", i)
			}
		}
		if newRefresh == "" || newRefresh == refresh {
			t.Errorf("no rotated refresh token (rotation is on)")
		}

		// A replay of the rotated refresh token after the grace window
		// (another middleware instance has no memo of it): simplejwt
		// answers 401 "Token is blacklisted", which is reuse: logged out.
		other := e.handler(t, djangoOpts(srv))
		replay := e.do(t, other, testkit.Page("/app").Cookie("userToken", "expired.or.garbage").Cookie("refreshToken", refresh))
		testkit.WantNotForwarded(t, replay)
		testkit.WantCookieCleared(t, replay, "refreshToken")

		// Logout blacklists the refresh token at the backend.
		srv.ResetCounts(t)
		out := e.do(t, h, testkit.API("/auth/logout").With(http.MethodPost).Cookie("userToken", newAccess).Cookie("refreshToken", newRefresh))
		if out.Code != http.StatusOK {
			t.Fatalf("logout: %d %s", out.Code, out.Body)
		}
		if n := srv.Counts(t)[djangorun.BlacklistPath]; n != 1 {
			t.Errorf("%d blacklist calls at logout, want 1", n)
		}
		resp := srv.Post(t, djangorun.RefreshPath, map[string]string{"refresh": newRefresh})
		if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "blacklisted") {
			t.Errorf("the logged-out refresh token still refreshes at the backend: %d %s", resp.Status, resp.Body)
		}
	})
}

// TestDjangoPresetLocalJWT: simplejwt signs HS256 with the app's key; with
// jwt on (mode local) the preset's claim paths read the same identity and
// token/verify/ is never called.
func TestDjangoPresetLocalJWT(t *testing.T) {
	srv := djangorun.Start(t, djangorun.Defaults())
	access, _ := srv.Login(t, "alice", "alice-pw")
	run(t, func(t *testing.T, e *env) {
		o := djangoOpts(srv)
		o["jwt"] = m{"enabled": "true", "secret": srv.SigningKey(), "algorithms": []interface{}{"HS256"}}
		h := e.handler(t, o)
		srv.ResetCounts(t)
		for i := 0; i < 3; i++ {
			res := e.do(t, h, testkit.Page("/app").Cookie("userToken", access))
			testkit.WantForwarded(t, res)
			if res.Upstream.Get("X-Auth-User-Id") == "" {
				t.Fatalf("no user id from the locally verified claims")
			}
		}
		if n := srv.Counts(t)[djangorun.VerifyPath]; n != 0 {
			t.Errorf("%d verify calls with jwt.mode local, want 0", n)
		}
		// A refresh token is no session, locally either (token_type).
		_, refresh := srv.Login(t, "bob", "bob-pw")
		testkit.WantNotForwarded(t, e.do(t, h, testkit.Page("/app").Cookie("userToken", refresh)))
	})
}

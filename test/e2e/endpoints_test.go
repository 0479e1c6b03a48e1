package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Login, logout and session endpoints, proactive refresh and the expiry
// hint through a real Traefik.

func TestEndpoints(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{
		"app": m{
			"endpoints": m{"login": "/auth/login", "logout": "/auth/logout", "session": "/auth/session"},
			"cookies":   m{"refresh": testkit.RefreshCookie, "expiryHint": "authExpires"},
			"refresh":   m{"proactiveWindow": "60s"},
			"routes":    m{"protected": testkit.List("/dashboard")},
			"guest":     m{"enabled": "true", "username": "guest-user", "password": "guest-pass"},
		},
	})
	s.be.EnableGuest("guest-user", "guest-pass")
	access, refresh := fakebackend.Token("e2e-login-access"), fakebackend.Token("e2e-login-refresh")
	user := fakebackend.UserData("u-login", "user", nil)
	user["exp"] = time.Now().Add(time.Hour).Unix()
	s.be.SetUser(access, user)
	s.be.SetLogin("alice", "pw", fakebackend.LoggedIn(access, refresh, user))

	t.Run("form login, session, logout", func(t *testing.T) {
		form := url.Values{"username": {"alice"}, "password": {"pw"}, "redirect": {"/dashboard"}}
		r := s.do(t, page("app", "/auth/login").With(http.MethodPost).WithBody("application/x-www-form-urlencoded", form.Encode()))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" || r.Upstream != nil {
			t.Fatalf("form login: %d Location %q forwarded %v", r.Code, r.Header.Get("Location"), r.Upstream != nil)
		}
		testkit.WantCookieSet(t, r, testkit.UserCookie, access)
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, refresh)
		hint := testkit.WantCookieSet(t, r, "authExpires", strconv.FormatInt(user["exp"].(int64), 10))
		if hint.HttpOnly {
			t.Error("the expiry hint is HttpOnly")
		}
		if strings.Contains(r.Body, access) || strings.Contains(r.Body, refresh) {
			t.Errorf("the login answer holds a token: %s", r.Body)
		}

		r = s.do(t, api("app", "/auth/session").Cookie(testkit.UserCookie, access))
		var info struct {
			Authenticated bool                   `json:"authenticated"`
			User          map[string]interface{} `json:"user"`
		}
		if err := json.Unmarshal([]byte(r.Body), &info); err != nil || !info.Authenticated || info.User["id"] != "u-login" || strings.Contains(r.Body, access) {
			t.Errorf("session: %d %s", r.Code, r.Body)
		}
		testkit.WantNoStore(t, r)

		r = s.do(t, api("app", "/auth/logout").With(http.MethodPost).Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if r.Code != http.StatusOK {
			t.Fatalf("logout: %d %s", r.Code, r.Body)
		}
		testkit.WantCookieCleared(t, r, testkit.UserCookie)
		testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
		if calls := s.be.Calls(fakebackend.Logout); len(calls) != 1 || calls[0].Authorization != "Bearer "+access {
			t.Errorf("backend logout calls: %+v", calls)
		}
		s.be.SetRefresh(refresh, fakebackend.Revoked())
		r = s.do(t, page("app", "/dashboard").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/dashboard")
	})

	t.Run("a failed form login goes back with an error", func(t *testing.T) {
		form := url.Values{"username": {"alice"}, "password": {"wrong"}, "redirect": {"/dashboard"}}
		r := s.do(t, page("app", "/auth/login").With(http.MethodPost).WithBody("application/x-www-form-urlencoded", form.Encode()))
		if r.Code != http.StatusSeeOther || r.Header.Get("Location") != "/login?error=invalid_credentials&redirect=%2Fdashboard" {
			t.Errorf("failed login: %d Location %q", r.Code, r.Header.Get("Location"))
		}
	})

	t.Run("proactive refresh", func(t *testing.T) {
		soon := fakebackend.Token("e2e-proactive-old")
		data := fakebackend.UserData("u-pro", "user", nil)
		data["exp"] = time.Now().Add(20 * time.Second).Unix()
		s.be.SetUser(soon, data)
		next := fakebackend.Token("e2e-proactive-new")
		nextData := fakebackend.UserData("u-pro", "user", nil)
		nextData["exp"] = time.Now().Add(time.Hour).Unix()
		s.be.RefreshTo("e2e-proactive-refresh", next, "", nextData)
		r := s.do(t, page("app", "/dashboard").Cookie(testkit.UserCookie, soon).Cookie(testkit.RefreshCookie, "e2e-proactive-refresh"))
		testkit.WantIdentity(t, r, next, nextData, "u-pro", "user", next)
		testkit.WantCookieSet(t, r, testkit.UserCookie, next)
		testkit.WantCookieSet(t, r, "authExpires", strconv.FormatInt(nextData["exp"].(int64), 10))
	})
}

// TestEndpointGuards: through Traefik, the login budget (rateLimit.logins,
// the client from X-Forwarded-For trusted from 127.0.0.1) and the
// cross-site refusal of login and logout with csrf off.
func TestEndpointGuards(t *testing.T) {
	s := start(t, traefikrun.Options{ForwardedTrustedIPs: []string{"127.0.0.1/32"}})
	s.deploy(t, sites{
		"guarded": m{
			"endpoints": m{"login": "/auth/login", "logout": "/auth/logout", "maxBodyBytes": "100"},
			"rateLimit": m{"enabled": "true", "window": "1h", "trustedProxies": "127.0.0.1/32", "logins": "2"},
		},
	})
	access := fakebackend.Token("e2e-guard-access")
	s.be.SetUser(access, fakebackend.UserData("u-guard", "user", nil))
	s.be.SetLogin("bob", "pw", fakebackend.LoggedIn(access, "", nil))
	login := func(pw, client string) testkit.Request {
		return api("guarded", "/auth/login").With(http.MethodPost).
			WithBody("application/json", `{"username":"bob","password":"`+pw+`"}`).WithHeader("X-Forwarded-For", client)
	}
	for i := 0; i < 2; i++ {
		if r := s.do(t, login("wrong", "198.51.100.90")); r.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, r.Code, r.Body)
		}
	}
	if r := s.do(t, login("pw", "198.51.100.90")); r.Code != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("third attempt: %d Retry-After %q, want 429", r.Code, r.Header.Get("Retry-After"))
	}
	if n := s.be.Count(fakebackend.Login); n != 2 {
		t.Errorf("backend login calls: %d, want 2", n)
	}
	if r := s.do(t, login("pw", "198.51.100.91")); r.Code != http.StatusOK {
		t.Errorf("another client's login: %d %s", r.Code, r.Body)
	}
	big := api("guarded", "/auth/login").With(http.MethodPost).WithHeader("X-Forwarded-For", "198.51.100.93").
		WithBody("application/json", `{"username":"`+strings.Repeat("b", 200)+`","password":"pw"}`)
	if r := s.do(t, big); r.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a login body over endpoints.maxBodyBytes: %d, want 413", r.Code)
	}
	r := s.do(t, login("pw", "198.51.100.92").WithHeader("Sec-Fetch-Site", "cross-site"))
	if r.Code != http.StatusForbidden || len(r.SetCookies(testkit.UserCookie)) != 0 {
		t.Errorf("cross-site login: %d cookies %q", r.Code, r.Header.Values("Set-Cookie"))
	}
	r = s.do(t, api("guarded", "/auth/logout").With(http.MethodPost).Cookie(testkit.UserCookie, access).WithHeader("Origin", "https://evil.test"))
	if r.Code != http.StatusForbidden || s.be.Count(fakebackend.Logout) != 0 {
		t.Errorf("cross-site logout: %d, backend logout calls %d", r.Code, s.be.Count(fakebackend.Logout))
	}
}

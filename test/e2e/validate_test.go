package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestValidateAndCache: validation calls, the identity the app receives,
// the cache, its TTL, and deduplication of a burst, through Traefik.
func TestValidateAndCache(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{
		"app": m{"routes": m{"protected": testkit.List("/account", "/api/account")}},
		"ttl": m{"cache": m{"ttl": "200ms"}},
	})

	t.Run("validate request and identity headers", func(t *testing.T) {
		tok := fakebackend.Token("dave")
		dave := map[string]interface{}{"id": "u-dave", "type": "user", "name": "Zoë \"quoted\"",
			"profile": map[string]interface{}{"langs": []interface{}{"fr", "ja"}}}
		s.be.SetUser(tok, dave)
		before := len(s.be.Calls(fakebackend.Validate))
		r := s.do(t, page("app", "/account").Cookie(testkit.UserCookie, tok))
		testkit.WantIdentity(t, r, tok, dave, "u-dave", "user", "")
		testkit.WantNoSetCookie(t, r)
		calls := s.be.Calls(fakebackend.Validate)[before:]
		if len(calls) != 1 {
			t.Fatalf("validate calls: got %d, want 1", len(calls))
		}
		if c := calls[0]; c.Method != http.MethodGet || c.Path != fakebackend.ValidatePath || c.Authorization != "Bearer "+tok {
			t.Errorf("validate call: got %s %s Authorization %q, want GET %s Bearer token", c.Method, c.Path, c.Authorization, fakebackend.ValidatePath)
		}
	})

	t.Run("numeric id", func(t *testing.T) {
		tok := fakebackend.Token("numeric")
		data := fakebackend.UserData(1234567890123, "user", nil)
		s.be.SetUser(tok, data)
		testkit.WantIdentity(t, s.do(t, page("app", "/").Cookie(testkit.UserCookie, tok)), tok, data, "1234567890123", "user", "")
	})

	t.Run("missing type: no type header, not a user", func(t *testing.T) {
		tok := fakebackend.Token("untyped")
		data := fakebackend.UserData("u-untyped", "", nil)
		s.be.SetUser(tok, data)
		testkit.WantIdentity(t, s.do(t, page("app", "/").Cookie(testkit.UserCookie, tok)), tok, data, "u-untyped", "", "")
		r := s.do(t, api("app", "/api/account").Cookie(testkit.UserCookie, tok))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusUnauthorized && r.Code != http.StatusForbidden {
			t.Errorf("protected API with an untyped token: got %d, want 401 or 403", r.Code)
		}
	})

	t.Run("cache hit", func(t *testing.T) {
		tok := fakebackend.Token("frank")
		frank := fakebackend.UserData("u-frank", "user", nil)
		s.be.SetUser(tok, frank)
		for i := 0; i < 5; i++ {
			testkit.WantIdentity(t, s.do(t, page("app", "/").Cookie(testkit.UserCookie, tok)), tok, frank, "u-frank", "user", "")
		}
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validate calls for the token: got %d, want 1 (cache.ttl 2s)", got)
		}
	})

	t.Run("cache TTL expires", func(t *testing.T) {
		tok := fakebackend.Token("grace")
		s.be.SetUser(tok, fakebackend.UserData("u-grace", "user", nil))
		testkit.WantForwarded(t, s.do(t, page("ttl", "/").Cookie(testkit.UserCookie, tok)))
		testkit.WantForwarded(t, s.do(t, page("ttl", "/").Cookie(testkit.UserCookie, tok)))
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validate calls within the TTL: got %d, want 1", got)
		}
		time.Sleep(500 * time.Millisecond) // wall time for cache.ttl 200ms to pass
		testkit.WantForwarded(t, s.do(t, page("ttl", "/").Cookie(testkit.UserCookie, tok)))
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 2 {
			t.Errorf("validate calls after the TTL: got %d, want 2", got)
		}
	})

	t.Run("invalid token on a protected API", func(t *testing.T) {
		tok := fakebackend.Token("invalid") // unknown: validate 401, refresh 401
		r := s.do(t, api("app", "/api/account").Cookie(testkit.UserCookie, tok))
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusUnauthorized)
		testkit.WantNoStore(t, r)
		testkit.WantCookieCleared(t, r, testkit.UserCookie)
		if got := s.be.CountFor(fakebackend.Refresh, tok); got != 1 {
			t.Errorf("refresh calls with the invalid token: got %d, want 1", got)
		}
	})

	t.Run("burst of one cold token: one validation", func(t *testing.T) {
		tok := fakebackend.Token("leo")
		leo := fakebackend.UserData("u-leo", "user", nil)
		s.be.SetUser(tok, leo)
		gate := s.be.Hold(fakebackend.Validate)
		defer gate.Release()
		b := s.startBurst(50, page("app", "/").Cookie(testkit.UserCookie, tok))
		gate.WaitArrivals(t, 1, waitBound)
		settle()
		gate.Release()
		results := b.collect(t)
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validate calls for 50 concurrent requests: got %d, want 1", got)
		}
		testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
			testkit.WantIdentity(t, r, tok, leo, "u-leo", "user", "")
		})
	})
}

package e2e

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestGuests: guest tokens minted for visitors, valid guest cookies used
// as they are, guests denied protected routes, through Traefik.
func TestGuests(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	s.deploy(t, sites{
		"guests": m{
			"guest":   m{"enabled": "true", "username": "guest-user", "password": "guest-pass"},
			"cookies": m{"guestMaxAge": "30m"},
			"routes":  m{"protected": testkit.List("/account", "/api/account")},
		},
	})

	t.Run("mint", func(t *testing.T) {
		before := s.be.Count(fakebackend.Guest)
		r := s.do(t, page("guests", "/"))
		calls := s.be.Calls(fakebackend.Guest)[before:]
		if len(calls) != 1 {
			t.Fatalf("guest calls: got %d, want 1", len(calls))
		}
		var body map[string]interface{}
		if c := calls[0]; c.Method != http.MethodPost || c.Authorization != "" ||
			json.Unmarshal([]byte(c.Body), &body) != nil || body["username"] != "guest-user" || body["password"] != "guest-pass" {
			t.Errorf("guest call: got %s Authorization %q body %q, want POST with the configured credentials", c.Method, c.Authorization, c.Body)
		}
		tok := testkit.WantMintedGuest(t, s.be, r)
		testkit.WantCookieAttrs(t, r.SetCookies(testkit.GuestCookie)[0], "/", 1800, false)
		testkit.WantNoStore(t, r)
		if got := s.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validate calls for the minted token: got %d, want 1", got)
		}
	})

	t.Run("valid guest cookie is used", func(t *testing.T) {
		valid := fakebackend.Token("known-guest")
		data := fakebackend.UserData("g-known", "guest", nil)
		s.be.SetUser(valid, data)
		before := s.be.Count(fakebackend.Guest)
		r := s.do(t, page("guests", "/").Cookie(testkit.GuestCookie, valid))
		testkit.WantIdentity(t, r, valid, data, "g-known", "guest", "")
		testkit.WantNoSetCookie(t, r)
		if got := s.be.Count(fakebackend.Guest) - before; got != 0 {
			t.Errorf("guest mints: got %d, want 0", got)
		}
	})

	t.Run("stale guest cookie is replaced without a refresh", func(t *testing.T) {
		stale := fakebackend.Token("stale-guest")
		r := s.do(t, page("guests", "/").Cookie(testkit.GuestCookie, stale))
		if tok := testkit.WantMintedGuest(t, s.be, r); tok == stale {
			t.Errorf("guest cookie: got the stale token back")
		}
		if got := s.be.CountFor(fakebackend.Refresh, stale); got != 0 {
			t.Errorf("refresh calls with the guest token: got %d, want 0", got)
		}
	})

	t.Run("guest is not logged in", func(t *testing.T) {
		g := fakebackend.Token("denied-guest")
		s.be.SetUser(g, fakebackend.UserData("g-denied", "guest", nil))
		r := s.do(t, page("guests", "/account").Cookie(testkit.GuestCookie, g))
		testkit.WantNotForwarded(t, r)
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
		r = s.do(t, api("guests", "/api/account").Cookie(testkit.GuestCookie, g))
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusUnauthorized)
		// A guest token in the user cookie is no better.
		r = s.do(t, api("guests", "/api/account").Cookie(testkit.UserCookie, g))
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusUnauthorized && r.Code != http.StatusForbidden {
			t.Errorf("guest token in the user cookie: got %d, want 401 or 403", r.Code)
		}
	})

	t.Run("two visitors get two guest tokens", func(t *testing.T) {
		gate := s.be.Hold(fakebackend.Guest)
		defer gate.Release()
		b := s.startBurst(2, page("guests", "/"))
		gate.WaitArrivals(t, 2, waitBound)
		gate.Release()
		results := b.collect(t)
		t1 := testkit.WantMintedGuest(t, s.be, results[0])
		t2 := testkit.WantMintedGuest(t, s.be, results[1])
		if t1 == t2 {
			t.Errorf("both visitors got %q, want two tokens", t1)
		}
	})
}

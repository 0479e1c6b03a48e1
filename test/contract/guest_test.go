package contract

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestGuestMint: a visitor without a valid token gets a guest token minted
// with the configured credentials, validated, set as a cookie and
// forwarded.
func TestGuestMint(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts()))
		r := e.do(t, h, testkit.Page("/"))

		calls := e.be.Calls(fakebackend.Guest)
		if len(calls) != 1 {
			t.Fatalf("guest calls: got %d, want 1", len(calls))
		}
		c := calls[0]
		if c.Method != http.MethodPost || c.Path != fakebackend.GuestPath {
			t.Errorf("guest call: got %s %s, want POST %s", c.Method, c.Path, fakebackend.GuestPath)
		}
		if c.Authorization != "" {
			t.Errorf("guest call Authorization: got %q, want none", c.Authorization)
		}
		var body map[string]interface{}
		if err := json.Unmarshal([]byte(c.Body), &body); err != nil {
			t.Errorf("guest call body %q: not JSON: %v", c.Body, err)
		} else if body["username"] != "guest-user" || body["password"] != "guest-pass" {
			t.Errorf("guest call body: got %v, want username guest-user and password guest-pass", body)
		}

		tok := testkit.WantMintedGuest(t, e.be, r)
		if got := e.be.CountFor(fakebackend.Validate, tok); got != 1 {
			t.Errorf("validate calls for the minted token: got %d, want 1", got)
		}
		cookie := r.SetCookies(testkit.GuestCookie)[0]
		testkit.WantCookieAttrs(t, cookie, "/", 3600, false)
		testkit.WantNoStore(t, r)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)
	})
}

// TestGuestMaxAge: the guest cookie lives cookies.guestMaxAge.
func TestGuestMaxAge(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"cookies": m{"guestMaxAge": "30m"}}))
		r := e.do(t, h, testkit.Page("/"))
		testkit.WantMintedGuest(t, e.be, r)
		testkit.WantCookieAttrs(t, r.SetCookies(testkit.GuestCookie)[0], "/", 1800, false)
	})
}

// TestGuestCookie: a valid guest cookie is used as is (no mint, no cookie);
// an invalid one is replaced by a new guest token (no refresh).
func TestGuestCookie(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts()))
		valid := fakebackend.Token("known-guest")
		validData := fakebackend.UserData("g-known", "guest", nil)
		e.be.SetUser(valid, validData)
		stale := fakebackend.Token("stale-guest") // unknown: 401

		t.Run("valid", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.GuestCookie, valid))
			testkit.WantIdentity(t, r, valid, validData, "g-known", "guest", "")
			testkit.WantNoSetCookie(t, r)
			testkit.WantCount(t, e.be, fakebackend.Guest, 0)
		})
		t.Run("invalid", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.GuestCookie, stale))
			testkit.WantCount(t, e.be, fakebackend.Guest, 1)
			if got := e.be.CountFor(fakebackend.Refresh, stale); got != 0 {
				t.Errorf("refresh calls with the guest token: got %d, want 0", got)
			}
			if tok := testkit.WantMintedGuest(t, e.be, r); tok == stale {
				t.Errorf("guest cookie: got the stale token back")
			}
		})
	})
}

// TestGuestNotShared: two concurrent token-less requests get two guest
// tokens of their own (guest tokens are never deduplicated).
func TestGuestNotShared(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"backend": m{"timeout": "5s"}}))
		gate := e.be.Hold(fakebackend.Guest)
		b := e.startBurst(h, 2, testkit.Page("/"))
		b.waitStarted(t)
		// Both mints must reach the backend while neither has an answer:
		// a shared mint would leave the second arrival missing.
		gate.WaitArrivals(t, 2, waitBound)
		gate.Release()
		results := b.collect(t)

		testkit.WantCount(t, e.be, fakebackend.Guest, 2)
		t1 := testkit.WantMintedGuest(t, e.be, results[0])
		t2 := testkit.WantMintedGuest(t, e.be, results[1])
		if t1 == t2 {
			t.Errorf("guest cookies: both responses got %q, want two different tokens", t1)
		}
	})
}

// TestGuestIsNotLoggedIn: a guest is denied protected routes as an
// anonymous visitor is.
func TestGuestIsNotLoggedIn(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"routes": m{"protected": testkit.List("/account", "/api/account")}}))
		g := fakebackend.Token("denied-guest")
		e.be.SetUser(g, fakebackend.UserData("g-denied", "guest", nil))

		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"with a guest cookie", testkit.Page("/account").Cookie(testkit.GuestCookie, g)},
			{"without a token", testkit.Page("/account")},
		} {
			t.Run(tc.desc+"/page", func(t *testing.T) {
				r := e.do(t, h, tc.rq)
				testkit.WantNotForwarded(t, r)
				testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
			})
			t.Run(tc.desc+"/API", func(t *testing.T) {
				rq := tc.rq
				rq.Target, rq.Accept = "/api/account", "application/json"
				r := e.do(t, h, rq)
				testkit.WantNotForwarded(t, r)
				testkit.WantJSONError(t, r, http.StatusUnauthorized)
			})
		}
	})
}

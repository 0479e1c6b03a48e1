package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestRefresh: single-token and dual-token refresh with rotation, the
// grace window, reuse detection, fatal refresh failures, and one refresh
// for a burst, through Traefik.
func TestRefresh(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	protected := m{"protected": testkit.List("/account", "/api/account")}
	s.deploy(t, sites{
		"single": m{"routes": protected},
		"dual":   m{"routes": protected, "cookies": m{"refresh": testkit.RefreshCookie}},
		"guests": m{"routes": protected, "cookies": m{"refresh": testkit.RefreshCookie},
			"guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}},
	})

	t.Run("single token", func(t *testing.T) {
		old := fakebackend.Token("olga-old")
		fresh := fakebackend.Token("olga-new")
		olga := fakebackend.UserData("u-olga", "user", nil)
		s.be.SetValidate(old, fakebackend.Unauthorized())
		s.be.RefreshTo(old, fresh, fakebackend.Token("olga-rotated"), olga)

		r := s.do(t, page("single", "/account").Cookie(testkit.UserCookie, old))

		calls := s.be.Calls(fakebackend.Refresh)
		var mine []fakebackend.Call
		for _, c := range calls {
			if c.Token == old {
				mine = append(mine, c)
			}
		}
		if len(mine) != 1 || mine[0].Method != http.MethodPost || mine[0].Path != fakebackend.RefreshPath {
			t.Fatalf("refresh calls with the old token: got %+v, want one POST %s", mine, fakebackend.RefreshPath)
		}
		if got := s.be.CountFor(fakebackend.Validate, fresh); got != 1 {
			t.Errorf("validate calls for the new token: got %d, want 1", got)
		}
		testkit.WantIdentity(t, r, fresh, olga, "u-olga", "user", fresh)
		testkit.WantCookieAttrs(t, testkit.WantCookieSet(t, r, testkit.UserCookie, fresh), "/", 7*24*3600, false)
		if len(r.Cookies) != 1 {
			t.Errorf("Set-Cookie: got %q, want only %s (single-token mode)", r.Header.Values("Set-Cookie"), testkit.UserCookie)
		}
		testkit.WantNoStore(t, r)
	})

	t.Run("dual token with rotation", func(t *testing.T) {
		access := fakebackend.Token("pat-access")
		refresh := fakebackend.Token("pat-refresh")
		fresh := fakebackend.Token("pat-fresh")
		rotated := fakebackend.Token("pat-rotated")
		pat := fakebackend.UserData("u-pat", "user", nil)
		s.be.SetValidate(access, fakebackend.Unauthorized())
		s.be.RefreshTo(refresh, fresh, rotated, pat)

		r := s.do(t, page("dual", "/").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		if got := s.be.CountFor(fakebackend.Refresh, refresh); got != 1 {
			t.Fatalf("refresh calls with the refresh cookie: got %d, want 1", got)
		}
		if got := s.be.CountFor(fakebackend.Refresh, access); got != 0 {
			t.Errorf("refresh calls with the access token: got %d, want 0 (the refresh cookie is the credential)", got)
		}
		testkit.WantIdentity(t, r, fresh, pat, "u-pat", "user", fresh)
		testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
		if c := testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated); !c.HttpOnly {
			t.Errorf("refresh cookie: HttpOnly missing (%q)", c.Raw)
		}
		testkit.WantNoCookieClearing(t, r)
	})

	t.Run("grace window: the old cookie again makes no second refresh", func(t *testing.T) {
		old := fakebackend.Token("quinn-old")
		fresh := fakebackend.Token("quinn-new")
		quinn := fakebackend.UserData("u-quinn", "user", nil)
		s.be.SetValidate(old, fakebackend.Unauthorized())
		s.be.RefreshTo(old, fresh, "", quinn)
		first := s.do(t, page("single", "/").Cookie(testkit.UserCookie, old))
		testkit.WantCookieSet(t, first, testkit.UserCookie, fresh)
		// A strict backend would now call the old credential a replay.
		s.be.SetRefresh(old, fakebackend.Reuse())
		second := s.do(t, page("single", "/").Cookie(testkit.UserCookie, old))
		if got := s.be.CountFor(fakebackend.Refresh, old); got != 1 {
			t.Errorf("refresh calls with the old credential: got %d, want 1", got)
		}
		testkit.WantCookieSet(t, second, testkit.UserCookie, fresh)
		testkit.WantIdentity(t, second, fresh, quinn, "u-quinn", "user", fresh)
	})

	t.Run("reuse logs out", func(t *testing.T) {
		guestTok := fakebackend.Token("reuse-guest")
		s.be.SetUser(guestTok, fakebackend.UserData("g-reuse", "guest", nil))
		for _, rc := range []struct {
			desc string
			rq   testkit.Request
			page bool
		}{
			{"protected API", api("guests", "/api/account"), false},
			{"protected page", page("guests", "/account?tab=1"), true},
			{"public page", page("guests", "/news"), true},
		} {
			t.Run(rc.desc, func(t *testing.T) {
				access := fakebackend.Token(t.Name() + "-access")
				refresh := fakebackend.Token(t.Name() + "-refresh")
				s.be.SetValidate(access, fakebackend.Unauthorized())
				s.be.SetRefresh(refresh, fakebackend.Reuse())
				mints := s.be.Count(fakebackend.Guest)
				r := s.do(t, rc.rq.Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh).Cookie(testkit.GuestCookie, guestTok))
				if got := s.be.CountFor(fakebackend.Refresh, refresh); got != 1 {
					t.Errorf("refresh calls: got %d, want 1", got)
				}
				testkit.WantNotForwarded(t, r)
				for _, name := range []string{testkit.UserCookie, testkit.RefreshCookie, testkit.GuestCookie} {
					testkit.WantCookieCleared(t, r, name)
				}
				if got := s.be.Count(fakebackend.Guest) - mints; got != 0 {
					t.Errorf("guest mints: got %d, want 0 after reuse", got)
				}
				if rc.page {
					if loc := r.Header.Get("Location"); r.Code/100 != 3 || !strings.HasPrefix(loc, "/login") {
						t.Errorf("got %d Location %q, want a redirect to /login", r.Code, loc)
					}
					testkit.WantNoStore(t, r)
				} else {
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
				}
			})
		}
	})

	t.Run("expired refresh clears the user cookies, continues as a guest", func(t *testing.T) {
		for _, ans := range []struct {
			desc   string
			answer fakebackend.Answer
		}{{"expired 401", fakebackend.Expired()}, {"revoked 403", fakebackend.Revoked()}} {
			t.Run(ans.desc, func(t *testing.T) {
				access := fakebackend.Token(t.Name() + "-access")
				refresh := fakebackend.Token(t.Name() + "-refresh")
				s.be.SetValidate(access, fakebackend.Unauthorized())
				s.be.SetRefresh(refresh, ans.answer)
				mints := s.be.Count(fakebackend.Guest)
				r := s.do(t, page("guests", "/news").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
				testkit.WantCookieCleared(t, r, testkit.UserCookie)
				testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
				if got := s.be.Count(fakebackend.Guest) - mints; got != 1 {
					t.Fatalf("guest mints: got %d, want 1", got)
				}
				testkit.WantMintedGuest(t, s.be, r)

				r = s.do(t, api("dual", "/api/account").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
				testkit.WantNotForwarded(t, r)
				testkit.WantJSONError(t, r, http.StatusUnauthorized)
				testkit.WantCookieCleared(t, r, testkit.UserCookie)
			})
		}
	})

	t.Run("burst of one expired token: one refresh", func(t *testing.T) {
		old := fakebackend.Token("mia-old")
		fresh := fakebackend.Token("mia-new")
		mia := fakebackend.UserData("u-mia", "user", nil)
		s.be.SetValidate(old, fakebackend.Unauthorized())
		s.be.RefreshTo(old, fresh, "", mia)
		gate := s.be.Hold(fakebackend.Refresh)
		defer gate.Release()
		b := s.startBurst(50, page("single", "/account").Cookie(testkit.UserCookie, old))
		gate.WaitArrivals(t, 1, waitBound)
		settle()
		gate.Release()
		results := b.collect(t)
		if got := s.be.CountFor(fakebackend.Refresh, old); got != 1 {
			t.Errorf("refresh calls for 50 concurrent requests: got %d, want 1", got)
		}
		testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
			testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
			testkit.WantIdentity(t, r, fresh, mia, "u-mia", "user", fresh)
		})
	})
}

package contract

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// Hardening under attack and load: remembered refreshes, reloads in the
// middle of a refresh, junk floods, rate budgets, one deadline per
// request, oversized tokens, prefetch and backends answering garbage. Each
// of these broke once and fails on the code before its fix.

// TestRememberedRefreshRevalidatesNewToken: a request still
// carrying the old credential gets the remembered new token only while
// that token validates: once the backend revokes it, the old cookie (or,
// in dual-token mode, a stolen old refresh token alone) opens nothing, and
// the old credential is never replayed.
func TestRememberedRefreshRevalidatesNewToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, dual := range []bool{false, true} {
			dual := dual
			t.Run(fmt.Sprintf("dual-token %v", dual), func(t *testing.T) {
				options := m{"cache": m{"ttl": "100ms"}, "routes": m{"protected": testkit.List("/account")}}
				if dual {
					options["cookies"] = m{"refresh": testkit.RefreshCookie}
				}
				h := e.handler(t, e.opts(options))
				rosa := fakebackend.UserData("u-rosa", "user", nil)
				old := fakebackend.Token(t.Name() + "-old")
				fresh := fakebackend.Token(t.Name() + "-fresh")
				e.be.SetValidate(old, fakebackend.Unauthorized())
				e.be.RefreshTo(old, fresh, "", rosa)
				rq := testkit.API("/account").Cookie(testkit.UserCookie, old)
				if dual {
					rq = testkit.API("/account").Cookie(testkit.RefreshCookie, old)
				}
				testkit.WantIdentity(t, e.do(t, h, rq), fresh, rosa, "u-rosa", "user", fresh)

				e.be.SetValidate(fresh, fakebackend.Unauthorized()) // revoked (or logged out)
				time.Sleep(250 * time.Millisecond)                  // wall time: the cached validation expires
				r := e.do(t, h, rq)
				testkit.WantNotForwarded(t, r)
				testkit.WantJSONError(t, r, http.StatusUnauthorized)
				for _, c := range r.SetCookies(testkit.UserCookie) {
					if c.Value == fresh {
						t.Errorf("the revoked token was handed out again: %q", c.Raw)
					}
				}
				if got := e.be.CountFor(fakebackend.Refresh, old); got != 1 {
					t.Errorf("refresh calls with the old credential: got %d, want 1 (never replayed)", got)
				}
			})
		}
	})
}

// TestReloadMidRefreshKeepsTheSession: a reload that changes
// backend-facing options (cache, rateLimit, refresh, backend.timeout)
// while a refresh is in flight: requests served by the new instance join
// or reuse that refresh. One refresh call, every response carries the new
// cookie, none is 401 or clears it.
func TestReloadMidRefreshKeepsTheSession(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		sam := fakebackend.UserData("u-sam", "user", nil)
		old := fakebackend.Token(t.Name() + "-old")
		fresh := fakebackend.Token(t.Name() + "-fresh")
		e.be.SetValidate(old, fakebackend.Unauthorized())
		e.be.RefreshTo(old, fresh, "", sam)
		name := t.Name() + "@file"
		before, err := e.factory(e.opts(), e.up, name)
		if err != nil {
			t.Fatal(err)
		}
		gate := e.be.Hold(fakebackend.Refresh)
		defer gate.Release()
		first := e.startBurst(before, 8, testkit.Page("/x").Cookie(testkit.UserCookie, old))
		gate.WaitArrivals(t, 1, waitBound)

		reloaded := e.opts(m{
			"cache":     m{"ttl": "5s", "maxEntries": "500"},
			"refresh":   m{"graceWindow": "30s"},
			"backend":   m{"timeout": "3s"},
			"rateLimit": m{"enabled": "true", "trustedProxies": harnessPeer, "window": "1h", "requests": "1000"},
		})
		after, err := e.factory(reloaded, e.up, name)
		if err != nil {
			t.Fatal(err)
		}
		second := e.startBurst(after, 8, testkit.Page("/x").Cookie(testkit.UserCookie, old))
		second.waitStarted(t)
		time.Sleep(50 * time.Millisecond) // let the new instance's requests join the flight
		gate.Release()
		results := append(first.collect(t), second.collect(t)...)
		late := e.do(t, after, testkit.Page("/x").Cookie(testkit.UserCookie, old)) // after the refresh: remembered
		results = append(results, late)
		for i, r := range results {
			if r.Code != http.StatusOK {
				t.Errorf("response %d: status %d, want 200", i, r.Code)
			}
			testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
		}
		if got := e.be.CountFor(fakebackend.Refresh, old); got != 1 {
			t.Errorf("refresh calls: got %d, want 1 (a reload must not replay a refresh)", got)
		}
	})
}

// TestJunkFloodKeepsRememberedRefreshes: thousands of junk
// tokens (each one a failed validation and a failed refresh) do not evict
// the remembered refreshes users replaying their old cookie need, even
// with a small cache.maxEntries.
func TestJunkFloodKeepsRememberedRefreshes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"cache": m{"maxEntries": "50"}}))
		const users = 20
		olds := make([]string, users)
		freshes := make([]string, users)
		for i := 0; i < users; i++ {
			olds[i] = fakebackend.Token(fmt.Sprintf("%s-old-%d", t.Name(), i))
			freshes[i] = fakebackend.Token(fmt.Sprintf("%s-fresh-%d", t.Name(), i))
			e.be.SetValidate(olds[i], fakebackend.Unauthorized())
			e.be.RefreshTo(olds[i], freshes[i], "", fakebackend.UserData(fmt.Sprintf("u-%d", i), "user", nil))
			testkit.WantCookieSet(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, olds[i])), testkit.UserCookie, freshes[i])
		}
		for i := 0; i < 400; i++ {
			junk := fakebackend.Token(fmt.Sprintf("%s-junk-%d", t.Name(), i)) // 401, then refresh 401
			e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, junk))
		}
		for i := 0; i < users; i++ {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, olds[i]))
			testkit.WantCookieSet(t, r, testkit.UserCookie, freshes[i])
			if got := e.be.CountFor(fakebackend.Refresh, olds[i]); got != 1 {
				t.Errorf("user %d: refresh calls with the old cookie: got %d, want 1 (the memo was evicted)", i, got)
			}
		}
	})
}

// TestRateBudgetsChargeBackendCalls: many users behind one
// address whose cache entries expire, and one user's refresh storm, spend
// no backend budget beyond the calls really made: no 429.
func TestRateBudgetsChargeBackendCalls(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		t.Run("known users revalidating", func(t *testing.T) {
			h := e.handler(t, rateOpts(e, m{"requests": "10000", "unknownTokens": "25"}, m{"cache": m{"ttl": "50ms"}}))
			const office = "198.51.100.70"
			tokens := make([]string, 20)
			for i := range tokens {
				tokens[i], _ = freshUser(e, fmt.Sprintf("%s-%d", t.Name(), i), fmt.Sprintf("u-office-%d", i))
			}
			for round := 0; round < 4; round++ {
				for i, tok := range tokens {
					r := e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, tok), office))
					if r.Code != http.StatusOK || r.Upstream == nil {
						t.Fatalf("round %d user %d: status %d, want 200 (a known token is not an unknown one)", round, i, r.Code)
					}
				}
				time.Sleep(80 * time.Millisecond) // wall time: every cache entry expires
			}
		})
		t.Run("one user's refresh storm", func(t *testing.T) {
			h := e.handler(t, rateOpts(e, m{"requests": "10000", "refreshes": "2", "unknownTokens": "100"}))
			old := fakebackend.Token(t.Name() + "-old")
			fresh := fakebackend.Token(t.Name() + "-fresh")
			e.be.SetValidate(old, fakebackend.Unauthorized())
			e.be.RefreshTo(old, fresh, "", fakebackend.UserData("u-storm", "user", nil))
			gate := e.be.Hold(fakebackend.Refresh)
			defer gate.Release()
			storm := e.startBurst(h, 32, from(testkit.Page("/").Cookie(testkit.UserCookie, old), "198.51.100.71"))
			gate.WaitArrivals(t, 1, waitBound)
			storm.waitStarted(t)
			time.Sleep(50 * time.Millisecond) // let the storm join the refresh
			gate.Release()
			for i, r := range storm.collect(t) {
				if r.Code != http.StatusOK {
					t.Errorf("request %d of the storm: status %d, want 200", i, r.Code)
				}
			}
			if got := e.be.CountFor(fakebackend.Refresh, old); got != 1 {
				t.Errorf("refresh calls: got %d, want 1", got)
			}
		})
	})
}

// TestOneDeadlinePerRequest: every backend call a request
// makes shares one deadline, backend.timeout from its start; and a junk
// token on a page that needs a user costs no guest mint.
func TestOneDeadlinePerRequest(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{"backend": m{"timeout": "1s"}, "routes": m{"protected": testkit.List("/account")}}))
		t.Run("slow calls share one deadline", func(t *testing.T) {
			// Each answer takes 900 ms: validate, refresh, guest mint and
			// its validation used to run one after another (3.6 s); with
			// one deadline the request ends at about 1 s. The bound sits
			// between the two with room for a loaded machine on both sides.
			tok := fakebackend.Token(t.Name())
			slow := 900 * time.Millisecond
			e.be.SetValidate(tok, fakebackend.Answer{Status: http.StatusUnauthorized, JSON: m{"success": false}, Delay: slow})
			e.be.SetRefresh(tok, fakebackend.Answer{Status: http.StatusUnauthorized, JSON: m{"success": false}, Delay: slow})
			e.be.SetGuestAnswer(fakebackend.Answer{JSON: m{"data": m{"accessToken": fakebackend.GuestToken(99)}}, Delay: slow})
			defer e.be.SetGuestAnswer(fakebackend.Answer{JSON: m{"data": m{"accessToken": "unused"}}})
			start := time.Now()
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok))
			if took := time.Since(start); took > 2500*time.Millisecond {
				t.Errorf("the request took %v with backend.timeout 1s (the calls one after another take 3.6 s)", took)
			}
			testkit.WantNoCookieClearing(t, r)
		})
		t.Run("junk token on a protected page", func(t *testing.T) {
			tok := fakebackend.Token(t.Name()) // unknown: validate 401, refresh 401
			mints := e.be.Count(fakebackend.Guest)
			r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, tok))
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
			if got := e.be.Count(fakebackend.Guest) - mints; got != 0 {
				t.Errorf("guest mints: got %d, want 0 (a guest cannot open a protected page)", got)
			}
		})
	})
}

// TestOversizedTokensAreNotSent: a cookie value no browser
// could hold (over 4096 bytes) is not a token: no backend call, anonymous.
func TestOversizedTokensAreNotSent(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts())
		huge := "eyJ" + strings.Repeat("A", 5000)
		before := e.be.Total()
		r := e.do(t, h, testkit.API("/").Cookie(testkit.UserCookie, huge))
		testkit.WantAnonymous(t, r)
		testkit.WantBackendUntouched(t, e.be, before)
	})
}

// TestPrefetchDoesNotSkipTheRequestBudget: prefetch headers
// are chosen by the client; they lower a request's cost, they never make
// it free.
func TestPrefetchDoesNotSkipTheRequestBudget(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e, m{"requests": "4"}))
		limited := 0
		for i := 0; i < 40; i++ {
			rq := from(testkit.API("/"), "198.51.100.80").WithHeader("Sec-Purpose", "prefetch").WithHeader("Next-Router-Prefetch", "1")
			if e.do(t, h, rq).Code == http.StatusTooManyRequests {
				limited++
			}
		}
		// 4 requests' worth of budget is 16 prefetches.
		if limited != 40-16 {
			t.Errorf("prefetch requests refused: got %d of 40, want 24 (each costs a quarter)", limited)
		}
	})
}

// TestGarbage2xxNeverEndsASession: a backend answering 2xx with
// a body that is not the contract's JSON, at any step, keeps every cookie
// and every token the backend already rotated: the refresh answer itself,
// and the validation of the refreshed token.
func TestGarbage2xxNeverEndsASession(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie}, "routes": m{"protected": testkit.List("/account")}}))
		t.Run("refresh answers garbage", func(t *testing.T) {
			access := fakebackend.Token(t.Name() + "-access")
			refresh := fakebackend.Token(t.Name() + "-refresh")
			e.be.SetValidate(access, fakebackend.Unauthorized())
			e.be.SetRefresh(refresh, fakebackend.Garbage())
			r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
			testkit.WantNoCookieClearing(t, r)
		})
		t.Run("the refreshed token's validation answers garbage", func(t *testing.T) {
			access := fakebackend.Token(t.Name() + "-access")
			refresh := fakebackend.Token(t.Name() + "-refresh")
			fresh := fakebackend.Token(t.Name() + "-fresh")
			rotated := fakebackend.Token(t.Name() + "-rotated")
			e.be.SetValidate(access, fakebackend.Unauthorized())
			e.be.SetRefresh(refresh, fakebackend.Refreshed(fresh, rotated))
			e.be.SetValidate(fresh, fakebackend.Garbage())
			r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
			testkit.WantNoCookieClearing(t, r)
			testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
			testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated) // the old one is spent: the new one must reach the browser
			// The backend recovers: the new cookies work, no second refresh.
			ursula := fakebackend.UserData("u-ursula", "user", nil)
			e.be.SetUser(fresh, ursula)
			testkit.WantIdentity(t, e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, fresh).Cookie(testkit.RefreshCookie, rotated)), fresh, ursula, "u-ursula", "user", "")
			if got := e.be.CountFor(fakebackend.Refresh, refresh); got != 1 {
				t.Errorf("refresh calls: got %d, want 1", got)
			}
		})
	})
}

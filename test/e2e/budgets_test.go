package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestBudgetsUnderFloods: floods, rate budgets, deadlines and client
// headers through Traefik's entry point (X-Forwarded-For trusted from
// 127.0.0.1, as in TestRateLimit): a junk flood keeps the remembered
// refreshes, known users behind one address do not spend the
// unknown-token budget, a request's backend calls share one deadline,
// prefetch never makes a request free, a user cookie sent twice is
// trusted in neither copy and a token no cookie can hold is never sent.
func TestBudgetsUnderFloods(t *testing.T) {
	s := start(t, traefikrun.Options{ForwardedTrustedIPs: []string{"127.0.0.1/32"}})
	rl := func(budgets m) m {
		out := m{"enabled": "true", "window": "1h", "trustedProxies": "127.0.0.1/32", "requests": "10000"}
		for k, v := range budgets {
			out[k] = v
		}
		return out
	}
	s.deploy(t, sites{
		"flood":    m{"cache": m{"maxEntries": "50"}},
		"office":   m{"cache": m{"ttl": "50ms"}, "rateLimit": rl(m{"unknownTokens": "25"})},
		"deadline": m{"backend": m{"timeout": "1s"}, "guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}},
		"prefetch": m{"rateLimit": rl(m{"requests": "4"})},
		"plain":    m{"routes": m{"protected": testkit.List("/account")}},
	})
	s.be.EnableGuest("guest-user", "guest-pass")

	// Junk tokens never evict the remembered refreshes users replaying
	// their old cookie need.
	t.Run("a junk flood keeps remembered refreshes", func(t *testing.T) {
		const users = 10
		olds := make([]string, users)
		for i := range olds {
			olds[i] = fakebackend.Token(fmt.Sprintf("i7-flood-old-%d", i))
			fresh := fakebackend.Token(fmt.Sprintf("i7-flood-new-%d", i))
			s.be.SetValidate(olds[i], fakebackend.Unauthorized())
			s.be.RefreshTo(olds[i], fresh, "", fakebackend.UserData(fmt.Sprintf("u-flood-%d", i), "user", nil))
			testkit.WantCookieSet(t, s.do(t, page("flood", "/").Cookie(testkit.UserCookie, olds[i])), testkit.UserCookie, fresh)
		}
		for i := 0; i < 200; i++ {
			s.do(t, page("flood", "/").Cookie(testkit.UserCookie, fakebackend.Token(fmt.Sprintf("i7-junk-%d", i))))
		}
		for i, old := range olds {
			s.do(t, page("flood", "/").Cookie(testkit.UserCookie, old))
			if got := s.be.CountFor(fakebackend.Refresh, old); got != 1 {
				t.Errorf("user %d: refresh calls with the old cookie: got %d, want 1", i, got)
			}
		}
	})

	// Known users behind one address whose cache entries expire do not
	// spend the unknown-token budget.
	t.Run("an office behind one address", func(t *testing.T) {
		tokens := make([]string, 20)
		for i := range tokens {
			tokens[i] = fakebackend.Token(fmt.Sprintf("i7-office-%d", i))
			s.be.SetUser(tokens[i], fakebackend.UserData(fmt.Sprintf("u-office-%d", i), "user", nil))
		}
		for round := 0; round < 3; round++ {
			for i, tok := range tokens {
				r := s.do(t, from(api("office", "/").Cookie(testkit.UserCookie, tok), "198.51.100.70"))
				if r.Code != http.StatusOK {
					t.Fatalf("round %d user %d: status %d, want 200", round, i, r.Code)
				}
			}
			time.Sleep(100 * time.Millisecond) // wall time: every cache entry expires
		}
	})

	// One deadline for every backend call of a request. Each
	// answer takes 900 ms (a slow, healthy backend): validate, refresh,
	// guest mint and its validation used to run one after another (3.6 s
	// with a 1 s timeout); with one deadline the request ends at about
	// 1 s. The bound sits between the two.
	t.Run("slow calls share one deadline", func(t *testing.T) {
		tok := fakebackend.Token("i7-deadline")
		slow := 900 * time.Millisecond
		s.be.SetValidate(tok, fakebackend.Answer{Status: http.StatusUnauthorized, JSON: m{"success": false}, Delay: slow})
		s.be.SetRefresh(tok, fakebackend.Answer{Status: http.StatusUnauthorized, JSON: m{"success": false}, Delay: slow})
		s.be.SetGuestAnswer(fakebackend.Answer{JSON: m{"data": m{"accessToken": fakebackend.GuestToken(9)}}, Delay: slow})
		defer s.be.SetGuestAnswer(fakebackend.Answer{JSON: m{"data": m{"accessToken": "unused"}}})
		start := time.Now()
		r := s.do(t, page("deadline", "/").Cookie(testkit.UserCookie, tok))
		if took := time.Since(start); took > 2500*time.Millisecond {
			t.Errorf("the request took %v with backend.timeout 1s (one call after another: 3.6 s)", took)
		}
		testkit.WantNoCookieClearing(t, r)
	})

	// Prefetch headers lower the cost, never skip the budget.
	t.Run("prefetch does not skip the request budget", func(t *testing.T) {
		limited := 0
		for i := 0; i < 24; i++ {
			rq := from(api("prefetch", "/"), "198.51.100.80").WithHeader("Sec-Purpose", "prefetch").WithHeader("Next-Router-Prefetch", "1")
			if s.do(t, rq).Code == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited != 24-16 {
			t.Errorf("prefetch requests refused: got %d of 24, want 8 (each costs a quarter of 4)", limited)
		}
	})

	// A user cookie sent twice under another spelling is
	// trusted in neither copy; a token no cookie can hold is never sent.
	t.Run("spaced duplicate cookie and oversized token", func(t *testing.T) {
		victim := fakebackend.Token("i7-victim")
		attacker := fakebackend.Token("i7-attacker")
		s.be.SetUser(victim, fakebackend.UserData("u-victim", "user", nil))
		s.be.SetUser(attacker, fakebackend.UserData("u-attacker", "user", nil))
		rq := api("plain", "/account").WithHeader("Cookie", testkit.UserCookie+" ="+attacker+"; "+testkit.UserCookie+"="+victim)
		r := s.do(t, rq)
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusUnauthorized)

		before := s.be.Total()
		huge := api("plain", "/").Cookie(testkit.UserCookie, "eyJ"+strings.Repeat("A", 5000))
		testkit.WantAnonymous(t, s.do(t, huge))
		testkit.WantBackendUntouched(t, s.be, before)
	})
}

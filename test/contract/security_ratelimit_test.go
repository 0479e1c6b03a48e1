package contract

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// harnessPeer is the RemoteAddr host httptest.NewRequest gives every
// request: the "proxy" in front of authlayer in these tests.
const harnessPeer = "192.0.2.1"

// rateOpts turns rate limiting on (as labels give it) with a one-hour
// window and the harness's peer as a trusted proxy, then applies budgets.
func rateOpts(e *env, budgets m, extra ...m) m {
	rl := m{"enabled": "true", "trustedProxies": harnessPeer, "window": "1h"}
	testkit.Merge(rl, budgets)
	return e.opts(append([]m{{"rateLimit": rl}}, extra...)...)
}

// from sends rq as forwarded by the trusted peer for xff.
func from(rq testkit.Request, xff string) testkit.Request {
	return rq.WithHeader("X-Forwarded-For", xff)
}

// wantRateHeaders checks X-RateLimit-* on an allowed response.
func wantRateHeaders(t *testing.T, r *testkit.Result, limit, remaining int, start time.Time) {
	t.Helper()
	if got := r.Header.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Errorf("X-RateLimit-Limit: got %q, want %d", got, limit)
	}
	if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Errorf("X-RateLimit-Remaining: got %q, want %d", got, remaining)
	}
	reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < start.Unix() || reset > time.Now().Add(time.Hour).Unix()+1 {
		t.Errorf("X-RateLimit-Reset: got %q, want Unix seconds within the next hour", r.Header.Get("X-RateLimit-Reset"))
	}
}

// TestSecurityRateLimitRequests: each client has rateLimit.requests per
// window; allowed responses advertise the budget; beyond it the answer is
// 429 before any backend call, and the app never sees the request.
func TestSecurityRateLimitRequests(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e, m{"requests": "3"}, m{"routes": m{"protected": "/account"}}))
		const client = "198.51.100.7"
		start := time.Now()
		tok, data := freshUser(e, "rate-requests-user", "u-rate")
		for i := 1; i <= 3; i++ {
			r := e.do(t, h, from(testkit.Page("/account").Cookie(testkit.UserCookie, tok), client))
			testkit.WantIdentity(t, r, tok, data, "u-rate", "user", "")
			wantRateHeaders(t, r, 3, 3-i, start)
		}
		fresh, _ := freshUser(e, "rate-requests-fresh", "u-rate2")
		for _, rq := range []testkit.Request{
			testkit.API("/account").Cookie(testkit.UserCookie, fresh),
			testkit.Page("/account").Cookie(testkit.UserCookie, fresh),
			testkit.Page("/"),
			testkit.Page("/account").Cookie(testkit.UserCookie, tok).With(http.MethodPost),
		} {
			before := e.be.Total()
			r := e.do(t, h, from(rq, client))
			testkit.WantRateLimitedAs(t, rq, r)
			if got := r.Header.Get("X-RateLimit-Remaining"); got != "0" {
				t.Errorf("X-RateLimit-Remaining on 429: got %q, want 0", got)
			}
			testkit.WantBackendUntouched(t, e.be, before)
		}
		// Budgets are per client.
		r := e.do(t, h, from(testkit.Page("/account").Cookie(testkit.UserCookie, tok), "198.51.100.8"))
		testkit.WantIdentity(t, r, tok, data, "u-rate", "user", "")
		wantRateHeaders(t, r, 3, 2, start)
	})
}

// TestSecurityRateLimitClientIP: behind trusted proxies the client is the
// right-most X-Forwarded-For hop that is not a trusted proxy; the hops to
// its left are the client's own words and never give it a fresh budget.
// IPv6 clients are grouped by /64. Without trusted proxies the header is
// not read at all.
func TestSecurityRateLimitClientIP(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e, m{"requests": "2", "trustedProxies": harnessPeer + ",10.0.0.0/8"}))
		for _, tc := range []struct {
			desc string
			xff  func(i int) []string // X-Forwarded-For lines of request i
			// other is a request from another client, still allowed.
			other []string
		}{
			{"spoofed left-most hop",
				func(i int) []string { return []string{fmt.Sprintf("203.0.113.%d, 198.51.100.20", i)} },
				[]string{"203.0.113.1, 198.51.100.120"}},
			{"spoofed hops over several header lines",
				func(i int) []string { return []string{fmt.Sprintf("203.0.113.%d", i), "198.51.100.21"} },
				[]string{"198.51.100.21", "198.51.100.121"}},
			{"behind a trusted inner proxy",
				func(i int) []string { return []string{fmt.Sprintf("203.0.113.%d, 198.51.100.22, 10.1.2.%d", i, i)} },
				[]string{"203.0.113.1, 198.51.100.122, 10.1.2.1"}},
			{"spoofed hop claiming to be a trusted proxy",
				func(i int) []string { return []string{fmt.Sprintf("10.9.9.%d, 198.51.100.23", i)} },
				[]string{"10.9.9.1, 198.51.100.123"}},
			{"port varied",
				func(i int) []string { return []string{fmt.Sprintf("198.51.100.24:%d", 40000+i)} },
				[]string{"198.51.100.124:40000"}},
			{"IPv6 in one /64",
				func(i int) []string { return []string{fmt.Sprintf("2001:db8:1:2::%x", i+1)} },
				[]string{"2001:db8:1:3::1"}},
			{"IPv4-mapped IPv6 is the IPv4 client",
				func(i int) []string {
					if i%2 == 0 {
						return []string{"::ffff:198.51.100.25"}
					}
					return []string{"198.51.100.25"}
				},
				[]string{"::ffff:198.51.100.125"}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				send := func(lines []string) *testkit.Result {
					rq := testkit.Page("/")
					for _, l := range lines {
						rq = rq.WithHeader("X-Forwarded-For", l)
					}
					return e.do(t, h, rq)
				}
				for i := 0; i < 2; i++ {
					testkit.WantAnonymous(t, send(tc.xff(i)))
				}
				for i := 2; i < 5; i++ {
					testkit.WantRateLimitedAs(t, testkit.Page("/"), send(tc.xff(i)))
				}
				testkit.WantAnonymous(t, send(tc.other))
			})
		}

		t.Run("untrusted peer: X-Forwarded-For is ignored", func(t *testing.T) {
			direct := e.handler(t, e.opts(m{"rateLimit": m{"enabled": "true", "requests": "2", "window": "1h"}}))
			for i := 0; i < 2; i++ {
				testkit.WantAnonymous(t, e.do(t, direct, from(testkit.Page("/"), fmt.Sprintf("198.51.100.%d", 30+i))))
			}
			testkit.WantRateLimitedAs(t, testkit.Page("/"), e.do(t, direct, from(testkit.Page("/"), "198.51.100.40")))
			testkit.WantRateLimitedAs(t, testkit.Page("/"), e.do(t, direct, testkit.Page("/")))
		})
	})
}

// TestSecurityRateLimitUnknownTokens: validating tokens that are not in
// the cache spends rateLimit.unknownTokens; beyond it, requests with yet
// another unknown token get 429 and the backend sees no more validations
// (nor the refreshes an invalid token would cause). Cached tokens cost
// nothing; prefetch headers do not spare this budget.
func TestSecurityRateLimitUnknownTokens(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e,
			m{"requests": "100", "unknownTokens": "3", "refreshes": "100"},
			m{"cache": m{"ttl": "1h"}}))
		const client = "198.51.100.50"
		alice, aliceData := freshUser(e, "rate-unknown-alice", "u-alice")
		testkit.WantIdentity(t, e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, alice), client)), alice, aliceData, "u-alice", "user", "")
		for i := 1; i <= 2; i++ {
			bad := fakebackend.Token(fmt.Sprintf("rate-unknown-bad-%d", i)) // the backend says 401
			testkit.WantAnonymous(t, e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, bad), client)))
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 3)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 2)

		for i := 3; i <= 6; i++ {
			bad := fakebackend.Token(fmt.Sprintf("rate-unknown-bad-%d", i))
			r := e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, bad), client))
			testkit.WantRateLimited(t, r)
			if got := e.be.CountFor(fakebackend.Validate, bad); got != 0 {
				t.Errorf("token %d: validated %d times over the budget, want 0", i, got)
			}
		}
		// A token that would be valid is unknown too: still refused.
		later, _ := freshUser(e, "rate-unknown-later", "u-later")
		testkit.WantRateLimited(t, e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, later), client)))
		testkit.WantCount(t, e.be, fakebackend.Validate, 3)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 2)

		// The cached session still works, with no backend call.
		testkit.WantIdentity(t, e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, alice), client)), alice, aliceData, "u-alice", "user", "")
		testkit.WantCount(t, e.be, fakebackend.Validate, 3)

		// Another client has its own budget.
		testkit.WantIdentity(t, e.do(t, h, from(testkit.API("/").Cookie(testkit.UserCookie, later), "198.51.100.51")), later, fakebackend.UserData("u-later", "user", nil), "u-later", "user", "")
		testkit.WantCount(t, e.be, fakebackend.Validate, 4)

		t.Run("prefetch does not spare it", func(t *testing.T) {
			const prefetcher = "198.51.100.52"
			validations := e.be.Count(fakebackend.Validate)
			for i := 0; i < 6; i++ {
				bad := fakebackend.Token(fmt.Sprintf("rate-unknown-prefetch-%d", i))
				rq := from(testkit.API("/").Cookie(testkit.UserCookie, bad), prefetcher).WithHeader("Next-Router-Prefetch", "1").WithHeader("Sec-Purpose", "prefetch")
				r := e.do(t, h, rq)
				if i < 3 {
					testkit.WantAnonymous(t, r)
					continue
				}
				testkit.WantRateLimited(t, r)
			}
			if got := e.be.Count(fakebackend.Validate) - validations; got != 3 {
				t.Errorf("validations for prefetch requests: got %d, want 3", got)
			}
		})
	})
}

// TestSecurityRateLimitGuestMints: minting guest tokens spends
// rateLimit.guestMints; beyond it visitors are served without a guest
// session and the backend mints nothing more.
func TestSecurityRateLimitGuestMints(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, rateOpts(e, m{"requests": "100", "guestMints": "2"}, e.guestOpts(), m{"cache": m{"ttl": "1h"}}))
		const client = "198.51.100.60"
		for n := 1; n <= 2; n++ {
			r := e.do(t, h, from(testkit.Page("/"), client))
			g := fakebackend.GuestToken(n)
			testkit.WantIdentity(t, r, g, fakebackend.GuestData(n), fmt.Sprintf("guest-%d", n), "guest", g)
			testkit.WantCookieSet(t, r, testkit.GuestCookie, g)
		}
		testkit.WantCount(t, e.be, fakebackend.Guest, 2)
		for i := 0; i < 3; i++ {
			r := e.do(t, h, from(testkit.Page("/"), client))
			testkit.WantAnonymous(t, r)
			testkit.WantNoSetCookie(t, r)
		}
		testkit.WantCount(t, e.be, fakebackend.Guest, 2)

		// A guest session minted earlier keeps working.
		g1 := fakebackend.GuestToken(1)
		testkit.WantIdentity(t, e.do(t, h, from(testkit.Page("/").Cookie(testkit.GuestCookie, g1), client)), g1, fakebackend.GuestData(1), "guest-1", "guest", "")
		// Another client still gets a guest token.
		r := e.do(t, h, from(testkit.Page("/"), "198.51.100.61"))
		testkit.WantCookieSet(t, r, testkit.GuestCookie, fakebackend.GuestToken(3))
		testkit.WantCount(t, e.be, fakebackend.Guest, 3)
	})
}

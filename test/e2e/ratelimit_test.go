package e2e

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

func from(rq testkit.Request, xff string) testkit.Request {
	return rq.WithHeader("X-Forwarded-For", xff)
}

// TestRateLimit: through Traefik (whose web entry point trusts
// X-Forwarded-For from 127.0.0.1, as forwardedHeaders.trustedIPs), the
// client is the right-most X-Forwarded-For hop that is not in
// rateLimit.trustedProxies (127.0.0.1/32); each has its budget, 429 beyond
// it with no backend call. Without trustedProxies the header is ignored
// and every client is the peer.
func TestRateLimit(t *testing.T) {
	s := start(t, traefikrun.Options{ForwardedTrustedIPs: []string{"127.0.0.1/32"}})
	s.deploy(t, sites{
		"rl": m{
			"rateLimit": m{"enabled": "true", "requests": "3", "window": "1h", "trustedProxies": "127.0.0.1/32"},
			"routes":    m{"protected": testkit.List("/account")},
		},
		"peer": m{"rateLimit": m{"enabled": "true", "requests": "2", "window": "1h"}},
	})
	tok := fakebackend.Token("rate-user")
	data := fakebackend.UserData("u-rate", "user", nil)
	s.be.SetUser(tok, data)

	t.Run("budget per forwarded client", func(t *testing.T) {
		const client = "198.51.100.7"
		for i := 1; i <= 3; i++ {
			r := s.do(t, from(page("rl", "/account").Cookie(testkit.UserCookie, tok), client))
			testkit.WantIdentity(t, r, tok, data, "u-rate", "user", "")
			if got := r.Header.Get("X-RateLimit-Limit"); got != "3" {
				t.Errorf("X-RateLimit-Limit: got %q, want 3", got)
			}
			if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(3-i) {
				t.Errorf("X-RateLimit-Remaining: got %q, want %d", got, 3-i)
			}
		}
		other := fakebackend.Token("rate-other")
		s.be.SetUser(other, fakebackend.UserData("u-other", "user", nil))
		for _, rq := range []testkit.Request{
			from(page("rl", "/account").Cookie(testkit.UserCookie, tok), client),
			from(api("rl", "/account").Cookie(testkit.UserCookie, other), client),
			// Hops to the left of the client are its own words.
			from(page("rl", "/"), "203.0.113.9, "+client),
		} {
			before := s.be.Total()
			testkit.WantRateLimitedAs(t, rq, s.do(t, rq))
			testkit.WantBackendUntouched(t, s.be, before)
		}
		r := s.do(t, from(page("rl", "/account").Cookie(testkit.UserCookie, tok), "198.51.100.8"))
		testkit.WantIdentity(t, r, tok, data, "u-rate", "user", "")
		if got := r.Header.Get("X-RateLimit-Remaining"); got != "2" {
			t.Errorf("another client's X-RateLimit-Remaining: got %q, want 2", got)
		}
	})

	t.Run("without trustedProxies the peer is the client", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			testkit.WantForwarded(t, s.do(t, from(page("peer", "/"), fmt.Sprintf("198.51.100.%d", 50+i))))
		}
		testkit.WantRateLimitedAs(t, page("peer", "/"), s.do(t, from(page("peer", "/"), "198.51.100.99")))
	})
}

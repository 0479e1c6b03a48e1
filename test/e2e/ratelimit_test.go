package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/traefikrun"
)

const rateLimitedMessage = "Too many requests. Please try again later."

func wantRateLimited(t *testing.T, r *result) {
	t.Helper()
	wantNotForwarded(t, r)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("status: got %d (body %q), want 429", r.code, r.body)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After: got %q, want whole seconds in [1, 3600] (window 1h)", r.header.Get("Retry-After"))
	}
	want := fmt.Sprintf(`{"success":false,"message":%q,"retryAfter":%d}`, rateLimitedMessage, retry)
	var got, exp interface{}
	if json.Unmarshal([]byte(r.body), &got) != nil || json.Unmarshal([]byte(want), &exp) != nil || fmt.Sprint(got) != fmt.Sprint(exp) {
		t.Errorf("body: got %s, want %s", r.body, want)
	}
	wantNoStore(t, r)
}

// wantRateLimitedAs is wantRateLimited for an API client (rq not
// accepting text/html); a browser gets the 429 page with the same
// Retry-After and no-store.
func wantRateLimitedAs(t *testing.T, rq request, r *result) {
	t.Helper()
	if !strings.Contains(rq.accept, "text/html") {
		wantRateLimited(t, r)
		return
	}
	wantNotForwarded(t, r)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("status: got %d (body %q), want 429", r.code, r.body)
	}
	if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 || retry > 3600 {
		t.Errorf("Retry-After: got %q, want whole seconds in [1, 3600] (window 1h)", r.header.Get("Retry-After"))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type: got %q, want the text/html page", ct)
	}
	wantNoStore(t, r)
}

func from(rq request, xff string) request { return rq.withHeader("X-Forwarded-For", xff) }

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
			"routes":    m{"protected": list("/account")},
		},
		"peer": m{"rateLimit": m{"enabled": "true", "requests": "2", "window": "1h"}},
	})
	tok := fakebackend.Token("rate-user")
	data := fakebackend.UserData("u-rate", "user", nil)
	s.be.SetUser(tok, data)

	t.Run("budget per forwarded client", func(t *testing.T) {
		const client = "198.51.100.7"
		for i := 1; i <= 3; i++ {
			r := s.do(t, from(page("rl", "/account").cookie(userCookie, tok), client))
			wantIdentity(t, r, tok, data, "u-rate", "user", "")
			if got := r.header.Get("X-RateLimit-Limit"); got != "3" {
				t.Errorf("X-RateLimit-Limit: got %q, want 3", got)
			}
			if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(3-i) {
				t.Errorf("X-RateLimit-Remaining: got %q, want %d", got, 3-i)
			}
		}
		other := fakebackend.Token("rate-other")
		s.be.SetUser(other, fakebackend.UserData("u-other", "user", nil))
		for _, rq := range []request{
			from(page("rl", "/account").cookie(userCookie, tok), client),
			from(api("rl", "/account").cookie(userCookie, other), client),
			// Hops to the left of the client are its own words.
			from(page("rl", "/"), "203.0.113.9, "+client),
		} {
			before := s.be.Total()
			wantRateLimitedAs(t, rq, s.do(t, rq))
			s.wantBackendUntouched(t, before)
		}
		r := s.do(t, from(page("rl", "/account").cookie(userCookie, tok), "198.51.100.8"))
		wantIdentity(t, r, tok, data, "u-rate", "user", "")
		if got := r.header.Get("X-RateLimit-Remaining"); got != "2" {
			t.Errorf("another client's X-RateLimit-Remaining: got %q, want 2", got)
		}
	})

	t.Run("without trustedProxies the peer is the client", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			wantForwarded(t, s.do(t, from(page("peer", "/"), fmt.Sprintf("198.51.100.%d", 50+i))))
		}
		wantRateLimitedAs(t, page("peer", "/"), s.do(t, from(page("peer", "/"), "198.51.100.99")))
	})
}

package contract

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestCacheHit: within cache.ttl (default 2s) the same token is not
// validated again, and the cached answer still yields the identity.
func TestCacheHit(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("frank")
		frank := fakebackend.UserData("u-frank", "user", nil)
		e.be.SetUser(tok, frank)
		h := e.handler(t, e.opts())
		for i := 0; i < 3; i++ {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok))
			testkit.WantIdentity(t, r, tok, frank, "u-frank", "user", "")
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 1)
	})
}

// TestCacheTTLExpires: after cache.ttl the token is validated again.
func TestCacheTTLExpires(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("grace")
		e.be.SetUser(tok, fakebackend.UserData("u-grace", "user", nil))
		h := e.handler(t, e.opts(m{"cache": m{"ttl": "150ms"}}))
		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
		testkit.WantCount(t, e.be, fakebackend.Validate, 1)
		time.Sleep(400 * time.Millisecond) // let the TTL pass (wall time, not a goroutine wait)
		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
		testkit.WantCount(t, e.be, fakebackend.Validate, 2)
	})
}

// TestCacheNeverOutlivesExp: an entry ends at the token's exp even when
// cache.ttl is longer.
func TestCacheNeverOutlivesExp(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("heidi")
		// exp 2s ahead in epoch seconds: between 1s and 2s from now.
		exp := time.Now().Unix() + 2
		e.be.SetUser(tok, m{"id": "u-heidi", "type": "user", "exp": exp})
		h := e.handler(t, e.opts(m{"cache": m{"ttl": "1h"}}))

		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
		testkit.WantCount(t, e.be, fakebackend.Validate, 1)

		// Wait for exp to pass (wall time), then the backend says the token
		// lives on with a later exp: authlayer must ask it again.
		time.Sleep(time.Until(time.Unix(exp, 0)) + 150*time.Millisecond)
		later := m{"id": "u-heidi", "type": "user", "exp": time.Now().Unix() + 3600}
		e.be.SetUser(tok, later)
		r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok))
		testkit.WantCount(t, e.be, fakebackend.Validate, 2)
		testkit.WantIdentity(t, r, tok, later, "u-heidi", "user", "")
	})
}

// TestCacheKeyIsWholeToken: a token differing only in its signature is a
// cache miss, and never gets another token's identity.
func TestCacheKeyIsWholeToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/account")}}))
		tok := fakebackend.Token("ivan")
		ivan := fakebackend.UserData("u-ivan", "user", nil)
		e.be.SetUser(tok, ivan)
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)), tok, ivan, "u-ivan", "user", "")

		t.Run("forged signature", func(t *testing.T) {
			forged := fakebackend.Resign(tok) // unknown to the backend: 401
			r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, forged))
			if got := e.be.CountFor(fakebackend.Validate, forged); got != 1 {
				t.Errorf("validate calls for the re-signed token: got %d, want 1 (a cache miss)", got)
			}
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		})
		t.Run("other valid token", func(t *testing.T) {
			other := tok[:len(tok)-1] + "C" // neither tok nor the forged one
			judy := fakebackend.UserData("u-judy", "user", nil)
			e.be.SetUser(other, judy)
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, other))
			testkit.WantIdentity(t, r, other, judy, "u-judy", "user", "")
		})
	})
}

// TestTransientAnswersAreNotCached: a 5xx or a timeout is asked again on
// the next request.
func TestTransientAnswersAreNotCached(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"backend": m{"timeout": "300ms"}, "routes": m{"protected": testkit.List("/account")}}))
		user := fakebackend.UserData("u-kim", "user", nil)
		for _, tc := range []struct {
			desc   string
			answer fakebackend.Answer
		}{
			{"503", fakebackend.Status(http.StatusServiceUnavailable)},
			{"500", fakebackend.Status(http.StatusInternalServerError)},
			{"timeout", fakebackend.Hang()},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok := fakebackend.Token(t.Name())
				e.be.SetValidate(tok, tc.answer)
				r := e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, tok))
				testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
				// The shared call runs detached under its own timeout and may
				// outlive the request by a moment; a request arriving before it
				// ends joins it. Wait until it is over.
				waitCallsOver(t, e.be, fakebackend.Validate)
				r = e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, tok))
				testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
				waitCallsOver(t, e.be, fakebackend.Validate)
				if got := e.be.CountFor(fakebackend.Validate, tok); got != 2 {
					t.Errorf("validate calls: got %d, want 2 (transient answers are not cached)", got)
				}
				// The backend recovers: the very next request is served.
				e.be.SetUser(tok, user)
				testkit.WantIdentity(t, e.do(t, h, testkit.API("/account").Cookie(testkit.UserCookie, tok)), tok, user, "u-kim", "user", "")
				if got := e.be.CountFor(fakebackend.Validate, tok); got != 3 {
					t.Errorf("validate calls: got %d, want 3", got)
				}
			})
		}
	})
}

// TestCacheMaxEntries: the cache holds at most cache.maxEntries answers.
func TestCacheMaxEntries(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		const tokens = 10
		for _, tc := range []struct {
			desc       string
			maxEntries string
			// maxHits is the most second-pass requests that may be served
			// from the cache.
			maxHits int
			minHits int
		}{
			{"bounded to 2", "2", 2, 0},
			{"room for all", "1000", tokens, tokens},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				h := e.handler(t, e.opts(m{"cache": m{"ttl": "1h", "maxEntries": tc.maxEntries}}))
				toks := make([]string, tokens)
				for i := range toks {
					toks[i] = fakebackend.Token(fmt.Sprintf("%s-%d", t.Name(), i))
					e.be.SetUser(toks[i], fakebackend.UserData(fmt.Sprintf("u-%d", i), "user", nil))
				}
				for pass := 0; pass < 2; pass++ {
					for _, tok := range toks {
						testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
					}
				}
				hits := 0
				for _, tok := range toks {
					if e.be.CountFor(fakebackend.Validate, tok) == 1 {
						hits++
					}
				}
				if hits > tc.maxHits || hits < tc.minHits {
					t.Errorf("second-pass cache hits with maxEntries %s: got %d, want between %d and %d",
						tc.maxEntries, hits, tc.minHits, tc.maxHits)
				}
			})
		}
	})
}

// waitCallsOver waits (bounded) until no hanging call to endpoint is still
// held: each has been aborted by its client.
func waitCallsOver(t *testing.T, be *fakebackend.Backend, endpoint string) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for time.Now().Before(deadline) {
		open := 0
		for _, c := range be.Calls(endpoint) {
			if c.Hung && !c.Aborted {
				open++
			}
		}
		if open == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("a hanging %s call was never ended", endpoint)
}

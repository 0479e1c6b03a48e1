package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestHardeningPathsAndConcurrency: the hardening that depends on what
// Traefik does around the plugin, its path handling and its concurrency:
// dot segments with parameters are refused or protected, a remembered
// refresh does not outlive its revoked new token, and a burst beyond
// backend.maxConcurrent waits for call slots.
func TestHardeningPathsAndConcurrency(t *testing.T) {
	s := start(t, traefikrun.Options{})
	routes := m{
		"protected": testkit.List("/dashboard", "/api/account"),
		"excluded":  testkit.List("/static"),
		"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}},
	}
	s.deploy(t, sites{
		"paths":   m{"routes": routes},
		"protect": m{"routes": m{"protected": routes["protected"], "excluded": routes["excluded"], "ambiguousPaths": "protect"}},
		"memo":    m{"cache": m{"ttl": "200ms"}, "routes": m{"protected": testkit.List("/api/account")}},
		"slots":   m{"backend": m{"maxConcurrent": "4", "timeout": "5s"}, "routes": m{"protected": testkit.List("/api/account")}},
	})

	// A dot segment with parameters ("..;") is a name to Go,
	// Traefik and most apps, but ".." to others; it must never make a
	// path weaker than any reading of it. Traefik passes such paths to the
	// plugin as sent.
	t.Run("dot segments with parameters", func(t *testing.T) {
		editor := fakebackend.Token("dotsegments-editor")
		s.be.SetUser(editor, fakebackend.UserData("u-editor", "user", "editor"))
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"protected page", page("paths", "/dashboard/..;/")},
			{"protected page, encoded dots", page("paths", "/dashboard/%2e%2e;/")},
			{"protected page, parameter text", page("paths", "/dashboard/..;x=1/")},
			{"role rule", page("paths", "/admin/..;/x").Cookie(testkit.UserCookie, editor)},
			{"protected read as excluded", page("paths", "/dashboard/..;/static/app.js")},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				r := s.do(t, tc.rq)
				testkit.WantNotForwarded(t, r)
				if r.Code != http.StatusBadRequest {
					t.Errorf("status: got %d %q, want 400 (routes.ambiguousPaths reject)", r.Code, r.Body)
				}
			})
		}
		t.Run("ambiguousPaths protect", func(t *testing.T) {
			r := s.do(t, api("protect", "/dashboard/..;/static/x"))
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		})
	})

	// A remembered refresh must not outlive the new token: once
	// that token is revoked (and its cache entry expired), the old cookie
	// gets no session either.
	t.Run("remembered refresh after the new token is revoked", func(t *testing.T) {
		old := fakebackend.Token("revoked-memo-old")
		fresh := fakebackend.Token("revoked-memo-new")
		s.be.SetValidate(old, fakebackend.Unauthorized())
		s.be.RefreshTo(old, fresh, "", fakebackend.UserData("u-memo", "user", nil))
		first := s.do(t, api("memo", "/api/account").Cookie(testkit.UserCookie, old))
		testkit.WantForwarded(t, first)
		testkit.WantCookieSet(t, first, testkit.UserCookie, fresh)

		s.be.SetValidate(fresh, fakebackend.Unauthorized()) // revoked, e.g. logged out elsewhere
		time.Sleep(500 * time.Millisecond)                  // wall time for cache.ttl 200ms to pass
		for _, tok := range []string{fresh, old} {
			r := s.do(t, api("memo", "/api/account").Cookie(testkit.UserCookie, tok))
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
		}
	})

	// More uncached sessions at once than backend.maxConcurrent
	// wait for a call slot (within backend.timeout) instead of failing
	// fast with 503 while the backend is healthy. (All requests come from
	// one client here, which may hold half of the slots.)
	t.Run("a burst beyond maxConcurrent waits for slots", func(t *testing.T) {
		const n = 16
		gate := s.be.Hold(fakebackend.Validate)
		defer gate.Release()
		results := make(chan testkit.AsyncResult, n)
		for i := 0; i < n; i++ {
			tok := fakebackend.Token(fmt.Sprintf("burst-slots-%d", i))
			s.be.SetUser(tok, fakebackend.UserData(fmt.Sprintf("u-slots-%d", i), "user", nil))
			rq := api("slots", "/api/account").Cookie(testkit.UserCookie, tok)
			go func() {
				r, err := s.send(rq)
				results <- testkit.AsyncResult{Res: r, Err: err}
			}()
		}
		gate.WaitArrivals(t, 2, waitBound)
		settle()
		gate.Release()
		b := &burst{n: n, results: results}
		codes := map[int]int{}
		for _, r := range b.collect(t) {
			codes[r.Code]++
			if r.Code == http.StatusOK && r.Upstream.Get(testkit.HeaderUserID) == "" {
				t.Errorf("a session was forwarded without its identity")
			}
		}
		if codes[http.StatusOK] != n {
			t.Errorf("statuses of %d concurrent new sessions with maxConcurrent 4: %v, want all 200", n, codes)
		}
		if got := s.be.Count(fakebackend.Validate); got < n {
			t.Errorf("validate calls: got %d, want at least %d (one per session)", got, n)
		}
	})
}

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

// reloadRounds is how many configuration reloads TestReloadGoroutines
// makes in each phase.
const reloadRounds = 50

// goroutineSlack is how many goroutines above the baseline Traefik may
// keep after the reloads (its own timers and connections come and go).
const goroutineSlack = 5

// TestReloadGoroutines: reloads rewriting the dynamic configuration, with
// traffic through the plugin between them (validations, refreshes, guest
// mints, CSRF and rate limiting on), leave Traefik's goroutine count flat.
func TestReloadGoroutines(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	config := func(round int, backendFacing bool) sites {
		ttl := "2s"
		if backendFacing {
			// A backend-facing option that changes on every reload: every
			// reload starts a fresh shared state.
			ttl = fmt.Sprintf("%dms", 2000+round)
		}
		return sites{
			"full": m{
				"guest":   m{"enabled": "true", "username": "guest-user", "password": "guest-pass"},
				"cookies": m{"refresh": testkit.RefreshCookie},
				"cache":   m{"ttl": ttl},
				"csrf":    m{"enabled": "true", "secret": csrfSecret},
				"rateLimit": m{"enabled": "true", "requests": "100000", "refreshes": "100000",
					"unknownTokens": "100000", "guestMints": "100000", "window": "1m"},
				"routes": m{"protected": testkit.List("/account"), "public": testkit.List(fmt.Sprintf("/round-%d", round))},
			},
			"plain": m{"routes": m{"protected": testkit.List("/account")}},
		}
	}
	traffic := func(t *testing.T, round int) {
		t.Helper()
		tok := fakebackend.Token(fmt.Sprintf("reload-user-%d", round))
		data := fakebackend.UserData("u-reload", "user", nil)
		s.be.SetUser(tok, data)
		old := fakebackend.Token(fmt.Sprintf("reload-old-%d", round))
		refresh := fakebackend.Token(fmt.Sprintf("reload-refresh-%d", round))
		s.be.SetValidate(old, fakebackend.Unauthorized())
		s.be.RefreshTo(refresh, fakebackend.Token(fmt.Sprintf("reload-new-%d", round)), "", data)
		testkit.WantIdentity(t, s.do(t, page("full", "/account").Cookie(testkit.UserCookie, tok)), tok, data, "u-reload", "user", "")
		testkit.WantIdentity(t, s.do(t, page("plain", "/account").Cookie(testkit.UserCookie, tok)), tok, data, "u-reload", "user", "")
		testkit.WantForwarded(t, s.do(t, page("full", "/").Cookie(testkit.UserCookie, old).Cookie(testkit.RefreshCookie, refresh)))
		testkit.WantForwarded(t, s.do(t, page("full", "/")))
	}
	// settled waits (bounded) for the goroutine count to come down to at
	// most limit, and returns the last count.
	settled := func(t *testing.T, limit int) int {
		t.Helper()
		n := s.tr.Goroutines(t)
		for i := 0; i < 40 && n > limit; i++ {
			gc(t, s.tr)
			time.Sleep(250 * time.Millisecond)
			n = s.tr.Goroutines(t)
		}
		return n
	}

	// Warm up: connections, pools and the plugin's states exist.
	round := 0
	for ; round < 5; round++ {
		s.deploy(t, config(round, false))
		traffic(t, round)
	}
	s.client.CloseIdleConnections()
	gc(t, s.tr)
	time.Sleep(300 * time.Millisecond)
	base := s.tr.Goroutines(t)
	t.Logf("Traefik goroutines after warm-up: %d", base)

	t.Run("reloads keeping the backend-facing options", func(t *testing.T) {
		start := time.Now()
		var reloading time.Duration
		for i := 0; i < reloadRounds; i++ {
			round++
			r0 := time.Now()
			s.deploy(t, config(round, false))
			reloading += time.Since(r0)
			traffic(t, round)
		}
		t.Logf("reloads took %v on average", reloading/reloadRounds)
		s.client.CloseIdleConnections()
		n := settled(t, base+goroutineSlack)
		t.Logf("%d reloads with traffic in %v: goroutines %d -> %d", reloadRounds, time.Since(start).Round(time.Millisecond), base, n)
		if n > base+goroutineSlack {
			t.Errorf("Traefik goroutines after %d reloads: %d, want at most %d + %d\n%s",
				reloadRounds, n, base, goroutineSlack, s.tr.GoroutineProfile(t))
		}
	})

	t.Run("reloads changing a backend-facing option", func(t *testing.T) {
		// Each such reload starts a fresh validation cache; the backend
		// connections must not be left behind with the old one (they
		// were, 2 goroutines per reload for 90 s, until the pool moved to
		// the session scope).
		before := settled(t, base+goroutineSlack)
		start := time.Now()
		var reloading time.Duration
		for i := 0; i < reloadRounds; i++ {
			round++
			r0 := time.Now()
			s.deploy(t, config(round, true))
			reloading += time.Since(r0)
			traffic(t, round)
		}
		t.Logf("reloads took %v on average", reloading/reloadRounds)
		s.client.CloseIdleConnections()
		n := settled(t, before+goroutineSlack)
		t.Logf("%d reloads with traffic in %v: goroutines %d -> %d", reloadRounds, time.Since(start).Round(time.Millisecond), before, n)
		if n > before+goroutineSlack {
			t.Errorf("Traefik goroutines after %d reloads: %d, want at most %d + %d\n%s",
				reloadRounds, n, before, goroutineSlack, s.tr.GoroutineProfile(t))
		}
	})
}

// TestReloadMidRefresh: a configuration reload while a refresh is held at
// the backend, with requests carrying the old cookie before and after the
// reload: exactly one refresh call, and every request gets the new
// session (no 401, no cookie cleared).
func TestReloadMidRefresh(t *testing.T) {
	s := start(t, traefikrun.Options{})
	site := func(ttl string) m {
		return m{"cache": m{"ttl": ttl}, "routes": m{"protected": testkit.List("/account", "/api/account")}}
	}
	for _, tc := range []struct {
		desc   string
		before sites
		after  sites
	}{
		{
			desc:   "reload leaving the middleware's options alone",
			before: sites{"mid": site("2s")},
			after:  sites{"mid": site("2s"), "other": m{}},
		},
		{
			// The refresh in flight survives a reload that changes
			// backend-facing options.
			desc:   "reload changing a backend-facing option",
			before: sites{"mid2": site("2s")},
			after:  sites{"mid2": site("3s")},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var name string
			for n := range tc.before {
				name = n
			}
			s.deploy(t, tc.before)
			old := fakebackend.Token(t.Name() + "-old")
			fresh := fakebackend.Token(t.Name() + "-new")
			user := fakebackend.UserData("u-mid", "user", nil)
			s.be.SetValidate(old, fakebackend.Unauthorized())
			s.be.RefreshTo(old, fresh, "", user)

			gate := s.be.Hold(fakebackend.Refresh)
			defer gate.Release()
			first := s.startBurst(20, api(name, "/api/account").Cookie(testkit.UserCookie, old))
			gate.WaitArrivals(t, 1, waitBound)
			settle()
			s.deploy(t, tc.after)
			second := s.startBurst(20, api(name, "/api/account").Cookie(testkit.UserCookie, old))
			settle()
			gate.Release()
			results := append(first.collect(t), second.collect(t)...)

			if got := s.be.CountFor(fakebackend.Refresh, old); got != 1 {
				t.Errorf("refresh calls with the old credential: got %d, want 1", got)
			}
			codes := map[int]int{}
			for _, r := range results {
				codes[r.Code]++
			}
			if codes[http.StatusOK] != len(results) {
				t.Errorf("statuses of %d requests: %v, want all 200", len(results), codes)
			}
			for _, r := range results {
				testkit.WantNoCookieClearing(t, r)
				if t.Failed() {
					break
				}
			}
			testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
				testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
				testkit.WantIdentity(t, r, fresh, user, "u-mid", "user", fresh)
			})
		})
	}
}

// gc makes Traefik collect garbage (a heap profile with gc=1), so that
// goroutines ended by finalizers (Traefik's go-cache janitors) are gone
// before goroutines are counted.
func gc(t *testing.T, tr *traefikrun.Traefik) {
	t.Helper()
	if code, _ := tr.Get(t, "/debug/pprof/heap?gc=1"); code != http.StatusOK {
		t.Fatalf("GET /debug/pprof/heap?gc=1: status %d", code)
	}
}

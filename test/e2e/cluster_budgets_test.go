package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// budgetRun is one budget's figures.
type budgetRun struct {
	name     string
	budget   int
	sent     int
	ok       int // answered as allowed
	limited  int // 429
	other    int // anything else
	calls    int // backend calls of the budget's kind (-1: not counted)
	allowed  int // what the budget let through
	problems []string
}

// TestClusterBudgets: each rateLimit budget (requests, unknownTokens,
// refreshes, guestMints, logins) is spent by one client hammering the
// three replicas round-robin, three times the budget: the client gets the
// configured budget ±5%, not three times it. The client is the
// X-Forwarded-For address (Traefik's entry point and rateLimit.trustedProxies
// trust 127.0.0.1), one per budget.
func TestClusterBudgets(t *testing.T) {
	const (
		requests = 100 // rateLimit.requests of its site
		budget   = 60  // each backend budget of its site
		workers  = 6
		lots     = "100000"
	)
	c := startCluster(t, clusterReplicas, traefikrun.Options{ForwardedTrustedIPs: []string{"127.0.0.1/32"}}, func(c *cluster) sites {
		rl := func(extra m) m {
			o := m{"enabled": "true", "window": "1h", "trustedProxies": "127.0.0.1/32",
				"requests": lots, "unknownTokens": lots, "refreshes": lots, "guestMints": lots, "logins": lots}
			testkit.Merge(o, extra)
			return o
		}
		site := func(limits m, extra m) m {
			o := seEndpoints(m{"rateLimit": rl(limits)})
			testkit.Merge(o, extra)
			return c.withCluster(o, nil)
		}
		c.be.EnableGuest("guest-user", "guest-pass")
		user := fakebackend.UserData("u-lena", "user", nil)
		c.be.SetUser(fakebackend.Token("lena-access"), user)
		c.be.SetLogin("lena", "pw", fakebackend.LoggedIn(fakebackend.Token("lena-access"), "", user))
		return sites{
			"rl-requests": site(m{"requests": fmt.Sprint(requests)}, nil),
			"rl-unknown":  site(m{"unknownTokens": fmt.Sprint(budget)}, nil),
			"rl-refresh":  site(m{"refreshes": fmt.Sprint(budget)}, nil),
			"rl-guest":    site(m{"guestMints": fmt.Sprint(budget)}, seGuestOpts),
			"rl-login":    site(m{"logins": fmt.Sprint(budget)}, nil),
		}
	})

	type kind struct {
		name   string
		budget int
		client string
		// request i, and whether its answer counts as allowed
		rq      func(i int) testkit.Request
		allowed func(r *testkit.Result) bool
		limited func(r *testkit.Result) bool
		// calls counts the backend calls of the kind (nil: none)
		calls func() int
	}
	served := func(r *testkit.Result) bool { return r.Code == http.StatusOK && r.Upstream != nil }
	// Over budget: 429 and nothing forwarded; a guest mint refused serves
	// the visitor without a guest session.
	tooMany := func(r *testkit.Result) bool { return r.Code == http.StatusTooManyRequests && r.Upstream == nil }
	noGuest := func(r *testkit.Result) bool { return served(r) && len(r.SetCookies(testkit.GuestCookie)) == 0 }
	sessions := make([]stormSession, 3*budget)
	unknown := make([]string, 3*budget)
	for i := range sessions {
		sessions[i] = c.newStormSession(fmt.Sprintf("rl-refresh-%d", i), 0)
		unknown[i] = fakebackend.Token(fmt.Sprintf("rl-unknown-%d", i))
		c.be.SetUser(unknown[i], fakebackend.UserData(fmt.Sprintf("u-rl-unknown-%d", i), "user", nil))
	}
	guestsBefore, loginsBefore := c.be.Count(fakebackend.Guest), c.be.Count(fakebackend.Login)
	kinds := []kind{
		{"requests", requests, "198.51.100.10",
			func(int) testkit.Request { return api("rl-requests", "/") }, served, tooMany, nil},
		{"unknownTokens", budget, "198.51.100.11",
			func(i int) testkit.Request {
				return api("rl-unknown", "/api/me").Cookie(testkit.UserCookie, unknown[i])
			}, served, tooMany,
			func() int {
				n := 0
				for _, tok := range unknown {
					n += c.be.CountFor(fakebackend.Validate, tok)
				}
				return n
			}},
		{"refreshes", budget, "198.51.100.12",
			func(i int) testkit.Request {
				return api("rl-refresh", "/api/me").Cookie(testkit.UserCookie, sessions[i].access).Cookie(testkit.RefreshCookie, sessions[i].refresh)
			}, served, tooMany,
			func() int {
				n := 0
				for _, s := range sessions {
					n += c.be.CountFor(fakebackend.Refresh, s.refresh)
				}
				return n
			}},
		{"guestMints", budget, "198.51.100.13",
			func(int) testkit.Request { return page("rl-guest", "/") },
			func(r *testkit.Result) bool { return served(r) && len(r.SetCookies(testkit.GuestCookie)) == 1 }, noGuest,
			func() int { return c.be.Count(fakebackend.Guest) - guestsBefore }},
		{"logins", budget, "198.51.100.14",
			func(int) testkit.Request { return seJSONLogin("rl-login", "lena", "pw") },
			func(r *testkit.Result) bool {
				return r.Code == http.StatusOK && len(r.SetCookies(testkit.UserCookie)) == 1
			}, tooMany,
			func() int { return c.be.Count(fakebackend.Login) - loginsBefore }},
	}

	runs := make([]*budgetRun, len(kinds))
	var wg sync.WaitGroup
	started := time.Now()
	for ki, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := &budgetRun{name: k.name, budget: k.budget, sent: 3 * k.budget, calls: -1}
			var mu sync.Mutex
			_ = seRun(run.sent, workers, func(i int) error {
				r, err := c.send(i%len(c.reps), from(k.rq(i), k.client))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					run.other++
					run.problems = append(run.problems, err.Error())
				case k.allowed(r):
					run.ok++
				case k.limited(r):
					run.limited++
				default:
					run.other++
					if len(run.problems) < 3 {
						run.problems = append(run.problems, fmt.Sprintf("request %d at replica %d: status %d (forwarded %v) body %.80q", i, i%len(c.reps), r.Code, r.Upstream != nil, r.Body))
					}
				}
				return nil
			})
			run.allowed = run.ok
			if k.calls != nil {
				run.calls = k.calls()
				run.allowed = run.calls
			}
			runs[ki] = run
		}()
	}
	wg.Wait()
	wall := time.Since(started)

	var b strings.Builder
	fmt.Fprintf(&b, "rate budgets over %d replicas, one client each sending 3× its budget round-robin (%d workers), all budgets at once, wall %.1f s:\n", clusterReplicas, workers, wall.Seconds())
	fmt.Fprintf(&b, "  %-14s %6s %9s %5s %7s %7s %5s %13s %11s\n", "budget", "config", "got ±5%", "sent", "allowed", "refused", "other", "backend calls", "per-process")
	for _, run := range runs {
		tol := int(math.Ceil(0.05 * float64(run.budget)))
		if run.allowed < run.budget-tol || run.allowed > run.budget+tol {
			t.Errorf("%s: the client got %d (answers allowed %d, backend calls %d) of %d requests, want the configured %d ±%d",
				run.name, run.allowed, run.ok, run.calls, run.sent, run.budget, tol)
		}
		if run.calls >= 0 && run.calls != run.ok {
			t.Errorf("%s: %d answers allowed but %d backend calls", run.name, run.ok, run.calls)
		}
		if run.other != 0 {
			t.Errorf("%s: %d answers neither allowed nor 429: %s", run.name, run.other, strings.Join(run.problems, "; "))
		}
		calls := "-"
		if run.calls >= 0 {
			calls = fmt.Sprint(run.calls)
		}
		fmt.Fprintf(&b, "  %-14s %6d %4d %-4s %5d %7d %7d %5d %13s %11d\n", run.name, run.budget, run.allowed,
			fmt.Sprintf("±%d", tol), run.sent, run.ok, run.limited, run.other, calls, min(run.sent, clusterReplicas*run.budget))
	}
	if n := c.panicLines(); n != 0 {
		t.Errorf("the replicas' logs hold %d lines about a panic", n)
	}
	t.Logf("%s", b.String())
}

// TestClusterValidations: the same users make the same requests, one
// group spread over the three replicas, the other at one replica alone;
// a validation made at one replica serves the others, so the spread group
// costs the backend at most 5% more validate calls than the single-replica
// one (about one per token per cache.ttl), not three times as many.
func TestClusterValidations(t *testing.T) {
	const (
		users    = 20
		period   = 200 * time.Millisecond
		duration = 6 * time.Second
		ttl      = "2s"
	)
	c := startCluster(t, clusterReplicas, traefikrun.Options{}, func(c *cluster) sites {
		return sites{"val": c.withCluster(m{
			"cache":  m{"ttl": ttl},
			"routes": m{"protected": testkit.List("/api/me")},
		}, nil)}
	})
	tokens := newTokenSet()
	type user struct {
		token, id string
		spread    bool
	}
	var all []user
	for _, spread := range []bool{true, false} {
		for i := 0; i < users; i++ {
			id := fmt.Sprintf("u-val-%v-%d", spread, i)
			tok := fakebackend.Token(id)
			c.be.SetUser(tok, fakebackend.UserData(id, "user", nil))
			tokens.add(id, tok)
			all = append(all, user{tok, id, spread})
		}
	}
	var sent, bad counter
	var problems []string
	var mu sync.Mutex
	started := time.Now()
	// The traffic runs in the background and Redis is read half-way
	// through it, from the test's goroutine (the dump may FailNow): the
	// shared validations live cache.ttl, so a dump after the run may find
	// every key expired.
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		_ = seRun(len(all), len(all), func(ui int) error {
			u := all[ui]
			for j := 0; j < int(duration/period)+1 && time.Since(started) < duration; j++ {
				rep := 0
				if u.spread {
					rep = (ui + j) % len(c.reps)
				}
				r, err := c.send(rep, api("val", "/api/me").Cookie(testkit.UserCookie, u.token))
				sent.inc(fmt.Sprint(u.spread))
				if err != nil || r.Code != http.StatusOK || r.Upstream == nil || r.Upstream.Get(testkit.HeaderUserID) != u.id {
					bad.inc(fmt.Sprint(u.spread))
					mu.Lock()
					if len(problems) < 3 {
						if err != nil {
							problems = append(problems, err.Error())
						} else {
							problems = append(problems, fmt.Sprintf("replica %d: status %d forwarded %v", rep, r.Code, r.Upstream != nil))
						}
					}
					mu.Unlock()
				}
				time.Sleep(period)
			}
			return nil
		})
	}()
	time.Sleep(duration / 2)
	families := c.redisHoldsNoToken(t, tokens)
	<-trafficDone
	calls := map[bool]int{}
	for _, u := range all {
		calls[u.spread] += c.be.CountFor(fakebackend.Validate, u.token)
	}
	if n := bad.get("true") + bad.get("false"); n != 0 {
		t.Errorf("%d requests were not served as their user: %s", n, strings.Join(problems, "; "))
	}
	if calls[false] == 0 {
		t.Fatalf("no validate call for the single-replica group")
	}
	ratio := float64(calls[true]) / float64(calls[false])
	if ratio > 1.05 {
		t.Errorf("validate calls: %d for users spread over %d replicas, %d for the same traffic at one replica: ratio %.2f, want <= 1.05",
			calls[true], clusterReplicas, calls[false], ratio)
	}
	if families["val"] == 0 {
		t.Errorf("no shared validation in Redis half-way through the traffic: %s", familyLine(families))
	}
	t.Logf("validations, cache.ttl %s, %d users per group, a request every %v each for %v (redis keys by family half-way: %s):\n"+
		"  %-22s %8s %14s %16s\n  %-22s %8d %14d %16.2f\n  %-22s %8d %14d %16.2f\n  ratio spread/one: %.2f (without sharing about %d×)",
		ttl, users, period, duration, familyLine(families),
		"group", "requests", "validate calls", "calls per token",
		fmt.Sprintf("spread over %d", clusterReplicas), sent.get("true"), calls[true], float64(calls[true])/users,
		"one replica", sent.get("false"), calls[false], float64(calls[false])/users,
		ratio, clusterReplicas)
}

// counter is a concurrency-safe tally by name.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (ct *counter) inc(name string) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.n == nil {
		ct.n = map[string]int{}
	}
	ct.n[name]++
}

func (ct *counter) get(name string) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.n[name]
}

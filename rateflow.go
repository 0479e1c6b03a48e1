package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Rate limiting in the request flow (the limiter itself is
// internal/ratelimit). Every request spends from the client's request
// budget before any backend call. The expensive backend calls spend from
// their own, tighter budgets, charged only to the client whose request
// really makes the call: validating a token that is neither cached nor
// validated recently, starting a refresh, minting a guest token. Waiting
// on another request's call, a remembered refresh and a cache hit are
// free, so many users behind one address do not spend each other's
// budgets.

// compileRateLimit builds the instance's limiter (nil when
// rateLimit.enabled is false, without checking the rest); its buckets
// become the session scope's in sharedStateFor.
func compileRateLimit(c *Config, s *settings) error {
	r := c.RateLimit
	if !r.Enabled {
		return nil
	}
	window, err := opts.PositiveDuration("rateLimit.window", r.Window)
	if err != nil {
		return err
	}
	s.limiter, err = ratelimit.Compile(ratelimit.Options{
		Window: window, Requests: r.Requests, GuestMints: r.GuestMints, Refreshes: r.Refreshes,
		UnknownTokens: r.UnknownTokens, Logins: r.Logins,
		MaxSources: r.MaxSources, TrustedProxies: r.TrustedProxies, CountPrefetch: r.CountPrefetch,
	})
	return err
}

// rateLimited spends one request (a quarter of one for a prefetch, unless
// rateLimit.countPrefetch) and answers 429 when the client is over its
// budget. It reports whether it answered.
//
// unusual is stripIdentityHeaders' report: without a header outside the
// common set there is no prefetch marker to look for.
func rateLimited(m *middleware, rw http.ResponseWriter, req *http.Request, unusual bool) bool {
	rl := m.state.limiter
	cost := rl.RequestCost
	if unusual && !rl.CountPrefetch && ratelimit.IsPrefetch(req) {
		cost /= ratelimit.PrefetchShare
	}
	if n := m.state.cluster; n != nil {
		if d, ok := clusterSpendRequest(n, rl, ratelimit.ClientKey(rl, req), cost); ok {
			return requestDecided(m, rw, req, d)
		}
	}
	if ratelimit.RequestAllowed(rl, rw.Header(), ratelimit.ClientKey(rl, req), cost) {
		return false
	}
	return requestRefused(m, rw, req, cost)
}

// requestDecided answers a request the cluster's buckets decided on
// (clusterbudget.go).
func requestDecided(m *middleware, rw http.ResponseWriter, req *http.Request, d ratelimit.Decision) bool {
	if d.Allowed {
		ratelimit.Headers(rw.Header(), d)
		return false
	}
	record(m, req, eventRateLimitExceeded, auditEntry{reason: "requests", status: http.StatusTooManyRequests})
	answerRateLimited(m, rw, req, nil, d)
	return true
}

// requestRefused asks for the details of a refused request and answers
// 429, unless the bucket refilled in between. Apart from rateLimited:
// Yaegi allocates every local a function declares on each call, and the
// decision's would cost every allowed request ten allocations.
func requestRefused(m *middleware, rw http.ResponseWriter, req *http.Request, cost int64) bool {
	rl := m.state.limiter
	d := ratelimit.SpendCost(rl, ratelimit.BudgetRequests, ratelimit.ClientKey(rl, req), time.Now(), cost)
	if d.Allowed { // the bucket refilled in between
		ratelimit.Headers(rw.Header(), d)
		return false
	}
	record(m, req, eventRateLimitExceeded, auditEntry{reason: "requests", status: http.StatusTooManyRequests})
	answerRateLimited(m, rw, req, nil, d)
	return true
}

// spendBudget spends one token of a backend budget for client: the caller
// is about to make that backend call itself. It returns nil when the call
// may go ahead, else the refusal to answer with. It takes only the
// limiter's lock (it is called under a cache's lock); the caller writes
// the audit line.
//
// In cluster mode the client's bucket in Redis decides (clusterbudget.go),
// under the cache's lock too: the call is bounded by
// cluster.redis.readTimeout, and while Redis is failing it is not made at
// all (the local bucket decides).
func spendBudget(m *middleware, b ratelimit.Budget, client string) *ratelimit.Decision {
	rl := m.state.limiter
	var d ratelimit.Decision
	shared := false
	if n := m.state.cluster; n != nil {
		interval, _ := ratelimit.Shape(rl, b)
		d, shared = clusterSpend(n, rl, b, client, interval)
	}
	if !shared {
		d = ratelimit.Spend(rl, b, client, time.Now())
	}
	if d.Allowed {
		return nil
	}
	return &d
}

// wouldAllow reports whether one token of budget b is left for client,
// spending nothing: in the cluster's bucket in cluster mode, else here.
func wouldAllow(m *middleware, b ratelimit.Budget, client string) bool {
	rl := m.state.limiter
	if n := m.state.cluster; n != nil {
		if allowed, ok := clusterPeek(n, rl, b, client); ok {
			return allowed
		}
	}
	return ratelimit.WouldAllow(rl, b, client)
}

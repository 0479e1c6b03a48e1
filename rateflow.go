package authlayer

import (
	"net/http"
	"time"
)

// Rate limiting in the request flow (the limiter itself is ratelimit.go).
// Every request spends from the client's request budget before any
// backend call. The expensive backend calls spend from their own, tighter
// budgets, charged only to the client whose request really makes the call:
// validating a token that is neither cached nor validated recently,
// starting a refresh, minting a guest token. Waiting on another request's
// call, a remembered refresh and a cache hit are free, so many users
// behind one address do not spend each other's budgets.

// rateLimited spends one request (a quarter of one for a prefetch, unless
// rateLimit.countPrefetch) and answers 429 when the client is over its
// budget. It reports whether it answered.
//
// unusual is stripIdentityHeaders' report: without a header outside the
// common set there is no prefetch marker to look for.
func rateLimited(m *middleware, rw http.ResponseWriter, req *http.Request, unusual bool) bool {
	rl := m.state.limiter
	cost := rl.intervals[budgetRequests]
	if unusual && !rl.countPrefetch && isPrefetch(req) {
		cost /= prefetchShare
	}
	if rateRequestAllowed(rl, rw.Header(), rateClientKey(rl, req), cost) {
		return false
	}
	d := rateTakeCost(rl, budgetRequests, rateClientKey(rl, req), time.Now(), cost)
	if d.allowed { // the bucket refilled in between
		rateLimitHeaders(rw.Header(), d)
		return false
	}
	record(m, req, eventRateLimitExceeded, nil, "", false, "requests", http.StatusTooManyRequests)
	answerRateLimited(m, rw, req, nil, d)
	return true
}

// spendBudget spends one token of a backend budget for client: the caller
// is about to make that backend call itself. It returns nil when the call
// may go ahead, else the refusal to answer with. It takes only the
// limiter's lock (it is called under a cache's lock); the caller writes
// the audit line.
func spendBudget(rl *rateLimiter, b rateBudget, client string) *rateDecision {
	d := rateTake(rl, b, client, time.Now())
	if d.allowed {
		return nil
	}
	return &d
}

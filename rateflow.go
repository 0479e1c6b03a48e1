package authlayer

import (
	"net/http"
	"time"
)

// Rate limiting in the request flow (the limiter itself is ratelimit.go).
// Every request spends from the client's request budget before any
// backend call; the expensive backend calls spend from their own, tighter
// budgets: validating a token that is not in the cache, refreshing (unless
// the refresh is already remembered), minting a guest token. Prefetch
// headers are set by the client, so they only ever spare the request
// budget, never the backend ones.

// rateLimited spends one request and answers 429 when the client is over
// its budget. It reports whether it answered.
func rateLimited(m *middleware, rw http.ResponseWriter, req *http.Request) bool {
	rl := m.state.limiter
	if !rateCountPrefetch(rl) && isPrefetch(req) {
		return false
	}
	d := rateTake(rl, budgetRequests, rateClientKey(rl, req), time.Now())
	if d.allowed {
		rateLimitHeaders(rw.Header(), d)
		return false
	}
	record(m, req, eventRateLimitExceeded, nil, "", false, "requests", http.StatusTooManyRequests)
	writeRateLimited(rw, d)
	return true
}

// backendBudget spends from one of the backend budgets. It returns nil
// when the call may go ahead, else the refusal to answer with.
func backendBudget(m *middleware, req *http.Request, b rateBudget, reason string) *rateDecision {
	rl := m.state.limiter
	if rl == nil {
		return nil
	}
	d := rateTake(rl, b, rateClientKey(rl, req), time.Now())
	if d.allowed {
		return nil
	}
	record(m, req, eventRateLimitExceeded, nil, "", false, reason, http.StatusTooManyRequests)
	return &d
}

// validateBudgeted validates token, spending the unknown-token budget when
// the answer is not cached. limited is the refusal when over budget.
func (m *middleware) validateBudgeted(req *http.Request, token string) (v validation, limited *rateDecision) {
	if cached, ok := cacheGet(m.state.validations, cacheKey(token)); ok {
		return cached.(validation), nil
	}
	if limited = backendBudget(m, req, budgetUnknownTokens, "unknown-tokens"); limited != nil {
		return validation{}, limited
	}
	return m.validate(token), nil
}

// refreshBudgeted spends the refresh budget unless the refresh of this
// credential is already remembered (a free answer).
func (m *middleware) refreshBudgeted(req *http.Request, credential string) *rateDecision {
	if _, ok := cacheGet(m.state.refreshes, cacheKey(credential)); ok {
		return nil
	}
	return backendBudget(m, req, budgetRefreshes, "refreshes")
}

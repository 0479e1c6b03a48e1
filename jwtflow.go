package authlayer

import (
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Where local verification meets the token flow. A token that verifies
// here is a valid session without a backend call, cached like a backend
// answer but until its exp; an expired or forged one is invalid (the flow
// refreshes, then falls back to a guest, as for a backend's 401); jwt.mode
// says what the backend is still asked:
//
//   - local: nothing. A token no key here can check is invalid.
//   - revalidate: a locally valid token is confirmed by the backend when
//     first seen and then at most once per jwt.revalidateInterval. A "no"
//     ends it (revocation); an outage leaves the local verdict standing.
//   - fallback: tokens no key or algorithm here can check (an unknown
//     kid, an algorithm outside jwt.algorithms, JWKS down) go to the
//     backend as without jwt.
//
// Whatever the mode, a JWKS that cannot be fetched is a transient
// failure, never a refusal: no session ends because the issuer is down.

// flowValidateJWT is flowValidate with jwt.enabled. With charged and rate
// limiting on, a token refused here spends the client's unknown-token
// budget (a valid one never does), and a client whose budget is spent
// gets no verification at all: junk costs its sender, not the CPU.
func flowValidateJWT(f *flow, j *jwtSettings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	if v, _, ok := cache.Lookup(f.m.state.validations, key); ok {
		return v.(validation), nil
	}
	rl := f.m.state.limiter
	if !charged {
		rl = nil
	}
	if rl != nil && !ratelimit.WouldAllow(rl, ratelimit.BudgetUnknownTokens, f.client) {
		record(f.m, f.req, eventRateLimitExceeded, nil, "", false, "unknown-tokens", http.StatusTooManyRequests)
		return validation{}, spendBudget(rl, ratelimit.BudgetUnknownTokens, f.client)
	}
	v, limited := flowValidateLocal(f, j, key, token, charged)
	if rl != nil && v.state == stateInvalid && v.reason != "" {
		spendBudget(rl, ratelimit.BudgetUnknownTokens, f.client)
	}
	return v, limited
}

// flowValidateLocal verifies token here and applies jwt.mode.
func flowValidateLocal(f *flow, j *jwtSettings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	check := jwtVerify(j, f.m.state.jwks, token, f.deadline)
	switch check.verdict {
	case jwtGood:
		id := claimsIdentity(j, check.claims, check.payload, token)
		if id == nil {
			check.reason = "user-claim" // the configured user claim is not an object: not a session
			break
		}
		if j.mode == jwtModeRevalidate {
			return flowValidateBackend(f, key, token, charged, id)
		}
		return rememberLocal(f, key, validation{state: stateValid, id: id}), nil
	case jwtUncheckable:
		if j.mode == jwtModeFallback {
			return flowValidateBackend(f, key, token, charged, nil)
		}
	case jwtKeysUnavailable:
		if j.mode == jwtModeFallback {
			return flowValidateBackend(f, key, token, charged, nil)
		}
		return validation{state: stateTransient}, nil
	}
	return rememberLocal(f, key, validation{state: stateInvalid, reason: "jwt-" + check.reason}), nil
}

// rememberLocal caches a local verdict: a valid one until the token's
// exp, an invalid one (weak, see internal/cache) for cache.ttl.
// cache.ttl "0s" caches neither.
func rememberLocal(f *flow, key string, v validation) validation {
	ttl := f.m.s.cacheTTL
	if v.state == stateValid {
		ttl = localTTL(f.m.s, v.id, 0)
	}
	v = unlessLoggedOut(key, v)
	if ttl > 0 {
		cache.Store(f.m.state.validations, key, v, ttl, weakValidation(f.m.s, v))
	}
	return v
}

// localTTL is how long a locally valid token's entry lives: until exp,
// and at most limit when limit is positive; zero with cache.ttl "0s".
func localTTL(s *settings, id *identity, limit time.Duration) time.Duration {
	if s.cacheTTL <= 0 {
		return 0
	}
	ttl := time.Until(id.expiresAt)
	if limit > 0 && limit < ttl {
		ttl = limit
	}
	if ttl < 0 {
		return 0
	}
	return ttl
}

// confirmedValidation maps the backend's answer about a locally valid
// token (revalidate mode): a definite no is final; a yes, or no answer at
// all, leaves the local verdict standing until the next confirmation.
func confirmedValidation(s *settings, answer validation, local *identity) (validation, time.Duration, bool) {
	if answer.state == stateInvalid {
		return answer, validationTTL(s, answer), true
	}
	v := validation{state: stateValid, id: local}
	return v, localTTL(s, local, s.jwt.revalidate), weakValidation(s, v)
}

// claimsIdentity builds the identity of a locally verified token from its
// claims, with the jwt.*Claim paths. payload is the claims' JSON as
// signed: when the user object is the whole claims object, that JSON is
// forwarded as is (checked already: one object, no duplicate keys)
// instead of encoding the claims again.
func claimsIdentity(j *jwtSettings, claims map[string]interface{}, payload []byte, token string) *identity {
	tokenType := headerSafe(jsonpath.Str(j.tokenType, claims))
	if len(j.tokenType) == 0 {
		tokenType = "user" // accepted by New only with routes.allowedTokenTypes and guests off
	}
	exp, _ := claimTime(claims, "exp")
	userID, roles := headerSafe(jsonpath.Str(j.userID, claims)), jsonpath.StrList(j.roles, claims)
	if len(j.user) == 0 && payload != nil {
		return identityFromJSON(payload, userID, tokenType, roles, exp, token, "local")
	}
	var user interface{} = claims
	if len(j.user) > 0 {
		user, _ = jsonpath.Lookup(j.user, claims)
	}
	return newIdentity(user, userID, tokenType, roles, exp, token, "local")
}

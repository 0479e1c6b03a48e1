package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/jwt"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// Where local verification (internal/jwt) meets the token flow. A token
// that verifies here is a valid session without a backend call, cached
// like a backend answer but until its exp; an expired or forged one is
// invalid (the flow refreshes, then falls back to a guest, as for a
// backend's 401); jwt.mode says what the backend is still asked:
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

// compileJWT leaves s.jwt nil when jwt.enabled is false. jwt.Compile
// checks the jwt.* options; the checks against other groups are here.
func compileJWT(c *Config, s *settings) error {
	j, err := jwt.Compile(jwtOptions(c.JWT))
	if err != nil || j == nil {
		return err
	}
	if len(j.TokenType) == 0 && s.guest.enabled {
		return opts.Error("jwt.tokenTypeClaim", "must be set when guest.enabled is true: without it a guest's token would count as a user's")
	}
	if len(j.TokenType) == 0 && len(s.routes.allowed) == 0 {
		return opts.Error("routes.allowedTokenTypes", "must be set when jwt.tokenTypeClaim is empty: without a token type every token would count as a logged-in user")
	}
	s.jwt = j
	return nil
}

// jwtOptions hands the jwt.* options to internal/jwt, with the longest
// token a cookie can hold.
func jwtOptions(o JWTConfig) jwt.Options {
	return jwt.Options{
		Enabled: o.Enabled, Mode: o.Mode, RevalidateInterval: o.RevalidateInterval,
		Algorithms: o.Algorithms, Secret: o.Secret, PublicKeys: o.PublicKeys,
		JWKSURL: o.JWKSURL, JWKSMinRefreshInterval: o.JWKSMinRefreshInterval, JWKSMaxAge: o.JWKSMaxAge,
		Issuer: o.Issuer, Audience: o.Audience, Leeway: o.Leeway,
		UserClaim: o.UserClaim, UserIDClaim: o.UserIDClaim, TokenTypeClaim: o.TokenTypeClaim, RolesClaim: o.RolesClaim,
		MaxTokenBytes: maxCookieBytes,
	}
}

// flowValidateJWT is flowValidate with jwt.enabled. With charged and rate
// limiting on, a token refused here spends the client's unknown-token
// budget (a valid one never does), and a client whose budget is spent
// gets no verification at all: junk costs its sender, not the CPU.
func flowValidateJWT(f *flow, j *jwt.Settings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	if v, _, ok := cache.Lookup(f.m.state.validations, key); ok {
		return v.(validation), nil
	}
	rl := f.m.state.limiter
	if !charged {
		rl = nil
	}
	if rl != nil && !wouldAllow(f.m, ratelimit.BudgetUnknownTokens, f.client) {
		record(f.m, f.req, eventRateLimitExceeded, auditEntry{reason: "unknown-tokens", status: http.StatusTooManyRequests})
		return validation{}, spendBudget(f.m, ratelimit.BudgetUnknownTokens, f.client)
	}
	v, limited := flowValidateLocal(f, j, key, token, charged)
	if rl != nil && v.state == stateInvalid && v.reason != "" {
		spendBudget(f.m, ratelimit.BudgetUnknownTokens, f.client)
	}
	return v, limited
}

// flowValidateLocal verifies token here and applies jwt.mode.
func flowValidateLocal(f *flow, j *jwt.Settings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	check := jwt.Verify(j, f.m.state.jwks, token, f.deadline)
	switch check.Verdict {
	case jwt.Good:
		id := claimsIdentity(j, check.Claims, check.Payload, token)
		if id == nil {
			check.Reason = "user-claim" // the configured user claim is not an object: not a session
			break
		}
		if j.Mode == jwt.ModeRevalidate {
			return flowValidateBackend(f, key, token, charged, id)
		}
		return rememberLocal(f, key, validation{state: stateValid, id: id}), nil
	case jwt.Uncheckable:
		if j.Mode == jwt.ModeFallback {
			return flowValidateBackend(f, key, token, charged, nil)
		}
	case jwt.KeysUnavailable:
		if j.Mode == jwt.ModeFallback {
			return flowValidateBackend(f, key, token, charged, nil)
		}
		return validation{state: stateTransient}, nil
	}
	return rememberLocal(f, key, validation{state: stateInvalid, reason: "jwt-" + check.Reason}), nil
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
	return v, localTTL(s, local, s.jwt.Revalidate), weakValidation(s, v)
}

// claimsIdentity builds the identity of a locally verified token from its
// claims, with the jwt.*Claim paths. payload is the claims' JSON as
// signed: when the user object is the whole claims object, that JSON is
// forwarded as is (checked already: one object, no duplicate keys)
// instead of encoding the claims again.
func claimsIdentity(j *jwt.Settings, claims map[string]interface{}, payload []byte, token string) *identity {
	tokenType := headerSafe(jsonpath.Str(j.TokenType, claims))
	if len(j.TokenType) == 0 {
		tokenType = "user" // accepted by New only with routes.allowedTokenTypes and guests off
	}
	exp, _ := jwt.ClaimTime(claims, "exp")
	userID, roles := headerSafe(jsonpath.Str(j.UserID, claims)), jsonpath.StrList(j.Roles, claims)
	if len(j.User) == 0 && payload != nil {
		return identityFromJSON(payload, userID, tokenType, roles, exp, token, "local")
	}
	var user interface{} = claims
	if len(j.User) > 0 {
		user, _ = jsonpath.Lookup(j.User, claims)
	}
	return newIdentity(user, userID, tokenType, roles, exp, token, "local")
}

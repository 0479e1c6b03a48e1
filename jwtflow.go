package authlayer

import (
	"net/http"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/jwt"
	"github.com/authlayer/authlayer/internal/opts"
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

// flowValidateJWT is flowValidate with jwt.enabled: a cached verdict
// (not looked up again when cachedUserSession just missed it), else a
// verification here (flowValidateLocal), charged when rate limiting is on.
func flowValidateJWT(f *flow, j *jwt.Settings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	if key != f.missed {
		if v, expires, ok := cache.Lookup(f.state.validations, key); ok {
			f.expires = expires // one field per statement (Yaegi)
			f.expiresToken = token
			return v.(validation), nil
		}
	}
	if charged && f.state.limiter != nil {
		return flowValidateCharged(f, j, key, token)
	}
	return flowValidateLocal(f, j, key, token, charged)
}

// flowValidateCharged is a verification here with rate limiting on: a
// token refused here spends the client's unknown-token budget (a valid one
// never does), and a client whose budget is spent gets no verification at
// all: junk costs its sender, not the CPU.
func flowValidateCharged(f *flow, j *jwt.Settings, key, token string) (validation, *ratelimit.Decision) {
	if !wouldAllow(f.m, ratelimit.BudgetUnknownTokens, flowClient(f)) {
		record(f.m, f.req, eventRateLimitExceeded, auditEntry{reason: "unknown-tokens", status: http.StatusTooManyRequests})
		return validation{}, spendBudget(f.m, ratelimit.BudgetUnknownTokens, flowClient(f))
	}
	v, limited := flowValidateLocal(f, j, key, token, true)
	if v.state == stateInvalid && v.reason != "" {
		spendBudget(f.m, ratelimit.BudgetUnknownTokens, flowClient(f))
	}
	return v, limited
}

// flowValidateLocal verifies token here and applies jwt.mode.
func flowValidateLocal(f *flow, j *jwt.Settings, key, token string, charged bool) (validation, *ratelimit.Decision) {
	var deadline time.Time // only a JWKS fetch waits (none without jwt.jwksUrl)
	if f.state.jwks != nil {
		deadline = flowDeadline(f)
	}
	check := jwt.Verify(j, f.state.jwks, token, deadline)
	if check.Verdict != verdictGood || j.Mode == modeRevalidate {
		return flowLocalVerdict(f, j, check, key, token, charged)
	}
	id := claimsIdentity(j, check, token)
	if id == nil {
		return rememberLocal(f, key, token, validation{state: stateInvalid, reason: "jwt-user-claim"}), nil // the configured user claim is not an object: not a session
	}
	return rememberLocal(f, key, token, validation{state: stateValid, id: id}), nil
}

// Another package's constant costs an allocation per read under Yaegi
// (CONTRIBUTING.md, Speed); these are read on every verification.
const (
	verdictGood    = jwt.Good
	modeRevalidate = jwt.ModeRevalidate
)

// flowLocalVerdict is flowValidateLocal for every verdict but a good one
// in jwt.mode local.
func flowLocalVerdict(f *flow, j *jwt.Settings, check jwt.Result, key, token string, charged bool) (validation, *ratelimit.Decision) {
	switch check.Verdict {
	case jwt.Good:
		id := claimsIdentity(j, check, token)
		if id == nil {
			check.Reason = "user-claim" // the configured user claim is not an object: not a session
			break
		}
		return flowValidateBackend(f, key, token, charged, id) // revalidate
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
	return rememberLocal(f, key, token, validation{state: stateInvalid, reason: "jwt-" + check.Reason}), nil
}

// rememberLocal caches a local verdict: a valid one until the token's
// exp, an invalid one (weak, see internal/cache) for cache.ttl.
// cache.ttl "0s" caches neither.
func rememberLocal(f *flow, key, token string, v validation) validation {
	ttl := f.s.cacheTTL
	if v.state == stateValid && ttl > 0 {
		ttl = localTTL(f.s, v.id, 0)
	}
	f.expires = 0 // one field per statement (Yaegi)
	f.expiresToken = token
	if ttl > 0 {
		// A token logged out while it was checked is not cached valid.
		// (Uncached, the verdict only answers a request as concurrent
		// with the logout as the check itself.)
		v = unlessLoggedOut(key, v)
		// Read before Store, so the memo never outlives the entry.
		f.expires = time.Now().UnixNano() + int64(ttl)
		cache.Store(f.state.validations, key, v, ttl, weakValidation(f.s, v))
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
// claims, with the jwt.*Claim paths. With the default paths (Settings.Flat)
// each claim is one map index, and the signed claims JSON is forwarded as
// is as the user object (checked already: one object, no duplicate keys)
// instead of encoding the claims again; the expiry is the one Verify read.
func claimsIdentity(j *jwt.Settings, check jwt.Result, token string) *identity {
	if !j.Flat || check.Payload == nil {
		return claimsIdentityAt(j, check, token)
	}
	claims := check.Claims
	tokenType := "user" // without jwt.tokenTypeClaim: accepted by New only with routes.allowedTokenTypes and guests off
	if j.TokenTypeName != "" {
		tokenType = claimText(claims[j.TokenTypeName])
	}
	var roles []string
	if j.RolesName != "" {
		roles = jsonpath.Strings(claims[j.RolesName])
	}
	userID := claimText(claims[j.UserIDName])
	return identityFromJSON(check.Payload, userID, tokenType, roles, time.Unix(check.Exp, 0), token, "local")
}

// claimText is headerSafe(jsonpath.String(v)), without jsonpath.String's
// call for a string, the common case.
func claimText(v interface{}) string {
	s, isString := v.(string)
	if !isString {
		s = jsonpath.String(v) // a number or a boolean as text
	}
	return headerSafe(s)
}

// claimsIdentityAt is claimsIdentity with nested claim paths or
// jwt.userClaim: each claim at its path, the user object encoded.
func claimsIdentityAt(j *jwt.Settings, check jwt.Result, token string) *identity {
	claims := check.Claims
	tokenType := "user"
	if len(j.TokenType) > 0 {
		tokenType = headerSafe(jsonpath.Str(j.TokenType, claims))
	}
	userID, roles := headerSafe(jsonpath.Str(j.UserID, claims)), jsonpath.StrList(j.Roles, claims)
	exp := time.Unix(check.Exp, 0)
	if len(j.User) == 0 && check.Payload != nil {
		return identityFromJSON(check.Payload, userID, tokenType, roles, exp, token, "local")
	}
	var user interface{} = claims
	if len(j.User) > 0 {
		user, _ = jsonpath.Lookup(j.User, claims)
	}
	return newIdentity(user, userID, tokenType, roles, exp, token, "local")
}

package authlayer

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
)

// Logged-out marks: a logout holds whatever the backend does.
//
// Many backends' logout does nothing (stateless JWTs), and any backend's
// may fail or hang. So endpoints.logout marks the access token and the
// refresh credential it was presented with, and every later request that
// carries one of them gets no session from this Traefik: validation
// answers "logged out" before any cache, local verification or backend
// call, and a refresh with a marked credential (the refresh cookie, or the
// access token itself in single-token mode) is refused without calling
// the backend.
//
// Where marks live, and why there:
//   - One set for the whole plugin (package-level: Traefik runs one
//     interpreter per plugin), not per middleware: the same token opens
//     every middleware that accepts it. A logout also drops the token's
//     entries from every middleware's caches and memos (forgetEverywhere),
//     so nothing answers from a copy made before it.
//   - Apart from the validation cache, so no traffic evicts them: a flood
//     of guests or junk tokens churns the caches, never this set. Only a
//     session that was valid when it logged out gets a lasting mark (one
//     logout per login, and logins cost a backend call and a budget); a
//     logout whose session could not be checked (the backend down) gets a
//     best-effort mark in a separate, evictable tier, so junk logouts
//     cannot displace real ones.
//   - A mark lasts as long as its token can open a session: until the
//     token's exp plus jwt.leeway (plus a minute for clock skew between
//     the backend and this host). A token whose exp is unknown (no
//     responses.expiresAt, not a JWT) is marked for its cookie's max age.

// maxLoggedOutMarks bounds each tier of the set: about 100 bytes a mark.
const maxLoggedOutMarks = 100000

// markSkew is added to every mark's life beyond exp + the leeway.
const markSkew = time.Minute

// markLeeway is the largest jwt.leeway New accepts: marks are plugin-wide,
// so a mark outlives the token in every middleware, whatever its leeway.
const markLeeway = 5 * time.Minute

// maxMarkLife caps a mark's life: a far exp ("never expires", 9999999999)
// must not overflow the expiry's nanoseconds into the past.
const maxMarkLife = 50 * 365 * 24 * time.Hour

// loggedOutMarks holds the marks: token hash → true. Strong entries are
// verified sessions' marks, weak ones the best-effort tier.
var loggedOutMarks = cache.New(maxLoggedOutMarks)

// loggedOut reports whether token was logged out and its mark is alive.
func loggedOut(token string) bool {
	return loggedOutKey(cache.Key(token))
}

// loggedOutKey is loggedOut for a token's cache key.
func loggedOutKey(key string) bool {
	_, _, marked := cache.Lookup(loggedOutMarks, key)
	return marked
}

// markLoggedOut marks token until it expires: verified says it was part
// of a session that validated on the logout request. A verified mark is
// never weakened: a second logout with the same (now refused) token would
// otherwise move it to the evictable tier.
func markLoggedOut(token string, exp time.Time, fallback time.Duration, verified bool) {
	if token == "" {
		return
	}
	markLoggedOutFor(token, markLife(token, exp, fallback), verified)
}

// markLoggedOutFor marks token for life (a mark learnt from another
// replica comes with its life).
func markLoggedOutFor(token string, life time.Duration, verified bool) {
	if token == "" || life <= 0 {
		return
	}
	key := cache.Key(token)
	if was, until, ok := cache.Lookup(loggedOutMarks, key); ok && isVerifiedMark(was) {
		if !verified || until >= time.Now().Add(life).UnixNano() {
			return
		}
	}
	cache.Store(loggedOutMarks, key, verified, life, !verified)
}

// unmarkLoggedOut drops token's mark: the backend issued it again at a
// login, so it is a new session's token.
func unmarkLoggedOut(token string) {
	if token != "" {
		cache.Delete(loggedOutMarks, cache.Key(token))
	}
}

func isVerifiedMark(v interface{}) bool {
	verified, _ := v.(bool)
	return verified
}

// markLife is how long a mark on token lasts: until exp (known from the
// validation, else read from the token's own claims, unverified: a later
// exp only makes the mark last longer) plus the largest leeway and
// markSkew; for a token without a readable exp, fallback. Never beyond
// maxMarkLife.
func markLife(token string, exp time.Time, fallback time.Duration) time.Duration {
	if exp.IsZero() {
		exp = unverifiedExp(token)
	}
	life := fallback + markSkew
	if !exp.IsZero() {
		life = time.Until(exp) + markLeeway + markSkew
	}
	if life < markSkew {
		life = markSkew
	}
	if life > maxMarkLife {
		life = maxMarkLife
	}
	return life
}

// unverifiedExp reads a JWT's exp claim without verifying anything; the
// zero time when token is not a JWT or has no numeric exp.
func unverifiedExp(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims map[string]interface{}
	if json.Unmarshal(raw, &claims) != nil {
		return time.Time{}
	}
	secs, ok := claims["exp"].(float64)
	if !ok || secs <= 0 || secs > 1e11 {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0)
}

// cookieLife is a cookie's max age as a duration; a session cookie (0)
// counts as a day.
func cookieLife(seconds int) time.Duration {
	if seconds <= 0 {
		return 24 * time.Hour
	}
	return time.Duration(seconds) * time.Second
}

// knownAnywhere reports whether any middleware holds a validation of one of
// tokens: a logout of a session that could not be checked here still drops
// its copies, while a junk logout costs no scan of every memo.
func knownAnywhere(tokens []string) bool {
	scopesMu.Lock()
	defer scopesMu.Unlock()
	for _, v := range scopes {
		bs, ok := v.(*backendScope)
		if !ok {
			continue
		}
		for _, tok := range tokens {
			if _, _, hit := cache.Lookup(bs.validations, cache.Key(tok)); hit {
				return true
			}
		}
	}
	return false
}

// forgetEverywhere drops what every middleware of this plugin remembers
// of tokens: validations, remembered refreshes and memoised sessions.
func forgetEverywhere(tokens []string) {
	var keys []string
	for _, tok := range tokens {
		if tok != "" {
			keys = append(keys, cache.Key(tok))
		}
	}
	scopesMu.Lock()
	defer scopesMu.Unlock()
	for _, v := range scopes {
		switch scope := v.(type) {
		case *sessionScope:
			for _, k := range keys {
				cache.Delete(scope.refreshes, k)
			}
		case *backendScope:
			for _, k := range keys {
				cache.Delete(scope.validations, k)
			}
		case *sessionMemo:
			memoForget(scope, tokens)
		}
	}
}

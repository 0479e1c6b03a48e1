package authlayer

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
)

// The issuer's published keys (jwt.jwksUrl). Fetched when a token first
// needs them, never in New and never by a goroutine of its own; kept in
// the shared state (state.go), so reloads keep them; refetched after
// jwt.jwksMaxAge. Concurrent fetches are one (the dedup cache), and a
// failed fetch keeps the last good keys.
//
// A token whose kid no key answers to has a budget of its own, apart from
// the scheduled fetches: a kid seen for the first time refetches as soon
// as the last fetch is jwksRetry old (a key published a second after a
// scheduled fetch is learned within seconds, not after a whole
// jwt.jwksMinRefreshInterval); kids already tried share one refetch per
// jwt.jwksMinRefreshInterval; and a refetch that failed is retried after
// jwksRetry. Whatever the kids, no two fetches are closer than jwksRetry:
// a flood of random kids costs the issuer one fetch per jwksRetry at most.

// maxJWKSBody caps one JWKS answer.
const maxJWKSBody = 512 << 10

// jwksRetry spaces attempts while no keys have been fetched yet, after the
// keys went stale or a fetch failed, and for kids never seen before, so an
// outage or a flood of unknown kids costs one fetch per interval rather
// than one per request (jwt.jwksMinRefreshInterval when shorter).
const jwksRetry = 5 * time.Second

// maxTriedKids bounds the kids remembered as already refetched for; when
// full the memory starts over (jwksRetry still spaces the fetches).
// Longer kids than maxTriedKidBytes are never remembered: they count as
// tried, so they wait for the shared interval.
const (
	maxTriedKids     = 256
	maxTriedKidBytes = 256
)

type jwksCache struct {
	url         string
	transport   http.RoundTripper // used directly: a redirect is never followed (see backendClient)
	timeout     time.Duration
	minRefresh  time.Duration
	maxAge      time.Duration
	logName     string
	health      *backendHealth // the JWKS endpoint's state, changes logged (backendhealth.go)
	fetches     *cache.Dedup   // one fetch at a time, joined by concurrent callers
	mu          sync.Mutex     // protects the fields below
	keys        []*jwtKey
	loaded      bool
	fetchedAt   time.Time // last good fetch
	attemptedAt time.Time // last fetch, good or not
	failed      bool      // the last fetch failed
	kidFetchAt  time.Time // last refetch for a kid already tried
	triedKids   map[string]bool
}

func newJWKSCache(name string, j *jwtSettings, timeout time.Duration, transport http.RoundTripper) *jwksCache {
	return &jwksCache{
		url: j.jwksURL,
		// A redirect is not followed: the keys come from the URL
		// configured, nowhere else.
		transport:  transport,
		timeout:    timeout,
		minRefresh: j.jwksMinRefresh,
		maxAge:     j.jwksMaxAge,
		logName:    name,
		health:     newBackendHealth(name),
		fetches:    cache.New(1),
		triedKids:  map[string]bool{},
	}
}

// jwksKeys returns the fetched keys, whether any fetch ever succeeded, and
// whether keys newer than those at the call's start came in during it. It
// fetches first when none has succeeded, when the keys are older than
// maxAge, or, with kidMiss, when a token's kid (kid, "" for none) matched
// nothing and the unknown kids' budget allows (jwksDue). jw may be nil (no
// JWKS configured).
func jwksKeys(jw *jwksCache, kidMiss bool, kid string, deadline time.Time) (keys []*jwtKey, loaded, renewed bool) {
	if jw == nil {
		return nil, false, false
	}
	jw.mu.Lock()
	attempted, before := jw.attemptedAt, jw.fetchedAt
	need := jwksDue(jw, kidMiss, kid, time.Now())
	jw.mu.Unlock()
	if need {
		cache.Load(jw.fetches, "jwks", deadline, nil, func() (interface{}, time.Duration, bool) {
			jwksFetchOnce(jw, attempted)
			return true, time.Duration(0), false
		})
	}
	jw.mu.Lock()
	keys, loaded, renewed = jw.keys, jw.loaded, !jw.fetchedAt.Equal(before)
	jw.mu.Unlock()
	return keys, loaded, renewed
}

// jwksDue decides whether to fetch. Called with jw.mu held. Missing or
// stale keys are fetched every retry while that lasts. An unknown kid
// fetches once the last fetch is retry old, when the last fetch failed
// or the kid was never tried; a kid already tried waits until the last
// refetch for an unknown kid is minRefresh old. The scheduled fetches
// never spend the unknown kids' budget.
func jwksDue(jw *jwksCache, kidMiss bool, kid string, now time.Time) bool {
	sinceAttempt := now.Sub(jw.attemptedAt)
	retry := jwksRetry
	if jw.minRefresh < retry {
		retry = jw.minRefresh
	}
	if !jw.loaded || now.Sub(jw.fetchedAt) >= jw.maxAge {
		return jw.attemptedAt.IsZero() || sinceAttempt >= retry
	}
	if !kidMiss || sinceAttempt < retry {
		return false
	}
	first := jwksFirstTry(jw, kid)
	if !jw.failed && !first && now.Sub(jw.kidFetchAt) < jw.minRefresh {
		return false
	}
	jw.kidFetchAt = now
	return true
}

// jwksFirstTry remembers kid as tried and reports whether it was new.
// Called with jw.mu held.
func jwksFirstTry(jw *jwksCache, kid string) bool {
	if len(kid) > maxTriedKidBytes || jw.triedKids[kid] {
		return false
	}
	if len(jw.triedKids) >= maxTriedKids {
		jw.triedKids = map[string]bool{}
	}
	jw.triedKids[kid] = true
	return true
}

// jwksFetchOnce fetches unless another fetch finished since the caller
// decided to (it then has nothing newer to learn).
func jwksFetchOnce(jw *jwksCache, attempted time.Time) {
	jw.mu.Lock()
	stale := !jw.attemptedAt.Equal(attempted)
	jw.mu.Unlock()
	if stale {
		return
	}
	keys := jwksFetch(jw)
	jw.mu.Lock()
	defer jw.mu.Unlock()
	jw.attemptedAt = time.Now()
	jw.failed = len(keys) == 0
	if len(keys) > 0 {
		jw.keys, jw.loaded, jw.fetchedAt = keys, true, jw.attemptedAt
	}
}

// jwksFetch gets and parses the key set; nil on any failure. A change
// between failing and working is logged (backendhealth.go), without the
// URL's query, which may hold a credential.
func jwksFetch(jw *jwksCache) []*jwtKey {
	ctx, cancel := context.WithTimeout(context.Background(), jw.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jw.url, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Accept", "application/json")
	status, raw, err := roundTrip(jw.transport, req, maxJWKSBody)
	keys, cause := jwksAnswer(status, raw, err)
	healthReport(jw.health, "jwks", jw.url, cause)
	return keys
}

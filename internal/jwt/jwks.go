package jwt

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
)

// The issuer's published keys (jwt.jwksUrl). Fetched when a token first
// needs them, never in the plugin's New and never by a goroutine of their
// own; kept in the root's shared state (state.go), so reloads keep them;
// refetched after jwt.jwksMaxAge. Concurrent fetches are one (the dedup
// cache), and a failed fetch keeps the last good keys.
//
// A token whose kid no key answers to has a budget of its own, apart from
// the scheduled fetches: a kid seen for the first time refetches as soon
// as the last fetch is retryGap old (a key published a second after a
// scheduled fetch is learned within seconds, not after a whole
// jwt.jwksMinRefreshInterval); kids already tried share one refetch per
// jwt.jwksMinRefreshInterval; and a refetch that failed is retried after
// retryGap. Whatever the kids, no two fetches are closer than retryGap:
// a flood of random kids costs the issuer one fetch per retryGap at most.

// maxKeySetBody caps one JWKS answer.
const maxKeySetBody = 512 << 10

// retryGap spaces attempts while no keys have been fetched yet, after the
// keys went stale or a fetch failed, and for kids never seen before, so an
// outage or a flood of unknown kids costs one fetch per interval rather
// than one per request (jwt.jwksMinRefreshInterval when shorter).
const retryGap = 5 * time.Second

// maxTriedKids bounds the kids remembered as already refetched for; when
// full the memory starts over (retryGap still spaces the fetches).
// Longer kids than maxTriedKidBytes are never remembered: they count as
// tried, so they wait for the shared interval.
const (
	maxTriedKids     = 256
	maxTriedKidBytes = 256
)

// Fetcher is how a KeySet reaches the issuer, given by the caller (the
// root: its backend transport, its health log).
type Fetcher struct {
	// Get sends req and reads at most limit bytes of the answer. A
	// redirect must be an error, never followed: the keys come from the
	// URL configured, nowhere else. Required.
	Get func(req *http.Request, limit int64) (status int, body []byte, err error)
	// Report hears how each fetch went: Get's status and error, and how
	// many usable keys the answer held (0 unless status is 200 and err
	// nil). Nil: not reported.
	Report func(status int, err error, keys int)
}

// KeySet is the issuer's key set (jwt.jwksUrl) for one middleware, shared
// by its instances (the root keeps it in its shared state). Its zero value
// is not usable: NewKeySet builds it.
type KeySet struct {
	url         string
	timeout     time.Duration
	minRefresh  time.Duration
	maxAge      time.Duration
	fetcher     Fetcher
	fetches     *cache.Dedup // one fetch at a time, joined by concurrent callers
	mu          sync.Mutex   // protects the fields below
	keys        []*pubKey
	loaded      bool
	fetchedAt   time.Time // last good fetch
	attemptedAt time.Time // last fetch, good or not
	failed      bool      // the last fetch failed
	kidFetchAt  time.Time // last refetch for a kid already tried
	triedKids   map[string]bool
}

// NewKeySet is j's JWKS (j.JWKSURL), fetched through f, each fetch within
// timeout. It fetches nothing yet.
func NewKeySet(j *Settings, timeout time.Duration, f Fetcher) *KeySet {
	return &KeySet{
		url:        j.JWKSURL,
		timeout:    timeout,
		minRefresh: j.jwksMinRefresh,
		maxAge:     j.jwksMaxAge,
		fetcher:    f,
		fetches:    cache.New(1),
		triedKids:  map[string]bool{},
	}
}

// fetchedKeys returns the fetched keys, whether any fetch ever succeeded, and
// whether keys newer than those at the call's start came in during it. It
// fetches first when none has succeeded, when the keys are older than
// maxAge, or, with kidMiss, when a token's kid (kid, "" for none) matched
// nothing and the unknown kids' budget allows (fetchDue). jw may be nil (no
// JWKS configured).
func fetchedKeys(jw *KeySet, kidMiss bool, kid string, deadline time.Time) (keys []*pubKey, loaded, renewed bool) {
	if jw == nil {
		return nil, false, false
	}
	jw.mu.Lock()
	attempted, before := jw.attemptedAt, jw.fetchedAt
	need := fetchDue(jw, kidMiss, kid, time.Now())
	jw.mu.Unlock()
	if need {
		cache.Load(jw.fetches, "jwks", deadline, nil, func() (interface{}, time.Duration, bool) {
			fetchOnce(jw, attempted)
			return true, time.Duration(0), false
		})
	}
	jw.mu.Lock()
	keys, loaded, renewed = jw.keys, jw.loaded, !jw.fetchedAt.Equal(before)
	jw.mu.Unlock()
	return keys, loaded, renewed
}

// fetchDue decides whether to fetch. Called with jw.mu held. Missing or
// stale keys are fetched every retry while that lasts. An unknown kid
// fetches once the last fetch is retry old, when the last fetch failed
// or the kid was never tried; a kid already tried waits until the last
// refetch for an unknown kid is minRefresh old. The scheduled fetches
// never spend the unknown kids' budget.
func fetchDue(jw *KeySet, kidMiss bool, kid string, now time.Time) bool {
	sinceAttempt := now.Sub(jw.attemptedAt)
	retry := retryGap
	if jw.minRefresh < retry {
		retry = jw.minRefresh
	}
	if !jw.loaded || now.Sub(jw.fetchedAt) >= jw.maxAge {
		return jw.attemptedAt.IsZero() || sinceAttempt >= retry
	}
	if !kidMiss || sinceAttempt < retry {
		return false
	}
	first := firstTry(jw, kid)
	if !jw.failed && !first && now.Sub(jw.kidFetchAt) < jw.minRefresh {
		return false
	}
	jw.kidFetchAt = now
	return true
}

// firstTry remembers kid as tried and reports whether it was new.
// Called with jw.mu held.
func firstTry(jw *KeySet, kid string) bool {
	if len(kid) > maxTriedKidBytes || jw.triedKids[kid] {
		return false
	}
	if len(jw.triedKids) >= maxTriedKids {
		jw.triedKids = map[string]bool{}
	}
	jw.triedKids[kid] = true
	return true
}

// fetchOnce fetches unless another fetch finished since the caller
// decided to (it then has nothing newer to learn).
func fetchOnce(jw *KeySet, attempted time.Time) {
	jw.mu.Lock()
	stale := !jw.attemptedAt.Equal(attempted)
	jw.mu.Unlock()
	if stale {
		return
	}
	keys := fetch(jw)
	jw.mu.Lock()
	defer jw.mu.Unlock()
	jw.attemptedAt = time.Now()
	jw.failed = len(keys) == 0
	if len(keys) > 0 {
		jw.keys, jw.loaded, jw.fetchedAt = keys, true, jw.attemptedAt
	}
}

// fetch gets and parses the key set; nil on any failure. Every fetch is
// reported (the root logs a change between failing and working, without
// the URL's query, which may hold a credential).
func fetch(jw *KeySet) []*pubKey {
	ctx, cancel := context.WithTimeout(context.Background(), jw.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jw.url, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Accept", "application/json")
	status, raw, err := jw.fetcher.Get(req, maxKeySetBody)
	var keys []*pubKey
	if err == nil && status == http.StatusOK {
		keys = parseKeySet(raw)
	}
	if jw.fetcher.Report != nil {
		jw.fetcher.Report(status, err, len(keys))
	}
	return keys
}

package authlayer

import (
	"context"
	"io"
	"log"
	"net/http"
	"sync"
	"time"
)

// The issuer's published keys (jwt.jwksUrl). Fetched when a token first
// needs them, never in New and never by a goroutine of its own; kept in
// the shared state (state.go), so reloads keep them; refetched after
// jwt.jwksMaxAge, and when a token names a kid no key answers to, at most
// once per jwt.jwksMinRefreshInterval. Concurrent fetches are one (the
// dedup cache), and a failed fetch keeps the last good keys.

// maxJWKSBody caps one JWKS answer.
const maxJWKSBody = 512 << 10

// jwksRetry spaces attempts while no keys have been fetched yet, or after
// the keys went stale, so an outage costs one fetch per interval rather
// than one per request (jwt.jwksMinRefreshInterval when shorter).
const jwksRetry = 5 * time.Second

type jwksCache struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	minRefresh  time.Duration
	maxAge      time.Duration
	logName     string
	fetches     *dedupCache // one fetch at a time, joined by concurrent callers
	mu          sync.Mutex  // protects the fields below
	keys        []*jwtKey
	loaded      bool
	fetchedAt   time.Time // last good fetch
	attemptedAt time.Time // last fetch, good or not
}

func newJWKSCache(name string, j *jwtSettings, timeout time.Duration, transport http.RoundTripper) *jwksCache {
	return &jwksCache{
		url: j.jwksURL,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: the keys come from the URL
			// configured, nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		timeout:    timeout,
		minRefresh: j.jwksMinRefresh,
		maxAge:     j.jwksMaxAge,
		logName:    name,
		fetches:    newDedupCache(1),
	}
}

// jwksKeys returns the fetched keys, whether any fetch ever succeeded, and
// whether keys newer than those at the call's start came in during it. It
// fetches first when none has succeeded, when the keys are older than
// maxAge, or, with kidMiss, when a token's kid matched nothing (at most
// once per minRefresh). jw may be nil (no JWKS configured).
func jwksKeys(jw *jwksCache, kidMiss bool, deadline time.Time) (keys []*jwtKey, loaded, renewed bool) {
	if jw == nil {
		return nil, false, false
	}
	jw.mu.Lock()
	attempted, before := jw.attemptedAt, jw.fetchedAt
	need := jwksDue(jw, kidMiss, time.Now())
	jw.mu.Unlock()
	if need {
		cacheLoad(jw.fetches, "jwks", deadline, nil, func() (interface{}, time.Duration, bool) {
			jwksFetchOnce(jw, attempted)
			return true, time.Duration(0), false
		})
	}
	jw.mu.Lock()
	keys, loaded, renewed = jw.keys, jw.loaded, !jw.fetchedAt.Equal(before)
	jw.mu.Unlock()
	return keys, loaded, renewed
}

// jwksDue decides whether to fetch. Called with jw.mu held.
func jwksDue(jw *jwksCache, kidMiss bool, now time.Time) bool {
	sinceAttempt := now.Sub(jw.attemptedAt)
	retry := jwksRetry
	if jw.minRefresh < retry {
		retry = jw.minRefresh
	}
	switch {
	case !jw.loaded || now.Sub(jw.fetchedAt) >= jw.maxAge:
		return jw.attemptedAt.IsZero() || sinceAttempt >= retry
	case kidMiss:
		return sinceAttempt >= jw.minRefresh
	}
	return false
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
	if len(keys) > 0 {
		jw.keys, jw.loaded, jw.fetchedAt = keys, true, jw.attemptedAt
	}
}

// jwksFetch gets and parses the key set; nil on any failure (logged
// without the URL's query, which may hold a credential).
func jwksFetch(jw *jwksCache) []*jwtKey {
	ctx, cancel := context.WithTimeout(context.Background(), jw.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jw.url, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Accept", "application/json")
	resp, err := jw.client.Do(req)
	if err != nil {
		log.Printf("authlayer: %s: JWKS not fetched: %v", jw.logName, errBackendUnavailable)
		return nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody))
	if err != nil || resp.StatusCode != http.StatusOK {
		log.Printf("authlayer: %s: JWKS not fetched: status %d", jw.logName, resp.StatusCode)
		return nil
	}
	keys := parseJWKS(raw)
	if len(keys) == 0 {
		log.Printf("authlayer: %s: JWKS answer holds no usable key; keeping the last good keys", jw.logName)
	}
	return keys
}

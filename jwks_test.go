package authlayer

import (
	"fmt"
	"testing"
	"time"
)

// The JWKS's refetch budget (jwks.go), on a clock the test drives:
// jwksDue decides, jwksAttempt plays the fetch it decided.

// loadedJWKS is a cache whose keys were fetched at t0.
func loadedJWKS(t0 time.Time, minRefresh time.Duration) *jwksCache {
	jw := newJWKSCache("test", &jwtSettings{jwksURL: "http://127.0.0.1:1/jwks", jwksMinRefresh: minRefresh, jwksMaxAge: time.Hour}, time.Second, nil)
	jw.keys, jw.loaded, jw.fetchedAt, jw.attemptedAt = []*jwtKey{{kid: "old"}}, true, t0, t0
	return jw
}

// jwksAttempt records a fetch at now, as jwksFetchOnce does.
func jwksAttempt(jw *jwksCache, now time.Time, ok bool) {
	jw.attemptedAt, jw.failed = now, !ok
	if ok {
		jw.fetchedAt = now
	}
}

// TestJWKSNewKidRightAfterAFetch: a kid first seen a second after a
// scheduled fetch refetches as soon as that fetch is jwksRetry old, not a
// whole jwksMinRefreshInterval later; once tried, it waits for the
// interval.
func TestJWKSNewKidRightAfterAFetch(t *testing.T) {
	t0 := time.Now()
	jw := loadedJWKS(t0, 30*time.Second)
	if jwksDue(jw, true, "new", t0.Add(time.Second)) {
		t.Error("refetched a second after the last fetch")
	}
	if !jwksDue(jw, true, "new", t0.Add(jwksRetry)) {
		t.Fatalf("a new kid did not refetch %s after the last fetch", jwksRetry)
	}
	jwksAttempt(jw, t0.Add(jwksRetry), true)
	for _, after := range []time.Duration{2 * jwksRetry, 20 * time.Second, jwksRetry + 29*time.Second} {
		if jwksDue(jw, true, "new", t0.Add(after)) {
			t.Errorf("a kid already tried refetched %s after t0, within the 30s interval", after)
		}
	}
	if !jwksDue(jw, true, "new", t0.Add(jwksRetry+30*time.Second)) {
		t.Error("a kid already tried did not refetch after the interval")
	}
	if jwksDue(jw, false, "", t0.Add(40*time.Minute)) {
		t.Error("a known kid refetched before jwksMaxAge")
	}
}

// TestJWKSFailedRefetchRetried: a refetch for a new kid that fails is
// retried after jwksRetry, not after the interval: the kid verifies
// seconds after the issuer is back.
func TestJWKSFailedRefetchRetried(t *testing.T) {
	t0 := time.Now()
	jw := loadedJWKS(t0, 30*time.Second)
	at := t0.Add(jwksRetry)
	if !jwksDue(jw, true, "new", at) {
		t.Fatal("a new kid did not refetch")
	}
	jwksAttempt(jw, at, false)
	if jwksDue(jw, true, "new", at.Add(jwksRetry/2)) {
		t.Error("a failed refetch was retried before jwksRetry")
	}
	at = at.Add(jwksRetry)
	if !jwksDue(jw, true, "new", at) {
		t.Fatal("a failed refetch was not retried after jwksRetry")
	}
	jwksAttempt(jw, at, true)
	if jwksDue(jw, true, "new", at.Add(jwksRetry)) {
		t.Error("after a good fetch, the tried kid refetched within the interval")
	}
}

// TestJWKSUnknownKidFloodBounded: random kids, 20 a second for 5
// minutes, make at most one fetch per jwksRetry; kids already tried alone
// make one per interval.
func TestJWKSUnknownKidFloodBounded(t *testing.T) {
	t0 := time.Now()
	jw := loadedJWKS(t0, 30*time.Second)
	fetches := 0
	var last time.Time
	for i := 0; i < 20*300; i++ {
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if jwksDue(jw, true, fmt.Sprintf("junk-%d", i), now) {
			if !last.IsZero() && now.Sub(last) < jwksRetry {
				t.Fatalf("two fetches %s apart", now.Sub(last))
			}
			fetches, last = fetches+1, now
			jwksAttempt(jw, now, true)
		}
	}
	if limit := int(5*time.Minute/jwksRetry) + 1; fetches > limit {
		t.Errorf("fetches for a 5-minute flood of random kids: %d, want at most %d", fetches, limit)
	}
	if len(jw.triedKids) > maxTriedKids {
		t.Errorf("kids remembered: %d, want at most %d", len(jw.triedKids), maxTriedKids)
	}

	// The same two unknown kids over and over: one fetch each when first
	// seen, then one per interval.
	t1 := t0.Add(time.Hour)
	jw = loadedJWKS(t1, 30*time.Second)
	fetches = 0
	for i := 0; i < 20*300; i++ {
		now := t1.Add(time.Duration(i) * 50 * time.Millisecond)
		if jwksDue(jw, true, []string{"a", "b"}[i%2], now) {
			fetches++
			jwksAttempt(jw, now, true)
		}
	}
	if limit := 2 + int(5*time.Minute/(30*time.Second)); fetches > limit {
		t.Errorf("fetches for two known-unknown kids over 5 minutes: %d, want at most %d", fetches, limit)
	}

	// A kid too long to remember counts as tried.
	jw = loadedJWKS(t1, 30*time.Second)
	jw.kidFetchAt = t1
	long := string(make([]byte, maxTriedKidBytes+1))
	if jwksDue(jw, true, long, t1.Add(jwksRetry)) {
		t.Error("an overlong kid had a first refetch of its own")
	}
}

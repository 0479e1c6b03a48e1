package jwt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// The JWKS's refetch budget (jwks.go), on a clock the test drives:
// fetchDue decides, attempt plays the fetch it decided.

// loadedKeySet is a key set whose keys were fetched at t0.
func loadedKeySet(t0 time.Time, minRefresh time.Duration) *KeySet {
	jw := NewKeySet(&Settings{JWKSURL: "http://127.0.0.1:1/jwks", jwksMinRefresh: minRefresh, jwksMaxAge: time.Hour}, time.Second, Fetcher{})
	jw.keys, jw.loaded, jw.fetchedAt, jw.attemptedAt = []*pubKey{{kid: "old"}}, true, t0, t0
	return jw
}

// attempt records a fetch at now, as fetchOnce does.
func attempt(jw *KeySet, now time.Time, ok bool) {
	jw.attemptedAt, jw.failed = now, !ok
	if ok {
		jw.fetchedAt = now
	}
}

// TestKeySetNewKidRightAfterAFetch: a kid first seen a second after a
// scheduled fetch refetches as soon as that fetch is retryGap old, not a
// whole jwksMinRefreshInterval later; once tried, it waits for the
// interval.
func TestKeySetNewKidRightAfterAFetch(t *testing.T) {
	t0 := time.Now()
	jw := loadedKeySet(t0, 30*time.Second)
	if fetchDue(jw, true, "new", t0.Add(time.Second)) {
		t.Error("refetched a second after the last fetch")
	}
	if !fetchDue(jw, true, "new", t0.Add(retryGap)) {
		t.Fatalf("a new kid did not refetch %s after the last fetch", retryGap)
	}
	attempt(jw, t0.Add(retryGap), true)
	for _, after := range []time.Duration{2 * retryGap, 20 * time.Second, retryGap + 29*time.Second} {
		if fetchDue(jw, true, "new", t0.Add(after)) {
			t.Errorf("a kid already tried refetched %s after t0, within the 30s interval", after)
		}
	}
	if !fetchDue(jw, true, "new", t0.Add(retryGap+30*time.Second)) {
		t.Error("a kid already tried did not refetch after the interval")
	}
	if fetchDue(jw, false, "", t0.Add(40*time.Minute)) {
		t.Error("a known kid refetched before jwksMaxAge")
	}
}

// TestKeySetFailedRefetchRetried: a refetch for a new kid that fails is
// retried after retryGap, not after the interval: the kid verifies
// seconds after the issuer is back.
func TestKeySetFailedRefetchRetried(t *testing.T) {
	t0 := time.Now()
	jw := loadedKeySet(t0, 30*time.Second)
	at := t0.Add(retryGap)
	if !fetchDue(jw, true, "new", at) {
		t.Fatal("a new kid did not refetch")
	}
	attempt(jw, at, false)
	if fetchDue(jw, true, "new", at.Add(retryGap/2)) {
		t.Error("a failed refetch was retried before retryGap")
	}
	at = at.Add(retryGap)
	if !fetchDue(jw, true, "new", at) {
		t.Fatal("a failed refetch was not retried after retryGap")
	}
	attempt(jw, at, true)
	if fetchDue(jw, true, "new", at.Add(retryGap)) {
		t.Error("after a good fetch, the tried kid refetched within the interval")
	}
}

// TestKeySetUnknownKidFloodBounded: random kids, 20 a second for 5
// minutes, make at most one fetch per retryGap; kids already tried alone
// make one per interval.
func TestKeySetUnknownKidFloodBounded(t *testing.T) {
	t0 := time.Now()
	jw := loadedKeySet(t0, 30*time.Second)
	fetches := 0
	var last time.Time
	for i := 0; i < 20*300; i++ {
		now := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		if fetchDue(jw, true, fmt.Sprintf("junk-%d", i), now) {
			if !last.IsZero() && now.Sub(last) < retryGap {
				t.Fatalf("two fetches %s apart", now.Sub(last))
			}
			fetches, last = fetches+1, now
			attempt(jw, now, true)
		}
	}
	if limit := int(5*time.Minute/retryGap) + 1; fetches > limit {
		t.Errorf("fetches for a 5-minute flood of random kids: %d, want at most %d", fetches, limit)
	}
	if len(jw.triedKids) > maxTriedKids {
		t.Errorf("kids remembered: %d, want at most %d", len(jw.triedKids), maxTriedKids)
	}

	// The same two unknown kids over and over: one fetch each when first
	// seen, then one per interval.
	t1 := t0.Add(time.Hour)
	jw = loadedKeySet(t1, 30*time.Second)
	fetches = 0
	for i := 0; i < 20*300; i++ {
		now := t1.Add(time.Duration(i) * 50 * time.Millisecond)
		if fetchDue(jw, true, []string{"a", "b"}[i%2], now) {
			fetches++
			attempt(jw, now, true)
		}
	}
	if limit := 2 + int(5*time.Minute/(30*time.Second)); fetches > limit {
		t.Errorf("fetches for two known-unknown kids over 5 minutes: %d, want at most %d", fetches, limit)
	}

	// A kid too long to remember counts as tried.
	jw = loadedKeySet(t1, 30*time.Second)
	jw.kidFetchAt = t1
	long := string(make([]byte, maxTriedKidBytes+1))
	if fetchDue(jw, true, long, t1.Add(retryGap)) {
		t.Error("an overlong kid had a first refetch of its own")
	}
}

// jwksServer serves a JWKS whose answer the test sets: "ok" (the P-256
// test key, kid k1), "500", "html" (a 200 that is no key set) or
// "redirect". It counts the requests and records the last one.
type jwksServer struct {
	URL   string
	mu    sync.Mutex
	mode  string
	calls int
	last  *http.Request
}

func newJWKSServer(t *testing.T) *jwksServer {
	js := &jwksServer{mode: "ok"}
	body, _ := json.Marshal(map[string]interface{}{"keys": []interface{}{jwkJSON(t, &keysForTest(t).p256.PublicKey, "k1", "ES256")}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.mu.Lock()
		mode := js.mode
		js.calls++
		js.last = r
		js.mu.Unlock()
		switch mode {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		case "html":
			_, _ = w.Write([]byte("<html>not a key set</html>"))
		case "redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(srv.Close)
	js.URL = srv.URL
	return js
}

func setMode(js *jwksServer, mode string) {
	js.mu.Lock()
	js.mode = mode
	js.mu.Unlock()
}

// served is the number of requests so far and the last one.
func served(js *jwksServer) (int, *http.Request) {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.calls, js.last
}

var errTestRedirect = errors.New("redirect")

// testGet is a Fetcher's Get as the root's is: the transport directly, a
// 3xx an error, the body read up to limit.
func testGet(req *http.Request, limit int64) (int, []byte, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp.StatusCode, nil, errTestRedirect
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, raw, err
}

type fetchReport struct {
	status int
	err    error
	keys   int
}

// TestKeySetFetchReportsEachFetch: every fetch is one GET of the URL
// configured (its query kept) asking for JSON, reported with Get's status
// and error and the usable keys the answer held; a failed fetch keeps the
// last good keys.
func TestKeySetFetchReportsEachFetch(t *testing.T) {
	js := newJWKSServer(t)
	var reports []fetchReport
	var limits []int64
	get := func(req *http.Request, limit int64) (int, []byte, error) {
		limits = append(limits, limit)
		status, body, err := testGet(req, limit)
		return status, body, err
	}
	report := func(status int, err error, keys int) { reports = append(reports, fetchReport{status, err, keys}) }
	j := &Settings{JWKSURL: js.URL + "/jwks.json?apikey=s3cret", jwksMinRefresh: time.Second, jwksMaxAge: time.Hour}
	jw := NewKeySet(j, time.Second, Fetcher{Get: get, Report: report})
	if n, _ := served(js); n != 0 {
		t.Fatal("NewKeySet fetched")
	}
	for i, step := range []struct {
		mode   string
		want   fetchReport
		loaded bool
	}{
		{"500", fetchReport{500, nil, 0}, false},
		{"html", fetchReport{200, nil, 0}, false},
		{"ok", fetchReport{200, nil, 1}, true},
		{"500", fetchReport{500, nil, 0}, true},
		{"redirect", fetchReport{302, errTestRedirect, 0}, true},
	} {
		setMode(js, step.mode)
		fetchOnce(jw, jw.attemptedAt)
		if len(reports) != i+1 || reports[i] != step.want {
			t.Fatalf("%s: reports %v, want the last %v", step.mode, reports, step.want)
		}
		if jw.loaded != step.loaded || (step.loaded && (len(jw.keys) != 1 || jw.keys[0].kid != "k1")) {
			t.Errorf("%s: loaded %v with %d keys, want loaded %v (the last good key kept)", step.mode, jw.loaded, len(jw.keys), step.loaded)
		}
		if jw.failed != (step.want.keys == 0) {
			t.Errorf("%s: failed %v", step.mode, jw.failed)
		}
	}
	n, last := served(js)
	if n != 5 || last.Method != http.MethodGet || last.URL.RequestURI() != "/jwks.json?apikey=s3cret" || last.Header.Get("Accept") != "application/json" {
		t.Errorf("%d calls, the last %s %s Accept %q", n, last.Method, last.URL.RequestURI(), last.Header.Get("Accept"))
	}
	for _, l := range limits {
		if l != maxKeySetBody {
			t.Errorf("read limit %d, want %d", l, maxKeySetBody)
		}
	}
}

// TestVerifyWithKeySet: the JWKS's keys verify tokens naming their kid;
// before any fetch succeeded a token cannot be checked yet (a transient
// failure, not a refusal); an unknown kid refetches once, then is
// uncheckable; concurrent first uses fetch once.
func TestVerifyWithKeySet(t *testing.T) {
	k := keysForTest(t)
	js := newJWKSServer(t)
	j := testSettings(t, func(o *Options) {
		o.Secret, o.JWKSURL = "", js.URL+"/jwks"
		o.PublicKeys = nil // apart: Yaegi fails nil and a value assigned in one statement
	})
	newSet := func() *KeySet { return NewKeySet(j, time.Second, Fetcher{Get: testGet}) }
	deadline := time.Now().Add(5 * time.Second)
	good := makeJWT(t, headerJSON("ES256", "k1"), claimsJSON(t, nil), "ES256", k.p256)

	setMode(js, "500")
	down := newSet()
	wantVerdict(t, Verify(j, down, good, deadline), KeysUnavailable, "jwks-unavailable")

	setMode(js, "ok")
	calls, _ := served(js)
	jw := newSet()
	var wg sync.WaitGroup
	results := make([]Result, 8)
	for i := range results {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = Verify(j, jw, good, deadline)
		}()
	}
	wg.Wait()
	for _, r := range results {
		wantVerdict(t, r, Good, "")
	}
	if n, _ := served(js); n-calls != 1 {
		t.Errorf("%d fetches for 8 concurrent first uses, want 1", n-calls)
	}
	calls, _ = served(js)
	unknown := makeJWT(t, headerJSON("ES384", "k9"), claimsJSON(t, nil), "ES384", k.p384)
	jw.attemptedAt = jw.attemptedAt.Add(-retryGap) // the last fetch is old enough for a new kid
	wantVerdict(t, Verify(j, jw, unknown, deadline), Uncheckable, "unknown-key")
	wantVerdict(t, Verify(j, jw, unknown, deadline), KeysUnavailable, "jwks-refetch-spaced")
	if n, _ := served(js); n-calls != 1 {
		t.Errorf("%d fetches for an unknown kid seen twice, want 1", n-calls)
	}
	wantVerdict(t, Verify(j, jw, good, deadline), Good, "")
}

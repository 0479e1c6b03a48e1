package authlayer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rateEpoch is a fixed instant on a whole second.
var rateEpoch = time.Unix(1700000000, 0)

func newTestRateLimiter(t testing.TB, mutate func(*RateLimitConfig)) *rateLimiter {
	t.Helper()
	c := CreateConfig().RateLimit
	c.Enabled = true
	if mutate != nil {
		mutate(&c)
	}
	rl, err := newRateLimiter(c)
	if err != nil {
		t.Fatalf("newRateLimiter: %v", err)
	}
	return rl
}

func TestNewRateLimiterDisabledIsNil(t *testing.T) {
	c := CreateConfig().RateLimit
	c.Requests, c.Window = -1, "nonsense" // not checked while disabled
	rl, err := newRateLimiter(c)
	if rl != nil || err != nil {
		t.Fatalf("disabled: got %v, %v; want nil, nil", rl, err)
	}
	if d := rateTake(nil, budgetRequests, "k", rateEpoch); !d.allowed {
		t.Error("a nil limiter refused a request")
	}
}

func TestNewRateLimiterDefaults(t *testing.T) {
	rl := newTestRateLimiter(t, nil)
	want := [budgetCount]int{100, 10, 30, 60, 10}
	if rl.limits != want {
		t.Errorf("limits = %v, want %v", rl.limits, want)
	}
	if rl.maxSources != 100000 || rl.proxies != nil || rl.countPrefetch {
		t.Errorf("maxSources %d, proxies %v, countPrefetch %v; want 100000, nil, false", rl.maxSources, rl.proxies, rl.countPrefetch)
	}
}

func TestNewRateLimiterErrorsNameTheOption(t *testing.T) {
	cases := []struct {
		option string
		mutate func(*RateLimitConfig)
	}{
		{"rateLimit.requests", func(c *RateLimitConfig) { c.Requests = 0 }},
		{"rateLimit.requests", func(c *RateLimitConfig) { c.Requests = -5 }},
		{"rateLimit.requests", func(c *RateLimitConfig) { c.Requests, c.Window = 1000, "100ns" }},
		{"rateLimit.window", func(c *RateLimitConfig) { c.Window = "" }},
		{"rateLimit.window", func(c *RateLimitConfig) { c.Window = "60" }},
		{"rateLimit.window", func(c *RateLimitConfig) { c.Window = "0s" }},
		{"rateLimit.window", func(c *RateLimitConfig) { c.Window = "-1m" }},
		{"rateLimit.guestMints", func(c *RateLimitConfig) { c.GuestMints = 0 }},
		{"rateLimit.refreshes", func(c *RateLimitConfig) { c.Refreshes = 0 }},
		{"rateLimit.unknownTokens", func(c *RateLimitConfig) { c.UnknownTokens = -1 }},
		{"rateLimit.maxSources", func(c *RateLimitConfig) { c.MaxSources = 0 }},
		{"rateLimit.trustedProxies", func(c *RateLimitConfig) { c.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/99"} }},
		{"rateLimit.trustedProxies", func(c *RateLimitConfig) { c.TrustedProxies = []string{"0.0.0.0/0"} }},
	}
	for _, tc := range cases {
		c := CreateConfig().RateLimit
		c.Enabled = true
		tc.mutate(&c)
		rl, err := newRateLimiter(c)
		if err == nil {
			t.Errorf("%s: accepted %+v, want an error", tc.option, c)
			continue
		}
		if rl != nil {
			t.Errorf("%s: a limiter came back with the error", tc.option)
		}
		if !strings.HasPrefix(err.Error(), "authlayer: "+tc.option+": ") {
			t.Errorf("error %q does not name %s", err, tc.option)
		}
	}
}

func TestRateTakeAllowsExactlyNThenRefuses(t *testing.T) {
	rl := newTestRateLimiter(t, nil) // 100 per 60s: one token per 600ms
	for i := 1; i <= 100; i++ {
		d := rateTake(rl, budgetRequests, "203.0.113.7", rateEpoch)
		if !d.allowed || d.limit != 100 || d.remaining != 100-i || d.retryAfterSeconds != 0 {
			t.Fatalf("request %d: %+v, want allowed, limit 100, remaining %d", i, d, 100-i)
		}
	}
	d := rateTake(rl, budgetRequests, "203.0.113.7", rateEpoch)
	want := rateDecision{limit: 100, remaining: 0, resetSeconds: int(rateEpoch.Unix()) + 60, retryAfterSeconds: 1}
	if d != want {
		t.Errorf("request 101: %+v, want %+v", d, want)
	}
}

func TestRateTakeRefillsOneTokenPerInterval(t *testing.T) {
	rl := newTestRateLimiter(t, nil)
	for i := 0; i < 100; i++ {
		rateTake(rl, budgetRequests, "k", rateEpoch)
	}
	steps := []struct {
		after   time.Duration
		allowed bool
	}{
		{599 * time.Millisecond, false},
		{600 * time.Millisecond, true},
		{600 * time.Millisecond, false}, // that token is spent
		{1200 * time.Millisecond, true},
		{1799 * time.Millisecond, false},
	}
	for _, s := range steps {
		if d := rateTake(rl, budgetRequests, "k", rateEpoch.Add(s.after)); d.allowed != s.allowed {
			t.Errorf("at +%v: allowed = %v, want %v (%+v)", s.after, d.allowed, s.allowed, d)
		}
	}
	// A whole window later the bucket is full again: exactly 100 more.
	later := rateEpoch.Add(time.Hour)
	for i := 0; i < 100; i++ {
		if !rateTake(rl, budgetRequests, "k", later).allowed {
			t.Fatalf("after an idle hour, request %d refused", i+1)
		}
	}
	if rateTake(rl, budgetRequests, "k", later).allowed {
		t.Error("the bucket held more than its size after an idle hour")
	}
}

func TestRateTakeRetryAfterAndReset(t *testing.T) {
	// 2 per 60s: one token per 30s.
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.Requests = 2 })
	base := int(rateEpoch.Unix())
	start := rateEpoch.Add(500 * time.Millisecond)
	steps := []struct {
		after time.Duration
		want  rateDecision
	}{
		{0, rateDecision{allowed: true, limit: 2, remaining: 1, resetSeconds: base + 31}},
		{0, rateDecision{allowed: true, limit: 2, remaining: 0, resetSeconds: base + 61}},
		{0, rateDecision{limit: 2, resetSeconds: base + 61, retryAfterSeconds: 30}},
		{10 * time.Second, rateDecision{limit: 2, resetSeconds: base + 61, retryAfterSeconds: 20}},
		{29*time.Second + 100*time.Millisecond, rateDecision{limit: 2, resetSeconds: base + 61, retryAfterSeconds: 1}},
		{30 * time.Second, rateDecision{allowed: true, limit: 2, remaining: 0, resetSeconds: base + 91}},
		{90 * time.Second, rateDecision{allowed: true, limit: 2, remaining: 1, resetSeconds: base + 121}},
	}
	for _, s := range steps {
		if got := rateTake(rl, budgetRequests, "k", start.Add(s.after)); got != s.want {
			t.Errorf("at +%v: %+v, want %+v", s.after, got, s.want)
		}
	}
}

func TestRateTakeSurvivesTheClockGoingBack(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.Requests = 2 })
	rateTake(rl, budgetRequests, "k", rateEpoch)
	rateTake(rl, budgetRequests, "k", rateEpoch)
	d := rateTake(rl, budgetRequests, "k", rateEpoch.Add(-time.Hour))
	if d.allowed || d.retryAfterSeconds != 30 {
		t.Errorf("an hour back: %+v, want refused with Retry-After 30 (one interval, not the jump)", d)
	}
}

func TestRateBudgetsAreIndependent(t *testing.T) {
	rl := newTestRateLimiter(t, nil)
	for i := 0; i < 10; i++ {
		if !rateTake(rl, budgetGuestMints, "k", rateEpoch).allowed {
			t.Fatalf("guest mint %d refused", i+1)
		}
	}
	if d := rateTake(rl, budgetGuestMints, "k", rateEpoch); d.allowed || d.limit != 10 || d.retryAfterSeconds != 6 {
		t.Errorf("guest mint 11: %+v, want refused, limit 10, Retry-After 6", d)
	}
	others := []struct {
		b     rateBudget
		limit int
	}{{budgetRequests, 100}, {budgetRefreshes, 30}, {budgetUnknownTokens, 60}}
	for _, o := range others {
		d := rateTake(rl, o.b, "k", rateEpoch)
		if !d.allowed || d.limit != o.limit || d.remaining != o.limit-1 {
			t.Errorf("budget %d after guest mints ran out: %+v, want allowed, limit %d, remaining %d", o.b, d, o.limit, o.limit-1)
		}
	}
}

func TestRateClientsAreIndependent(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.Requests = 3 })
	for i := 0; i < 3; i++ {
		rateTake(rl, budgetRequests, "203.0.113.7", rateEpoch)
	}
	if rateTake(rl, budgetRequests, "203.0.113.7", rateEpoch).allowed {
		t.Fatal("the first client was not limited")
	}
	for _, other := range []string{"203.0.113.8", "2001:db8:1:2::/64", ""} {
		if d := rateTake(rl, budgetRequests, other, rateEpoch); !d.allowed || d.remaining != 2 {
			t.Errorf("client %q: %+v, want allowed with a full bucket", other, d)
		}
	}
}

func TestRateMapStaysBounded(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.MaxSources = 1000 })
	for i := 0; i < 200000; i++ {
		// All at one instant: no client is idle, every eviction is arbitrary.
		d := rateTake(rl, budgetRequests, "k"+strconv.Itoa(i), rateEpoch)
		if !d.allowed {
			t.Fatalf("new client %d refused: %+v", i, d)
		}
		if i%10000 == 0 {
			if n := rateSources(rl); n > 1000 {
				t.Fatalf("after %d clients the map holds %d, want <= 1000", i+1, n)
			}
		}
	}
	if n := rateSources(rl); n > 1000 {
		t.Errorf("after 200000 clients the map holds %d, want <= 1000", n)
	}
}

// TestRateEvictionPrefersIdleClients: with evictions of arbitrary clients
// instead, 100 insertions into a map of 1000 would evict one of the 50 busy
// clients with probability 99.4%.
func TestRateEvictionPrefersIdleClients(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.MaxSources = 1000; c.Requests = 5 })
	for i := 0; i < 950; i++ {
		rateTake(rl, budgetRequests, "idle"+strconv.Itoa(i), rateEpoch) // full again after 12s
	}
	for i := 0; i < 50; i++ {
		for j := 0; j < 5; j++ {
			rateTake(rl, budgetRequests, "busy"+strconv.Itoa(i), rateEpoch) // full again after 60s
		}
	}
	later := rateEpoch.Add(20 * time.Second)
	for i := 0; i < 100; i++ {
		rateTake(rl, budgetRequests, "new"+strconv.Itoa(i), later)
	}
	if n := rateSources(rl); n > 1000 {
		t.Errorf("map holds %d, want <= 1000", n)
	}
	// Kept, a busy bucket has refilled 20s of 60s (one take leaves 0
	// tokens); evicted, it would start full (4 left).
	for i := 0; i < 50; i++ {
		if d := rateTake(rl, budgetRequests, "busy"+strconv.Itoa(i), later); d.remaining != 0 {
			t.Errorf("busy client %d was evicted while idle ones remained: %+v", i, d)
		}
	}
}

func TestRateEvictionMakesRoomWhenNoClientIsIdle(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.MaxSources = 10 })
	for i := 0; i < 50; i++ {
		if !rateTake(rl, budgetRequests, "k"+strconv.Itoa(i), rateEpoch).allowed {
			t.Fatalf("client %d refused", i)
		}
		if n := rateSources(rl); n > 10 {
			t.Fatalf("map holds %d, want <= 10", n)
		}
	}
}

// TestRateKeyDoesNotPinTheHeader: a key that is a slice of a 1 MiB
// X-Forwarded-For header must not keep the header alive in the map.
func TestRateKeyDoesNotPinTheHeader(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.TrustedProxies = []string{"10.0.0.0/8"} })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 32; i++ {
		xff := strings.Repeat("6.6.6.6, ", 1<<17) + "203.0.113." + strconv.Itoa(i+1)
		req := clientIPRequest("10.0.0.1:80", []string{xff}, nil)
		key := rateClientKey(rl, req)
		if want := "203.0.113." + strconv.Itoa(i+1); key != want {
			t.Fatalf("key %q, want %q", key, want)
		}
		rateTake(rl, budgetRequests, key, rateEpoch)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("32 clients keep %d bytes alive, want well under 32 MiB of headers", grown)
	}
	if n := rateSources(rl); n != 32 {
		t.Errorf("map holds %d clients, want 32", n)
	}
}

func TestWriteRateLimited(t *testing.T) {
	rl := newTestRateLimiter(t, func(c *RateLimitConfig) { c.Requests = 2 })
	rateTake(rl, budgetRequests, "k", rateEpoch)
	rateTake(rl, budgetRequests, "k", rateEpoch)
	d := rateTake(rl, budgetRequests, "k", rateEpoch.Add(2500*time.Millisecond))
	rec := httptest.NewRecorder()
	writeRateLimited(rec, d)

	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("status %d, want 429", rec.Code)
	}
	wantBody := `{"success":false,"message":"Too many requests. Please try again later.","retryAfter":28}`
	if got := rec.Body.String(); got != wantBody {
		t.Errorf("body\n got %s\nwant %s", got, wantBody)
	}
	var body map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if len(body) != 3 || body["success"] != false || body["message"] != "Too many requests. Please try again later." {
		t.Errorf("body fields %v, want exactly success:false, message, retryAfter", body)
	}
	n, ok := body["retryAfter"].(json.Number)
	if !ok || n.String() != "28" {
		t.Errorf("retryAfter = %v, want the integer 28", body["retryAfter"])
	}
	wantHeaders := map[string]string{
		"Retry-After":            "28",
		"X-RateLimit-Limit":      "2",
		"X-RateLimit-Remaining":  "0",
		"X-RateLimit-Reset":      strconv.FormatInt(rateEpoch.Unix()+60, 10),
		"Cache-Control":          "no-store",
		"Content-Type":           "application/json; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	}
	for k, want := range wantHeaders {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestWriteRateLimitedNeverSaysRetryAfterZero(t *testing.T) {
	rec := httptest.NewRecorder()
	writeRateLimited(rec, rateDecision{limit: 1})
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if !strings.HasSuffix(rec.Body.String(), `"retryAfter":1}`) {
		t.Errorf("body %s, want retryAfter 1", rec.Body.String())
	}
}

func TestRateLimitHeaders(t *testing.T) {
	rl := newTestRateLimiter(t, nil)
	d := rateTake(rl, budgetRequests, "k", rateEpoch.Add(100*time.Millisecond))
	h := http.Header{}
	rateLimitHeaders(h, d)
	want := map[string]string{
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "99",
		"X-RateLimit-Reset":     strconv.FormatInt(rateEpoch.Unix()+1, 10), // full again at +0.7s
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(h) != 3 {
		t.Errorf("headers %v, want only the three X-RateLimit-* headers", h)
	}
}

func TestIsPrefetch(t *testing.T) {
	cases := []struct {
		header, value string
		want          bool
	}{
		{"", "", false},
		{"Sec-Purpose", "prefetch", true},
		{"Sec-Purpose", "prefetch;prerender", true},
		{"Sec-Purpose", "prerender", false},
		{"Next-Router-Prefetch", "1", true},
		{"Next-Router-Prefetch", "", true},
		{"Purpose", "prefetch", true},
		{"Purpose", "Prefetch", true},
		{"Purpose", "preview", false},
		{"X-Purpose", "prefetch", true},
		{"X-Moz", "prefetch", true},
		{"Accept", "prefetch", false},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		if got := isPrefetch(req); got != tc.want {
			t.Errorf("%s: %q: isPrefetch = %v, want %v", tc.header, tc.value, got, tc.want)
		}
	}
}

func TestRateCountPrefetch(t *testing.T) {
	if newTestRateLimiter(t, nil).countPrefetch {
		t.Error("prefetches counted by default")
	}
	if !newTestRateLimiter(t, func(c *RateLimitConfig) { c.CountPrefetch = true }).countPrefetch {
		t.Error("rateLimit.countPrefetch ignored")
	}
}

func BenchmarkRateTake(b *testing.B) {
	b.Run("oneClient", func(b *testing.B) {
		rl := newTestRateLimiter(b, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// One request per interval: always allowed, the entry updated.
			rateTake(rl, budgetRequests, "203.0.113.7", rateEpoch.Add(time.Duration(i)*600*time.Millisecond))
		}
	})
	b.Run("floodOfNewClients", func(b *testing.B) {
		rl := newTestRateLimiter(b, func(c *RateLimitConfig) { c.MaxSources = 1000 })
		keys := make([]string, 4096)
		for i := range keys {
			keys[i] = "k" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// Every key is new to a full map of busy clients: an eviction each time.
			rateTake(rl, budgetRequests, keys[i%len(keys)], rateEpoch)
		}
	})
}

package ratelimit

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

// defaultOptions are CreateConfig's rateLimit defaults (the root's
// rateflow_test.go checks that they arrive here).
func defaultOptions() Options {
	return Options{
		Window: time.Minute, Requests: 100, GuestMints: 10, Refreshes: 30, UnknownTokens: 60, Logins: 10,
		MaxSources: 100000,
	}
}

func newTestLimiter(t testing.TB, mutate func(*Options)) *Limiter {
	t.Helper()
	o := defaultOptions()
	if mutate != nil {
		mutate(&o)
	}
	rl, err := Compile(o)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return rl
}

func TestNilLimiterAllowsEverything(t *testing.T) {
	if d := Spend(nil, BudgetRequests, "k", rateEpoch); !d.Allowed {
		t.Error("a nil limiter refused a request")
	}
}

func TestCompileSizesEachBudget(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) {
		o.Requests, o.GuestMints, o.Refreshes, o.UnknownTokens, o.Logins = 101, 11, 31, 61, 12
	})
	want := [budgetCount]int{101, 11, 31, 61, 12}
	if rl.limits != want {
		t.Errorf("limits = %v, want %v", rl.limits, want)
	}
	if rl.RequestCost != int64(time.Minute)/101 {
		t.Errorf("RequestCost = %d, want one request's interval %d", rl.RequestCost, int64(time.Minute)/101)
	}
	if rl.maxSources != 100000 || rl.proxies != nil || rl.CountPrefetch {
		t.Errorf("maxSources %d, proxies %v, CountPrefetch %v; want 100000, nil, false", rl.maxSources, rl.proxies, rl.CountPrefetch)
	}
}

func TestCompileErrorsNameTheOption(t *testing.T) {
	cases := []struct {
		option string
		mutate func(*Options)
	}{
		{"rateLimit.requests", func(o *Options) { o.Requests = 0 }},
		{"rateLimit.requests", func(o *Options) { o.Requests = -5 }},
		{"rateLimit.requests", func(o *Options) { o.Requests, o.Window = 1000, 100*time.Nanosecond }},
		{"rateLimit.guestMints", func(o *Options) { o.GuestMints = 0 }},
		{"rateLimit.refreshes", func(o *Options) { o.Refreshes = 0 }},
		{"rateLimit.unknownTokens", func(o *Options) { o.UnknownTokens = -1 }},
		{"rateLimit.logins", func(o *Options) { o.Logins = 0 }},
		{"rateLimit.maxSources", func(o *Options) { o.MaxSources = 0 }},
		{"rateLimit.trustedProxies", func(o *Options) { o.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/99"} }},
		{"rateLimit.trustedProxies", func(o *Options) { o.TrustedProxies = []string{"0.0.0.0/0"} }},
	}
	for _, tc := range cases {
		o := defaultOptions()
		tc.mutate(&o)
		rl, err := Compile(o)
		if err == nil {
			t.Errorf("%s: accepted %+v, want an error", tc.option, o)
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

func TestSpendAllowsExactlyNThenRefuses(t *testing.T) {
	rl := newTestLimiter(t, nil) // 100 per 60s: one token per 600ms
	for i := 1; i <= 100; i++ {
		d := Spend(rl, BudgetRequests, "203.0.113.7", rateEpoch)
		if !d.Allowed || d.Limit != 100 || d.Remaining != 100-i || d.RetryAfterSeconds != 0 {
			t.Fatalf("request %d: %+v, want allowed, limit 100, remaining %d", i, d, 100-i)
		}
	}
	d := Spend(rl, BudgetRequests, "203.0.113.7", rateEpoch)
	want := Decision{Limit: 100, Remaining: 0, ResetSeconds: int(rateEpoch.Unix()) + 60, RetryAfterSeconds: 1}
	if d != want {
		t.Errorf("request 101: %+v, want %+v", d, want)
	}
}

func TestSpendRefillsOneTokenPerInterval(t *testing.T) {
	rl := newTestLimiter(t, nil)
	for i := 0; i < 100; i++ {
		Spend(rl, BudgetRequests, "k", rateEpoch)
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
		if d := Spend(rl, BudgetRequests, "k", rateEpoch.Add(s.after)); d.Allowed != s.allowed {
			t.Errorf("at +%v: allowed = %v, want %v (%+v)", s.after, d.Allowed, s.allowed, d)
		}
	}
	// A whole window later the bucket is full again: exactly 100 more.
	later := rateEpoch.Add(time.Hour)
	for i := 0; i < 100; i++ {
		if !Spend(rl, BudgetRequests, "k", later).Allowed {
			t.Fatalf("after an idle hour, request %d refused", i+1)
		}
	}
	if Spend(rl, BudgetRequests, "k", later).Allowed {
		t.Error("the bucket held more than its size after an idle hour")
	}
}

func TestSpendRetryAfterAndReset(t *testing.T) {
	// 2 per 60s: one token per 30s.
	rl := newTestLimiter(t, func(o *Options) { o.Requests = 2 })
	base := int(rateEpoch.Unix())
	start := rateEpoch.Add(500 * time.Millisecond)
	steps := []struct {
		after time.Duration
		want  Decision
	}{
		{0, Decision{Allowed: true, Limit: 2, Remaining: 1, ResetSeconds: base + 31}},
		{0, Decision{Allowed: true, Limit: 2, Remaining: 0, ResetSeconds: base + 61}},
		{0, Decision{Limit: 2, ResetSeconds: base + 61, RetryAfterSeconds: 30}},
		{10 * time.Second, Decision{Limit: 2, ResetSeconds: base + 61, RetryAfterSeconds: 20}},
		{29*time.Second + 100*time.Millisecond, Decision{Limit: 2, ResetSeconds: base + 61, RetryAfterSeconds: 1}},
		{30 * time.Second, Decision{Allowed: true, Limit: 2, Remaining: 0, ResetSeconds: base + 91}},
		{90 * time.Second, Decision{Allowed: true, Limit: 2, Remaining: 1, ResetSeconds: base + 121}},
	}
	for _, s := range steps {
		if got := Spend(rl, BudgetRequests, "k", start.Add(s.after)); got != s.want {
			t.Errorf("at +%v: %+v, want %+v", s.after, got, s.want)
		}
	}
}

func TestSpendSurvivesTheClockGoingBack(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.Requests = 2 })
	Spend(rl, BudgetRequests, "k", rateEpoch)
	Spend(rl, BudgetRequests, "k", rateEpoch)
	d := Spend(rl, BudgetRequests, "k", rateEpoch.Add(-time.Hour))
	if d.Allowed || d.RetryAfterSeconds != 30 {
		t.Errorf("an hour back: %+v, want refused with Retry-After 30 (one interval, not the jump)", d)
	}
}

func TestBudgetsAreIndependent(t *testing.T) {
	rl := newTestLimiter(t, nil)
	for i := 0; i < 10; i++ {
		if !Spend(rl, BudgetGuestMints, "k", rateEpoch).Allowed {
			t.Fatalf("guest mint %d refused", i+1)
		}
	}
	if d := Spend(rl, BudgetGuestMints, "k", rateEpoch); d.Allowed || d.Limit != 10 || d.RetryAfterSeconds != 6 {
		t.Errorf("guest mint 11: %+v, want refused, limit 10, Retry-After 6", d)
	}
	others := []struct {
		b     Budget
		limit int
	}{{BudgetRequests, 100}, {BudgetRefreshes, 30}, {BudgetUnknownTokens, 60}}
	for _, o := range others {
		d := Spend(rl, o.b, "k", rateEpoch)
		if !d.Allowed || d.Limit != o.limit || d.Remaining != o.limit-1 {
			t.Errorf("budget %d after guest mints ran out: %+v, want allowed, limit %d, remaining %d", o.b, d, o.limit, o.limit-1)
		}
	}
}

func TestClientsAreIndependent(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.Requests = 3 })
	for i := 0; i < 3; i++ {
		Spend(rl, BudgetRequests, "203.0.113.7", rateEpoch)
	}
	if Spend(rl, BudgetRequests, "203.0.113.7", rateEpoch).Allowed {
		t.Fatal("the first client was not limited")
	}
	for _, other := range []string{"203.0.113.8", "2001:db8:1:2::/64", ""} {
		if d := Spend(rl, BudgetRequests, other, rateEpoch); !d.Allowed || d.Remaining != 2 {
			t.Errorf("client %q: %+v, want allowed with a full bucket", other, d)
		}
	}
}

func TestClientMapStaysBounded(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.MaxSources = 1000 })
	for i := 0; i < 200000; i++ {
		// All at one instant: no client is idle, every eviction is arbitrary.
		d := Spend(rl, BudgetRequests, "k"+strconv.Itoa(i), rateEpoch)
		if !d.Allowed {
			t.Fatalf("new client %d refused: %+v", i, d)
		}
		if i%10000 == 0 {
			if n := sources(rl); n > 1000 {
				t.Fatalf("after %d clients the map holds %d, want <= 1000", i+1, n)
			}
		}
	}
	if n := sources(rl); n > 1000 {
		t.Errorf("after 200000 clients the map holds %d, want <= 1000", n)
	}
}

// TestEvictionPrefersIdleClients: with evictions of arbitrary clients
// instead, 100 insertions into a map of 1000 would evict one of the 50 busy
// clients with probability 99.4%.
func TestEvictionPrefersIdleClients(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.MaxSources = 1000; o.Requests = 5 })
	for i := 0; i < 950; i++ {
		Spend(rl, BudgetRequests, "idle"+strconv.Itoa(i), rateEpoch) // full again after 12s
	}
	for i := 0; i < 50; i++ {
		for j := 0; j < 5; j++ {
			Spend(rl, BudgetRequests, "busy"+strconv.Itoa(i), rateEpoch) // full again after 60s
		}
	}
	later := rateEpoch.Add(20 * time.Second)
	for i := 0; i < 100; i++ {
		Spend(rl, BudgetRequests, "new"+strconv.Itoa(i), later)
	}
	if n := sources(rl); n > 1000 {
		t.Errorf("map holds %d, want <= 1000", n)
	}
	// Kept, a busy bucket has refilled 20s of 60s (one take leaves 0
	// tokens); evicted, it would start full (4 left).
	for i := 0; i < 50; i++ {
		if d := Spend(rl, BudgetRequests, "busy"+strconv.Itoa(i), later); d.Remaining != 0 {
			t.Errorf("busy client %d was evicted while idle ones remained: %+v", i, d)
		}
	}
}

func TestEvictionMakesRoomWhenNoClientIsIdle(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.MaxSources = 10 })
	for i := 0; i < 50; i++ {
		if !Spend(rl, BudgetRequests, "k"+strconv.Itoa(i), rateEpoch).Allowed {
			t.Fatalf("client %d refused", i)
		}
		if n := sources(rl); n > 10 {
			t.Fatalf("map holds %d, want <= 10", n)
		}
	}
}

// TestClientKeyDoesNotPinTheHeader: a key that is a slice of a 1 MiB
// X-Forwarded-For header must not keep the header alive in the map.
func TestClientKeyDoesNotPinTheHeader(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.TrustedProxies = []string{"10.0.0.0/8"} })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 32; i++ {
		xff := strings.Repeat("6.6.6.6, ", 1<<17) + "203.0.113." + strconv.Itoa(i+1)
		req := clientIPRequest("10.0.0.1:80", []string{xff}, nil)
		key := ClientKey(rl, req)
		if want := "203.0.113." + strconv.Itoa(i+1); key != want {
			t.Fatalf("key %q, want %q", key, want)
		}
		Spend(rl, BudgetRequests, key, rateEpoch)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("32 clients keep %d bytes alive, want well under 32 MiB of headers", grown)
	}
	if n := sources(rl); n != 32 {
		t.Errorf("map holds %d clients, want 32", n)
	}
}

func TestWriteLimited(t *testing.T) {
	rl := newTestLimiter(t, func(o *Options) { o.Requests = 2 })
	Spend(rl, BudgetRequests, "k", rateEpoch)
	Spend(rl, BudgetRequests, "k", rateEpoch)
	d := Spend(rl, BudgetRequests, "k", rateEpoch.Add(2500*time.Millisecond))
	rec := httptest.NewRecorder()
	WriteLimited(rec, d)

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

func TestWriteLimitedNeverSaysRetryAfterZero(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteLimited(rec, Decision{Limit: 1})
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if !strings.HasSuffix(rec.Body.String(), `"retryAfter":1}`) {
		t.Errorf("body %s, want retryAfter 1", rec.Body.String())
	}
}

func TestHeaders(t *testing.T) {
	rl := newTestLimiter(t, nil)
	d := Spend(rl, BudgetRequests, "k", rateEpoch.Add(100*time.Millisecond))
	h := http.Header{}
	Headers(h, d)
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
		if got := IsPrefetch(req); got != tc.want {
			t.Errorf("%s: %q: IsPrefetch = %v, want %v", tc.header, tc.value, got, tc.want)
		}
	}
}

func TestCompileCountPrefetch(t *testing.T) {
	if newTestLimiter(t, nil).CountPrefetch {
		t.Error("prefetches counted by default")
	}
	if !newTestLimiter(t, func(o *Options) { o.CountPrefetch = true }).CountPrefetch {
		t.Error("rateLimit.countPrefetch ignored")
	}
}

func BenchmarkSpend(b *testing.B) {
	b.Run("oneClient", func(b *testing.B) {
		rl := newTestLimiter(b, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// One request per interval: always allowed, the entry updated.
			Spend(rl, BudgetRequests, "203.0.113.7", rateEpoch.Add(time.Duration(i)*600*time.Millisecond))
		}
	})
	b.Run("floodOfNewClients", func(b *testing.B) {
		rl := newTestLimiter(b, func(o *Options) { o.MaxSources = 1000 })
		keys := make([]string, 4096)
		for i := range keys {
			keys[i] = "k" + strconv.Itoa(i)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			// Every key is new to a full map of busy clients: an eviction each time.
			Spend(rl, BudgetRequests, keys[i%len(keys)], rateEpoch)
		}
	})
}

// sources reports the number of clients tracked, for tests.
func sources(rl *Limiter) int {
	rl.Buckets.mu.Lock()
	n := len(rl.Buckets.clients)
	rl.Buckets.mu.Unlock()
	return n
}

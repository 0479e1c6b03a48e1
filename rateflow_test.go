package authlayer

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// TestRateLimitDefaultsReachTheLimiter: CreateConfig's rateLimit defaults
// size each budget (per 60s), and a disabled limiter checks nothing.
func TestRateLimitDefaultsReachTheLimiter(t *testing.T) {
	c := validConfig()
	c.RateLimit.Enabled = true
	s, err := compileSettings(c)
	if err != nil || s.limiter == nil {
		t.Fatalf("defaults: error %v, or no limiter", err)
	}
	rl := s.limiter
	want := []struct {
		b     ratelimit.Budget
		limit int
	}{
		{ratelimit.BudgetRequests, 100}, {ratelimit.BudgetGuestMints, 10}, {ratelimit.BudgetRefreshes, 30},
		{ratelimit.BudgetUnknownTokens, 60}, {ratelimit.BudgetLogins, 10},
	}
	now := time.Unix(1700000000, 0)
	for _, w := range want {
		if d := ratelimit.Spend(rl, w.b, "k", now); !d.Allowed || d.Limit != w.limit {
			t.Errorf("budget %d: %+v, want allowed with limit %d", w.b, d, w.limit)
		}
	}
	if rl.RequestCost != int64(600*time.Millisecond) || rl.CountPrefetch {
		t.Errorf("RequestCost %d, CountPrefetch %v; want 600ms (100 per 60s), false", rl.RequestCost, rl.CountPrefetch)
	}

	c = validConfig()
	c.RateLimit.Requests, c.RateLimit.Window = -1, "nonsense" // not checked while disabled
	if s, err := compileSettings(c); err != nil || s.limiter != nil {
		t.Errorf("disabled: error %v, or a limiter; want neither", err)
	}
}

func TestRateLimitOptionErrorsNameTheOption(t *testing.T) {
	cases := []struct {
		option string
		mutate func(*RateLimitConfig)
	}{
		{"rateLimit.window", func(r *RateLimitConfig) { r.Window = "" }},
		{"rateLimit.window", func(r *RateLimitConfig) { r.Window = "60" }},
		{"rateLimit.window", func(r *RateLimitConfig) { r.Window = "0s" }},
		{"rateLimit.window", func(r *RateLimitConfig) { r.Window = "-1m" }},
		{"rateLimit.requests", func(r *RateLimitConfig) { r.Requests = 0 }},
		{"rateLimit.requests", func(r *RateLimitConfig) { r.Requests, r.Window = 1000, "100ns" }},
		{"rateLimit.guestMints", func(r *RateLimitConfig) { r.GuestMints = 0 }},
		{"rateLimit.refreshes", func(r *RateLimitConfig) { r.Refreshes = 0 }},
		{"rateLimit.unknownTokens", func(r *RateLimitConfig) { r.UnknownTokens = -1 }},
		{"rateLimit.logins", func(r *RateLimitConfig) { r.Logins = 0 }},
		{"rateLimit.maxSources", func(r *RateLimitConfig) { r.MaxSources = 0 }},
		{"rateLimit.trustedProxies", func(r *RateLimitConfig) { r.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.0/99"} }},
		{"rateLimit.trustedProxies", func(r *RateLimitConfig) { r.TrustedProxies = []string{"0.0.0.0/0"} }},
	}
	for _, tc := range cases {
		c := validConfig()
		c.RateLimit.Enabled = true
		tc.mutate(&c.RateLimit)
		h, err := New(context.Background(), http.NotFoundHandler(), c, "t")
		if err == nil || h != nil {
			t.Errorf("%s: New accepted %+v", tc.option, c.RateLimit)
			continue
		}
		if !strings.HasPrefix(err.Error(), "authlayer: "+tc.option+": ") {
			t.Errorf("error %q does not name %s", err, tc.option)
		}
	}
}

func rateConfig(requests, unknown, mints int) func(*Config) {
	return func(c *Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Requests, c.RateLimit.UnknownTokens, c.RateLimit.GuestMints = requests, unknown, mints
		c.RateLimit.Window = "1h"
		c.RateLimit.TrustedProxies = []string{"192.0.2.1"} // httptest's RemoteAddr
	}
}

func from(req *http.Request, ip string) *http.Request {
	req.Header.Set("X-Forwarded-For", ip)
	return req
}

func TestRequestBudgetAnswers429WithoutBackendCalls(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, rateConfig(3, 100, 100))
	user := &http.Cookie{Name: "userToken", Value: "user-r1"}
	for i := 0; i < 3; i++ {
		rec := serve(h, from(page("/dashboard", user), "198.51.100.7"))
		if rec.Code != http.StatusOK || rec.Header().Get("X-RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %d remaining %q", i, rec.Code, rec.Header().Get("X-RateLimit-Remaining"))
		}
	}
	validations := f.validates.Load()
	// A script gets the original's JSON; a browser the 429 page, with the
	// same headers (errorpages.go).
	apiReq := from(page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-r2"}), "198.51.100.7")
	apiReq.Header.Set("Accept", "application/json")
	rec := serve(h, apiReq)
	var body map[string]interface{}
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || body["retryAfter"] == nil {
		t.Errorf("over budget: %d Retry-After %q body %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	rec = serve(h, from(page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-r2"}), "198.51.100.7"))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("over budget, a page: %d Retry-After %q Content-Type %q", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Content-Type"))
	}
	if f.validates.Load() != validations || up.calls != 3 {
		t.Errorf("a limited request reached the backend (%d) or the app (%d)", f.validates.Load()-validations, up.calls)
	}
	// Another client, and a spoofed left-most hop does not borrow its budget.
	if rec := serve(h, from(page("/", user), "203.0.113.9")); rec.Code != http.StatusOK {
		t.Errorf("another client was limited: %d", rec.Code)
	}
	if rec := serve(h, from(page("/", user), "203.0.113.10, 198.51.100.7")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a spoofed left-most X-Forwarded-For hop escaped the limit: %d", rec.Code)
	}
	// A reload builds a new instance; the budget is not reset.
	h2, _ := newTestMiddleware(t, f, rateConfig(3, 100, 100))
	if rec := serve(h2, from(page("/", user), "198.51.100.7")); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a reload reset the budget: %d", rec.Code)
	}
}

func TestBackendBudgets(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, rateConfig(100, 2, 1))
	for i := 0; i < 2; i++ {
		serve(h, from(page("/", &http.Cookie{Name: "userToken", Value: "user-u" + strconv.Itoa(i)}), "198.51.100.8"))
	}
	// Cached tokens cost nothing from the unknown-token budget.
	if rec := serve(h, from(page("/", &http.Cookie{Name: "userToken", Value: "user-u0"}), "198.51.100.8")); rec.Code != http.StatusOK {
		t.Errorf("a cached token was refused: %d", rec.Code)
	}
	rec := serve(h, from(page("/", &http.Cookie{Name: "userToken", Value: "user-u9"}), "198.51.100.8"))
	if rec.Code != http.StatusTooManyRequests || f.validates.Load() != 2 {
		t.Errorf("third unknown token: %d after %d validations, want 429 after 2", rec.Code, f.validates.Load())
	}
	serve(h, from(page("/"), "198.51.100.9"))
	rec = serve(h, from(page("/"), "198.51.100.9"))
	if rec.Code != http.StatusOK || f.mints.Load() != 1 || rec.Header().Get("Set-Cookie") != "" {
		t.Errorf("second guest visit: %d, %d mints, Set-Cookie %q; want it served without a new guest token",
			rec.Code, f.mints.Load(), rec.Header().Get("Set-Cookie"))
	}
}

// TestAuditIPIsTheRateLimitClient: the audit log names the client the rate
// limiter keys on, X-Forwarded-For walked back through the trusted proxies;
// without rate limiting no proxy is trusted and the log names the peer.
func TestAuditIPIsTheRateLimitClient(t *testing.T) {
	cases := []struct {
		desc   string
		mutate func(*Config)
		want   string
	}{
		{"rate limiting trusts httptest's peer", rateConfig(100, 100, 100), "198.51.100.7"},
		{"without rate limiting", nil, "192.0.2.1"},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		h, _ := newTestMiddleware(t, newFakeBackend(t), tc.mutate)
		log, err := newAuditLog(AuditConfig{Enabled: true, Salt: "test-salt"}, t.Name(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		h.(*middleware).audit = log
		serve(h, from(page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-ip1"}), "6.6.6.6, 198.51.100.7"))
		events := auditEvents(t, &buf)
		if len(events) == 0 {
			t.Fatalf("%s: no audit event", tc.desc)
		}
		for _, e := range events {
			if e["ip"] != tc.want {
				t.Errorf("%s: %s event names ip %v, want %s", tc.desc, e["event"], e["ip"], tc.want)
			}
		}
	}
}

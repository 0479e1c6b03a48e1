package csrf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"testing"
)

const (
	testSecret = "authlayer-csrf-test-secret-0123456789"
	testRandom = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testOrigin = "https://app.example"
	testTarget = "https://app.example/api/items"
)

var verdictNames = map[Verdict]string{Pass: "pass", Reject: "reject", NeedToken: "need-token"}

// testOptions are the root's defaults (CreateConfig), enabled, with
// stand-ins for the helpers the root passes: the root's own are checked
// in the flow tests (csrfflow_test.go).
func testOptions() Options {
	return Options{
		Enabled: true, Secret: testSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token",
		SecureCookies: true, MaxCookieBytes: 4096,
		ValidCookieName: testCookieName, ValidHeaderName: testHeaderName,
		CanonicalPath: path.Clean, FoldHeaderName: testFold,
	}
}

// testCookieName accepts RFC 6265 token characters.
func testCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// testHeaderName accepts letters, digits, "-", "_" and ".".
func testHeaderName(name string) bool {
	return name != "" && strings.Trim(name, "-_.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// testFold folds "_" and "." into "-", any case, as the root's
// normalizeHeaderName does (which folds a few more characters).
func testFold(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// newTestGuard is testOptions with one trusted origin and one exempt
// path.
func newTestGuard(t *testing.T, mutate func(*Options)) *Guard {
	t.Helper()
	o := testOptions()
	o.TrustedOrigins = []string{"https://partner.example"}
	o.ExemptPaths = []string{"/webhooks/stripe"}
	if mutate != nil {
		mutate(&o)
	}
	g, err := Compile(o)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return g
}

// testRequest builds a request; a target with an https URL arrives
// over TLS, as httptest does.
func testRequest(method, target string, h http.Header) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Method = method
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

// testToken builds a token with crypto/hmac directly, independently
// of token.go.
func testToken(secret, random, binding string) string {
	msg := "64!" + random
	if binding != "" {
		msg += "!" + binding
	}
	m := hmac.New(sha256.New, []byte(secret))
	_, _ = m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil)) + "." + random
}

func checkVerdict(t *testing.T, desc string, gotV Verdict, gotReason string, wantV Verdict, wantReason string) {
	t.Helper()
	if gotV != wantV || (wantReason != "" && gotReason != wantReason) {
		t.Errorf("%s: got %s (%s), want %s (%s)", desc, verdictNames[gotV], gotReason, verdictNames[wantV], wantReason)
	}
}

func TestFetchMetadata(t *testing.T) {
	tests := []struct {
		desc          string
		h             http.Header
		trustSameSite bool
		want          Verdict
		reason        string
	}{
		{"same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, false, Pass, "same-origin"},
		{"same-origin wins over a foreign Origin", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"https://evil.example"}}, false, Pass, "same-origin"},
		{"same-site untrusted", http.Header{"Sec-Fetch-Site": {"same-site"}}, false, Reject, "same-site"},
		{"same-site trusted", http.Header{"Sec-Fetch-Site": {"same-site"}}, true, Pass, "same-site-trusted"},
		{"same-site from an untrusted origin", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://blog.app.example"}}, false, Reject, "same-site"},
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, false, Reject, "cross-site"},
		{"cross-site from a trusted origin", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://partner.example"}}, false, Pass, "trusted-origin"},
		{"cross-site from the own origin (metadata wins)", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {testOrigin}}, false, Reject, "cross-site"},
		{"cross-site with trustSameSite", http.Header{"Sec-Fetch-Site": {"cross-site"}}, true, Reject, "cross-site"},
		{"none", http.Header{"Sec-Fetch-Site": {"none"}}, true, Reject, "fetch-site-none"},
		{"none from a trusted origin", http.Header{"Sec-Fetch-Site": {"none"}, "Origin": {"https://partner.example"}}, false, Reject, "fetch-site-none"},
		{"unknown value", http.Header{"Sec-Fetch-Site": {"bogus"}}, true, Reject, "fetch-site-unknown"},
		{"wrong case", http.Header{"Sec-Fetch-Site": {"Same-Origin"}}, false, Reject, "fetch-site-unknown"},
		{"empty value", http.Header{"Sec-Fetch-Site": {""}}, false, Reject, "fetch-site-unknown"},
		{"two values", http.Header{"Sec-Fetch-Site": {"same-origin", "cross-site"}}, false, Reject, "fetch-site-unknown"},
		{"missing: falls back to Origin", http.Header{"Origin": {testOrigin}}, false, Pass, "origin-match"},
	}
	for _, tc := range tests {
		trust := tc.trustSameSite
		g := newTestGuard(t, func(c *Options) { c.TrustSameSite = trust })
		v, reason := Early(g, testRequest(http.MethodPost, testTarget, tc.h), "/api/items")
		checkVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

func TestOriginAndReferer(t *testing.T) {
	tests := []struct {
		desc   string
		target string
		h      http.Header
		want   Verdict
		reason string
	}{
		{"own origin", testTarget, http.Header{"Origin": {testOrigin}}, Pass, "origin-match"},
		{"own origin, case and default port", testTarget, http.Header{"Origin": {"HTTPS://App.Example:443"}}, Pass, "origin-match"},
		{"own origin over plain http", "http://app.example/api/items", http.Header{"Origin": {"http://app.example"}}, Pass, "origin-match"},
		{"own origin with a port", "https://app.example:8443/x", http.Header{"Origin": {"https://app.example:8443"}}, Pass, "origin-match"},
		{"other port", "https://app.example:8443/x", http.Header{"Origin": {testOrigin}}, Reject, "origin-mismatch"},
		{"http origin posting to https", testTarget, http.Header{"Origin": {"http://app.example"}}, Reject, "origin-mismatch"},
		{"https origin, TLS ended before Traefik", "http://app.example/api/items", http.Header{"Origin": {testOrigin}, "X-Forwarded-Proto": {"https"}}, Pass, "origin-match"},
		{"https origin, first forwarded hop", "http://app.example/api/items", http.Header{"Origin": {testOrigin}, "X-Forwarded-Proto": {"https, http"}}, Pass, "origin-match"},
		{"https origin, plain http and no forwarded proto", "http://app.example/api/items", http.Header{"Origin": {testOrigin}}, Reject, "origin-mismatch"},
		{"trusted origin", testTarget, http.Header{"Origin": {"https://partner.example"}}, Pass, "origin-match"},
		{"trusted host, other port", testTarget, http.Header{"Origin": {"https://partner.example:8443"}}, Reject, "origin-mismatch"},
		{"other origin", testTarget, http.Header{"Origin": {"https://evil.example"}}, Reject, "origin-mismatch"},
		{"own origin as a prefix", testTarget, http.Header{"Origin": {"https://app.example.evil.example"}}, Reject, "origin-mismatch"},
		{"null", testTarget, http.Header{"Origin": {"null"}}, Reject, "origin-null"},
		{"no scheme", testTarget, http.Header{"Origin": {"app.example"}}, Reject, "origin-malformed"},
		{"with a path", testTarget, http.Header{"Origin": {"https://app.example/x"}}, Reject, "origin-malformed"},
		{"with userinfo", testTarget, http.Header{"Origin": {"https://evil.example@app.example"}}, Reject, "origin-malformed"},
		{"other scheme", testTarget, http.Header{"Origin": {"javascript://app.example"}}, Reject, "origin-malformed"},
		{"empty", testTarget, http.Header{"Origin": {""}}, Reject, "origin-malformed"},
		{"huge", testTarget, http.Header{"Origin": {"https://app.example" + strings.Repeat("a", 5000)}}, Reject, "origin-malformed"},
		{"two values", testTarget, http.Header{"Origin": {testOrigin, testOrigin}}, Reject, "origin-malformed"},
		{"Origin wins over Referer", testTarget, http.Header{"Origin": {"https://evil.example"}, "Referer": {testOrigin + "/page"}}, Reject, "origin-mismatch"},
		{"null Origin with own Referer", testTarget, http.Header{"Origin": {"null"}, "Referer": {testOrigin + "/page"}}, Reject, "origin-null"},
		{"Referer: own page", testTarget, http.Header{"Referer": {"https://app.example/page?x=1#f"}}, Pass, "referer-match"},
		{"Referer: own origin only", testTarget, http.Header{"Referer": {"https://APP.example:443"}}, Pass, "referer-match"},
		{"Referer: @ in the path", testTarget, http.Header{"Referer": {"https://app.example/users/@bob"}}, Pass, "referer-match"},
		{"Referer: trusted", testTarget, http.Header{"Referer": {"https://partner.example/"}}, Pass, "referer-match"},
		{"Referer: other", testTarget, http.Header{"Referer": {"https://evil.example/https://app.example/"}}, Reject, "referer-mismatch"},
		{"Referer: own origin as a prefix", testTarget, http.Header{"Referer": {"https://app.example.evil.example/"}}, Reject, "referer-mismatch"},
		{"Referer: userinfo", testTarget, http.Header{"Referer": {"https://app.example@evil.example/"}}, Reject, "referer-malformed"},
		{"Referer: relative", testTarget, http.Header{"Referer": {"/page"}}, Reject, "referer-malformed"},
		{"Referer: no host", testTarget, http.Header{"Referer": {"https:///page"}}, Reject, "referer-malformed"},
		{"neither", testTarget, nil, NeedToken, "no-origin"},
	}
	g := newTestGuard(t, nil)
	for _, tc := range tests {
		req := testRequest(http.MethodPost, tc.target, tc.h)
		v, reason := Early(g, req, path.Clean(req.URL.Path))
		checkVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

func TestUnknownMethodsAreUnsafe(t *testing.T) {
	tests := []struct {
		method string
		want   Verdict
	}{
		{http.MethodGet, Pass}, {http.MethodHead, Pass}, {http.MethodOptions, Pass}, {http.MethodTrace, Pass},
		{http.MethodPost, Reject}, {http.MethodPut, Reject}, {http.MethodPatch, Reject}, {http.MethodDelete, Reject},
		{"PROPFIND", Reject}, {"PURGE", Reject}, {"FOO", Reject}, {"get", Reject}, {"Head", Reject},
	}
	g := newTestGuard(t, nil)
	for _, tc := range tests {
		req := testRequest(tc.method, testTarget, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		v, reason := Early(g, req, "/api/items")
		checkVerdict(t, "cross-site "+tc.method, v, reason, tc.want, "")
	}
}

func TestExemptPathsAreExact(t *testing.T) {
	tests := []struct {
		path string
		want Verdict
	}{
		{"/webhooks/stripe", Pass},
		{"/webhooks//stripe/", Pass}, // canonicalised by the caller
		{"/hooks", Pass},             // configured as "/hooks/"
		{"/webhooks/stripe/x", Reject},
		{"/webhooks/stripe2", Reject},
		{"/webhooks", Reject},
		{"/Webhooks/stripe", Reject},
		{"/", Reject},
	}
	g := newTestGuard(t, func(c *Options) { c.ExemptPaths = []string{"/webhooks/stripe", " /hooks/ ", ""} })
	for _, tc := range tests {
		req := testRequest(http.MethodPost, "https://app.example"+tc.path, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		v, reason := Early(g, req, path.Clean(req.URL.Path))
		checkVerdict(t, "POST "+tc.path, v, reason, tc.want, "")
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		desc   string
		mutate func(*Options)
		secure bool
		option string
	}{
		{"secret missing", func(c *Options) { c.Secret = "" }, true, "csrf.secret"},
		{"secret blank", func(c *Options) { c.Secret = strings.Repeat(" ", 40) }, true, "csrf.secret"},
		{"secret short", func(c *Options) { c.Secret = "short-secret-value-of-31-chars!" }, true, "csrf.secret"},
		{"origin without scheme", func(c *Options) { c.TrustedOrigins = []string{"example.com"} }, true, "csrf.trustedOrigins"},
		{"origin with a path", func(c *Options) { c.TrustedOrigins = []string{"https://example.com/app"} }, true, "csrf.trustedOrigins"},
		{"origin with a slash", func(c *Options) { c.TrustedOrigins = []string{"https://example.com/"} }, true, "csrf.trustedOrigins"},
		{"origin with a query", func(c *Options) { c.TrustedOrigins = []string{"https://example.com?x=1"} }, true, "csrf.trustedOrigins"},
		{"origin with a fragment", func(c *Options) { c.TrustedOrigins = []string{"https://example.com#x"} }, true, "csrf.trustedOrigins"},
		{"origin with userinfo", func(c *Options) { c.TrustedOrigins = []string{"https://u@example.com"} }, true, "csrf.trustedOrigins"},
		{"origin with a bad port", func(c *Options) { c.TrustedOrigins = []string{"https://example.com:99999"} }, true, "csrf.trustedOrigins"},
		{"origin with a wildcard", func(c *Options) { c.TrustedOrigins = []string{"https://*.example.com"} }, true, "csrf.trustedOrigins"},
		{"origin null", func(c *Options) { c.TrustedOrigins = []string{"null"} }, true, "csrf.trustedOrigins"},
		{"origin of another scheme", func(c *Options) { c.TrustedOrigins = []string{"ftp://example.com"} }, true, "csrf.trustedOrigins"},
		{"origin without host", func(c *Options) { c.TrustedOrigins = []string{"https://"} }, true, "csrf.trustedOrigins"},
		{"cookie name empty", func(c *Options) { c.CookieName = "" }, true, "csrf.cookieName"},
		{"cookie name invalid", func(c *Options) { c.CookieName = "csrf token" }, true, "csrf.cookieName"},
		{"__Host- cookie without Secure", func(c *Options) { c.CookieName = "__Host-csrf" }, false, "csrf.cookieName"},
		{"cookie name too long", func(c *Options) { c.CookieName = strings.Repeat("c", 4000) }, true, "csrf.cookieName"},
		{"header name empty", func(c *Options) { c.HeaderName = "" }, true, "csrf.headerName"},
		{"header name invalid", func(c *Options) { c.HeaderName = "X CSRF" }, true, "csrf.headerName"},
		{"header name safelisted", func(c *Options) { c.HeaderName = "content-language" }, true, "csrf.headerName"},
		{"exempt path relative", func(c *Options) { c.ExemptPaths = []string{"webhooks"} }, true, "csrf.exemptPaths"},
		{"exempt path pattern", func(c *Options) { c.ExemptPaths = []string{"/webhooks/*"} }, true, "csrf.exemptPaths"},
		{"exempt path with a query", func(c *Options) { c.ExemptPaths = []string{"/webhooks?x=1"} }, true, "csrf.exemptPaths"},
		{"exempt path encoded", func(c *Options) { c.ExemptPaths = []string{"/a%2Fb"} }, true, "csrf.exemptPaths"},
	}
	for _, tc := range tests {
		c := testOptions()
		c.SecureCookies = tc.secure
		tc.mutate(&c)
		g, err := Compile(c)
		if err == nil || g != nil {
			t.Errorf("%s: Compile = %v, %v; want an error", tc.desc, g, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "authlayer: "+tc.option+": ") {
			t.Errorf("%s: error %q does not name %s", tc.desc, err, tc.option)
		}
		if c.Secret != "" && strings.TrimSpace(c.Secret) != "" && strings.Contains(err.Error(), c.Secret) {
			t.Errorf("%s: error %q reveals the secret", tc.desc, err)
		}
	}
}

func TestConfigAccepted(t *testing.T) {
	g, err := Compile(Options{})
	if g != nil || err != nil {
		t.Errorf("disabled: Compile = %v, %v; want nil, nil", g, err)
	}
	missing := testOptions()
	missing.FoldHeaderName = nil
	if g, err := Compile(missing); g != nil || err == nil {
		t.Errorf("enabled without a helper: Compile = %v, %v; want an error", g, err)
	}
	if v, _ := Early(nil, testRequest(http.MethodPost, testTarget, nil), "/"); v != Pass {
		t.Errorf("disabled: Early = %s, want pass", verdictNames[v])
	}
	g = newTestGuard(t, func(c *Options) {
		c.TrustedOrigins = []string{" https://Partner.example:443 ", "", "http://[::1]:8080"}
		c.CookieName, c.HeaderName = "__Host-csrf", "x-xsrf-token"
	})
	for _, o := range []string{"https://partner.example", "http://[::1]:8080"} {
		if !g.trusted[o] {
			t.Errorf("trusted origins %v lack %s", g.trusted, o)
		}
	}
	if g.headerKey != "X-Xsrf-Token" || g.CookieName != "__Host-csrf" {
		t.Errorf("header %q, cookie %q", g.headerKey, g.CookieName)
	}
}

// TestGuardIsSharedSafely runs the checks from several goroutines on
// one guard, as Traefik's connections do (meaningful under -race).
func TestGuardIsSharedSafely(t *testing.T) {
	g := newTestGuard(t, nil)
	tok := testToken(testSecret, testRandom, "user:1")
	var wg sync.WaitGroup
	failures := make([]int, 8)
	for i := 0; i < len(failures); i++ {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				req := testRequest(http.MethodPost, testTarget+"?_method=x", http.Header{"X-Csrf-Token": {tok}, "Cookie": {"__csrf=" + tok}})
				if v, _ := Early(g, req, "/api/items"); v != NeedToken || !TokenValid(g, req, "user:1") || Issue(g, req, "user:2") == "" {
					failures[i]++
				}
			}
		}()
	}
	wg.Wait()
	for i, f := range failures {
		if f != 0 {
			t.Errorf("goroutine %d: %d wrong answers", i, f)
		}
	}
}

// TestOriginHelpers pins the normalisation both sides of a comparison
// go through.
func TestOriginHelpers(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://App.Example:443", "https://app.example", true},
		{"http://app.example:80", "http://app.example", true},
		{"http://app.example:443", "http://app.example:443", true},
		{"https://app.example:8443", "https://app.example:8443", true},
		{"https://app.example/", "", false},
		{"app.example", "", false},
	}
	for _, tc := range tests {
		got, ok := HeaderOrigin(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("HeaderOrigin(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	u, _ := url.Parse("https://app.example:443/x")
	req := &http.Request{URL: u, Host: u.Host, Header: http.Header{"X-Forwarded-Proto": {"wss"}}}
	if got := RequestOrigin(req); got != "https://app.example" {
		t.Errorf("RequestOrigin = %q, want https://app.example", got)
	}
}

// Benchmarks of the per-request work, and of hostile sizes: run them
// under Yaegi too (scripts/yaegi-test.sh ./internal/csrf -run '^$' -bench .).

func BenchmarkEarlySafeMethod(b *testing.B) {
	g, _ := Compile(testOptions())
	req := testRequest(http.MethodGet, testTarget+"?page=2", nil)
	for i := 0; i < b.N; i++ {
		Early(g, req, "/api/items")
	}
}

// BenchmarkEarlySafeMethodBrowserHeaders: a GET as a browser behind
// Traefik sends it. Same-origin (most requests) skips the look through
// the header keys for override aliases; cross-site (a visitor arriving by
// a link) pays for it.
func BenchmarkEarlySafeMethodBrowserHeaders(b *testing.B) {
	g, _ := Compile(testOptions())
	for _, site := range []string{"same-origin", "cross-site"} {
		h := http.Header{"Sec-Fetch-Site": {site}}
		for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Cookie", "Priority",
			"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
			"Sec-Fetch-User", "Upgrade-Insecure-Requests", "User-Agent", "X-Forwarded-For", "X-Forwarded-Host",
			"X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-Server", "X-Real-Ip"} {
			h[k] = []string{"x"}
		}
		req := testRequest(http.MethodGet, testTarget+"?page=2", h)
		b.Run(site, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Early(g, req, "/api/items")
			}
		})
	}
}

func BenchmarkEarlyHugeQuery(b *testing.B) {
	g, _ := Compile(testOptions())
	req := testRequest(http.MethodGet, testTarget+"?"+strings.Repeat("a=%41&", 10000), nil)
	for i := 0; i < b.N; i++ {
		Early(g, req, "/api/items")
	}
}

// Fuzz targets for the parsers of attacker-controlled input; the seeds
// also run as plain tests (TestEarlySeeds, TestCookieReadSeeds) for the
// Yaegi CLI.

var requestSeeds = [][5]string{
	{"POST", "", "", "https://app.example", ""},
	{"POST", "", "cross-site", "https://partner.example", ""},
	{"GET", "_method=DELETE", "cross-site", "", ""},
	{"GET", "%5fmethod=put;a=%zz", "", "", "https://app.example/x"},
	{"PUT", "", "", "null", "https://app.example/"},
	{"DELETE", "", "", "", "https://a@app.example/"},
	{"GET", "+method=x&&&==", "none", "HTTPS://APP.EXAMPLE:443", ""},
}

func FuzzEarly(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(checkEarly)
}

// checkEarly: never a panic, and an unsafe request passes only on
// same-origin Fetch Metadata or an Origin/Referer naming the app or a
// trusted origin.
func checkEarly(t *testing.T, method, query, site, origin, referer string) {
	g := &Guard{trusted: map[string]bool{"https://partner.example": true}, exempt: map[string]bool{}, fold: testFold}
	req := &http.Request{Method: method, Host: "app.example", URL: &url.URL{Path: "/x", RawQuery: query}, Header: http.Header{}}
	for k, v := range map[string]string{"Sec-Fetch-Site": site, "Origin": origin, "Referer": referer} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	v, reason := Early(g, req, "/x")
	if v != Pass || reason == "safe-method" {
		return
	}
	if site == "same-origin" {
		return
	}
	o, ok := HeaderOrigin(origin)
	if origin == "" {
		o, ok = refererOrigin(referer)
	}
	if !ok || (o != "http://app.example" && !g.trusted[o]) {
		t.Fatalf("%s ?%s with Sec-Fetch-Site %q, Origin %q, Referer %q passed (%s)", method, query, site, origin, referer, reason)
	}
}

func TestEarlySeeds(t *testing.T) {
	for _, s := range requestSeeds {
		checkEarly(t, s[0], s[1], s[2], s[3], s[4])
	}
}

package authlayer

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	csrfTestSecret = "authlayer-csrf-test-secret-0123456789"
	csrfTestRandom = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	csrfTestOrigin = "https://app.example"
	csrfTestTarget = "https://app.example/api/items"
)

var csrfVerdictNames = map[csrfVerdict]string{csrfPass: "pass", csrfReject: "reject", csrfNeedToken: "need-token"}

// newTestCSRFGuard is the default configuration, enabled, with one
// trusted origin and one exempt path.
func newTestCSRFGuard(t *testing.T, mutate func(*CSRFConfig)) *csrfGuard {
	t.Helper()
	c := CreateConfig().CSRF
	c.Enabled = true
	c.Secret = csrfTestSecret
	c.TrustedOrigins = []string{"https://partner.example"}
	c.ExemptPaths = []string{"/webhooks/stripe"}
	if mutate != nil {
		mutate(&c)
	}
	g, err := newCSRFGuard(c, true)
	if err != nil {
		t.Fatalf("newCSRFGuard: %v", err)
	}
	return g
}

// csrfTestRequest builds a request; a target with an https URL arrives
// over TLS, as httptest does.
func csrfTestRequest(method, target string, h http.Header) *http.Request {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Method = method
	for k, v := range h {
		req.Header[k] = v
	}
	return req
}

// testCSRFToken builds a token with crypto/hmac directly, independently
// of csrf.go.
func testCSRFToken(secret, random, binding string) string {
	msg := "64!" + random
	if binding != "" {
		msg += "!" + binding
	}
	m := hmac.New(sha256.New, []byte(secret))
	_, _ = m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil)) + "." + random
}

func checkCSRFVerdict(t *testing.T, desc string, gotV csrfVerdict, gotReason string, wantV csrfVerdict, wantReason string) {
	t.Helper()
	if gotV != wantV || (wantReason != "" && gotReason != wantReason) {
		t.Errorf("%s: got %s (%s), want %s (%s)", desc, csrfVerdictNames[gotV], gotReason, csrfVerdictNames[wantV], wantReason)
	}
}

func TestCSRFFetchMetadata(t *testing.T) {
	tests := []struct {
		desc          string
		h             http.Header
		trustSameSite bool
		want          csrfVerdict
		reason        string
	}{
		{"same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}}, false, csrfPass, "same-origin"},
		{"same-origin wins over a foreign Origin", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"https://evil.example"}}, false, csrfPass, "same-origin"},
		{"same-site untrusted", http.Header{"Sec-Fetch-Site": {"same-site"}}, false, csrfReject, "same-site"},
		{"same-site trusted", http.Header{"Sec-Fetch-Site": {"same-site"}}, true, csrfPass, "same-site-trusted"},
		{"same-site from an untrusted origin", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://blog.app.example"}}, false, csrfReject, "same-site"},
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}, false, csrfReject, "cross-site"},
		{"cross-site from a trusted origin", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://partner.example"}}, false, csrfPass, "trusted-origin"},
		{"cross-site from the own origin (metadata wins)", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {csrfTestOrigin}}, false, csrfReject, "cross-site"},
		{"cross-site with trustSameSite", http.Header{"Sec-Fetch-Site": {"cross-site"}}, true, csrfReject, "cross-site"},
		{"none", http.Header{"Sec-Fetch-Site": {"none"}}, true, csrfReject, "fetch-site-none"},
		{"none from a trusted origin", http.Header{"Sec-Fetch-Site": {"none"}, "Origin": {"https://partner.example"}}, false, csrfReject, "fetch-site-none"},
		{"unknown value", http.Header{"Sec-Fetch-Site": {"bogus"}}, true, csrfReject, "fetch-site-unknown"},
		{"wrong case", http.Header{"Sec-Fetch-Site": {"Same-Origin"}}, false, csrfReject, "fetch-site-unknown"},
		{"empty value", http.Header{"Sec-Fetch-Site": {""}}, false, csrfReject, "fetch-site-unknown"},
		{"two values", http.Header{"Sec-Fetch-Site": {"same-origin", "cross-site"}}, false, csrfReject, "fetch-site-unknown"},
		{"missing: falls back to Origin", http.Header{"Origin": {csrfTestOrigin}}, false, csrfPass, "origin-match"},
	}
	for _, tc := range tests {
		trust := tc.trustSameSite
		g := newTestCSRFGuard(t, func(c *CSRFConfig) { c.TrustSameSite = trust })
		v, reason := csrfEarly(g, csrfTestRequest(http.MethodPost, csrfTestTarget, tc.h), "/api/items")
		checkCSRFVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

func TestCSRFOriginAndReferer(t *testing.T) {
	tests := []struct {
		desc   string
		target string
		h      http.Header
		want   csrfVerdict
		reason string
	}{
		{"own origin", csrfTestTarget, http.Header{"Origin": {csrfTestOrigin}}, csrfPass, "origin-match"},
		{"own origin, case and default port", csrfTestTarget, http.Header{"Origin": {"HTTPS://App.Example:443"}}, csrfPass, "origin-match"},
		{"own origin over plain http", "http://app.example/api/items", http.Header{"Origin": {"http://app.example"}}, csrfPass, "origin-match"},
		{"own origin with a port", "https://app.example:8443/x", http.Header{"Origin": {"https://app.example:8443"}}, csrfPass, "origin-match"},
		{"other port", "https://app.example:8443/x", http.Header{"Origin": {csrfTestOrigin}}, csrfReject, "origin-mismatch"},
		{"http origin posting to https", csrfTestTarget, http.Header{"Origin": {"http://app.example"}}, csrfReject, "origin-mismatch"},
		{"https origin, TLS ended before Traefik", "http://app.example/api/items", http.Header{"Origin": {csrfTestOrigin}, "X-Forwarded-Proto": {"https"}}, csrfPass, "origin-match"},
		{"https origin, first forwarded hop", "http://app.example/api/items", http.Header{"Origin": {csrfTestOrigin}, "X-Forwarded-Proto": {"https, http"}}, csrfPass, "origin-match"},
		{"https origin, plain http and no forwarded proto", "http://app.example/api/items", http.Header{"Origin": {csrfTestOrigin}}, csrfReject, "origin-mismatch"},
		{"trusted origin", csrfTestTarget, http.Header{"Origin": {"https://partner.example"}}, csrfPass, "origin-match"},
		{"trusted host, other port", csrfTestTarget, http.Header{"Origin": {"https://partner.example:8443"}}, csrfReject, "origin-mismatch"},
		{"other origin", csrfTestTarget, http.Header{"Origin": {"https://evil.example"}}, csrfReject, "origin-mismatch"},
		{"own origin as a prefix", csrfTestTarget, http.Header{"Origin": {"https://app.example.evil.example"}}, csrfReject, "origin-mismatch"},
		{"null", csrfTestTarget, http.Header{"Origin": {"null"}}, csrfReject, "origin-null"},
		{"no scheme", csrfTestTarget, http.Header{"Origin": {"app.example"}}, csrfReject, "origin-malformed"},
		{"with a path", csrfTestTarget, http.Header{"Origin": {"https://app.example/x"}}, csrfReject, "origin-malformed"},
		{"with userinfo", csrfTestTarget, http.Header{"Origin": {"https://evil.example@app.example"}}, csrfReject, "origin-malformed"},
		{"other scheme", csrfTestTarget, http.Header{"Origin": {"javascript://app.example"}}, csrfReject, "origin-malformed"},
		{"empty", csrfTestTarget, http.Header{"Origin": {""}}, csrfReject, "origin-malformed"},
		{"huge", csrfTestTarget, http.Header{"Origin": {"https://app.example" + strings.Repeat("a", 5000)}}, csrfReject, "origin-malformed"},
		{"two values", csrfTestTarget, http.Header{"Origin": {csrfTestOrigin, csrfTestOrigin}}, csrfReject, "origin-malformed"},
		{"Origin wins over Referer", csrfTestTarget, http.Header{"Origin": {"https://evil.example"}, "Referer": {csrfTestOrigin + "/page"}}, csrfReject, "origin-mismatch"},
		{"null Origin with own Referer", csrfTestTarget, http.Header{"Origin": {"null"}, "Referer": {csrfTestOrigin + "/page"}}, csrfReject, "origin-null"},
		{"Referer: own page", csrfTestTarget, http.Header{"Referer": {"https://app.example/page?x=1#f"}}, csrfPass, "referer-match"},
		{"Referer: own origin only", csrfTestTarget, http.Header{"Referer": {"https://APP.example:443"}}, csrfPass, "referer-match"},
		{"Referer: @ in the path", csrfTestTarget, http.Header{"Referer": {"https://app.example/users/@bob"}}, csrfPass, "referer-match"},
		{"Referer: trusted", csrfTestTarget, http.Header{"Referer": {"https://partner.example/"}}, csrfPass, "referer-match"},
		{"Referer: other", csrfTestTarget, http.Header{"Referer": {"https://evil.example/https://app.example/"}}, csrfReject, "referer-mismatch"},
		{"Referer: own origin as a prefix", csrfTestTarget, http.Header{"Referer": {"https://app.example.evil.example/"}}, csrfReject, "referer-mismatch"},
		{"Referer: userinfo", csrfTestTarget, http.Header{"Referer": {"https://app.example@evil.example/"}}, csrfReject, "referer-malformed"},
		{"Referer: relative", csrfTestTarget, http.Header{"Referer": {"/page"}}, csrfReject, "referer-malformed"},
		{"Referer: no host", csrfTestTarget, http.Header{"Referer": {"https:///page"}}, csrfReject, "referer-malformed"},
		{"neither", csrfTestTarget, nil, csrfNeedToken, "no-origin"},
	}
	g := newTestCSRFGuard(t, nil)
	for _, tc := range tests {
		req := csrfTestRequest(http.MethodPost, tc.target, tc.h)
		v, reason := csrfEarly(g, req, canonicalPath(req.URL.Path))
		checkCSRFVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

func TestCSRFMethodOverrideCannotSmuggleUnsafeActions(t *testing.T) {
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	withOverride := func(name, value string) http.Header {
		return http.Header{"Sec-Fetch-Site": {"cross-site"}, http.CanonicalHeaderKey(name): {value}}
	}
	tests := []struct {
		desc   string
		method string
		query  string
		h      http.Header
		want   csrfVerdict
		reason string
	}{
		{"plain GET", http.MethodGet, "", crossSite, csrfPass, "safe-method"},
		{"GET with an unrelated query", http.MethodGet, "q=_methodology&method=DELETE&p=%41", crossSite, csrfPass, "safe-method"},
		{"_method=DELETE", http.MethodGet, "_method=DELETE", crossSite, csrfReject, "method-override"},
		{"_METHOD=delete", http.MethodGet, "a=1&_METHOD=delete", crossSite, csrfReject, "method-override"},
		{"encoded key", http.MethodGet, "%5Fmethod=PUT", crossSite, csrfReject, "method-override"},
		{"encoded value", http.MethodGet, "_method=%44ELETE", crossSite, csrfReject, "method-override"},
		{"PHP-style key", http.MethodGet, ".method=DELETE", crossSite, csrfReject, "method-override"},
		{"semicolon separator", http.MethodGet, "a=1;_method=PATCH", crossSite, csrfReject, "method-override"},
		{"empty value", http.MethodGet, "_method=", crossSite, csrfReject, "method-override"},
		{"second value unsafe", http.MethodGet, "_method=GET&_method=DELETE", crossSite, csrfReject, "method-override"},
		{"attacker-sized query", http.MethodGet, strings.Repeat("a=%41&", 300) + "_method=DELETE", crossSite, csrfReject, "method-override"},
		{"_method=GET", http.MethodGet, "_method=GET", crossSite, csrfPass, "safe-method"},
		{"_method=head", http.MethodGet, "_method=head", crossSite, csrfPass, "safe-method"},
		{"HEAD with _method=POST", http.MethodHead, "_method=POST", crossSite, csrfReject, "method-override"},
		{"X-HTTP-Method-Override", http.MethodGet, "", withOverride("X-HTTP-Method-Override", "DELETE"), csrfReject, "method-override"},
		{"X-HTTP-Method", http.MethodGet, "", withOverride("x-http-method", "patch"), csrfReject, "method-override"},
		{"X-Method-Override", http.MethodOptions, "", withOverride("X-Method-Override", "POST"), csrfReject, "method-override"},
		{"override to a safe method", http.MethodGet, "", withOverride("X-HTTP-Method-Override", "GET"), csrfPass, "safe-method"},
		{"override, same-origin", http.MethodGet, "_method=DELETE", http.Header{"Sec-Fetch-Site": {"same-origin"}}, csrfPass, "same-origin"},
		{"override, no origin headers", http.MethodGet, "_method=DELETE", nil, csrfNeedToken, "method-override"},
		{"POST overridden to GET stays unsafe", http.MethodPost, "_method=GET", withOverride("X-HTTP-Method-Override", "GET"), csrfReject, "cross-site"},
	}
	g := newTestCSRFGuard(t, nil)
	for _, tc := range tests {
		target := csrfTestTarget
		if tc.query != "" {
			target += "?" + tc.query
		}
		v, reason := csrfEarly(g, csrfTestRequest(tc.method, target, tc.h), "/api/items")
		checkCSRFVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

// TestCSRFMethodOverrideAliases: every spelling an app framework may fold
// into a method override counts as one. Header keys are used exactly as
// given (a Go server canonicalises X_HTTP_METHOD_OVERRIDE to
// X_http_method_override; PHP, WSGI and nginx with underscores_in_headers
// read it, or x.http.method.override, as X-HTTP-Method-Override). Query
// keys as PHP and Rails read them: _method[] and _method[0] are an array
// named _method, an unmatched leading "[" is "_", leading spaces go.
func TestCSRFMethodOverrideAliases(t *testing.T) {
	tests := []struct {
		desc   string
		method string
		query  string
		raw    map[string]string // header keys set exactly as spelled
		want   csrfVerdict
		reason string
	}{
		{"X_HTTP_METHOD_OVERRIDE", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": "DELETE"}, csrfReject, "method-override"},
		{"X_http_method_override (Go's canonical form)", http.MethodGet, "", map[string]string{"X_http_method_override": "DELETE"}, csrfReject, "method-override"},
		{"X_Method_Override", http.MethodGet, "", map[string]string{"X_Method_Override": "PUT"}, csrfReject, "method-override"},
		{"x.http.method.override", http.MethodGet, "", map[string]string{"x.http.method.override": "DELETE"}, csrfReject, "method-override"},
		{"X.Http.Method", http.MethodHead, "", map[string]string{"X.Http.Method": "PATCH"}, csrfReject, "method-override"},
		{"X-HTTP_Method-override", http.MethodGet, "", map[string]string{"X-HTTP_Method-override": "POST"}, csrfReject, "method-override"},
		{"x-http-method-override lower case key", http.MethodOptions, "", map[string]string{"x-http-method-override": "DELETE"}, csrfReject, "method-override"},
		{"X_HTTP_METHOD_OVERRIDE empty value", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": ""}, csrfReject, "method-override"},
		{"X_HTTP_METHOD_OVERRIDE to GET", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": "GET"}, csrfPass, "safe-method"},
		{"control: X-HTTP-Method-Overrides", http.MethodGet, "", map[string]string{"X-HTTP-Method-Overrides": "DELETE"}, csrfPass, "safe-method"},
		{"control: X_Auth_Method", http.MethodGet, "", map[string]string{"X_Auth_Method": "DELETE"}, csrfPass, "safe-method"},
		{"control: realistic headers", http.MethodGet, "", map[string]string{
			"Authorization": "Bearer x", "Cache-Control": "no-cache", "X-Forwarded-Proto": "https",
			"X-Forwarded-For": "1.2.3.4", "X-Requested-With": "XMLHttpRequest", "If-None-Match": "\"x\"",
		}, csrfPass, "safe-method"},
		{"_method[]", http.MethodGet, "_method[]=DELETE", nil, csrfReject, "method-override"},
		{"_method%5B%5D", http.MethodGet, "_method%5B%5D=DELETE", nil, csrfReject, "method-override"},
		{"%5Fmethod%5b%5d", http.MethodGet, "a=1&%5Fmethod%5b%5d=PUT", nil, csrfReject, "method-override"},
		{"_method[0]", http.MethodGet, "_method[0]=PATCH", nil, csrfReject, "method-override"},
		{"_METHOD[]", http.MethodGet, "_METHOD[]=delete", nil, csrfReject, "method-override"},
		{"_METHOD", http.MethodGet, "_METHOD=DELETE", nil, csrfReject, "method-override"},
		{"unmatched [ read as _", http.MethodGet, "[method=DELETE", nil, csrfReject, "method-override"},
		{".method[]", http.MethodGet, ".method[]=DELETE", nil, csrfReject, "method-override"},
		{"leading spaces", http.MethodGet, "++_method=DELETE", nil, csrfReject, "method-override"},
		{"leading encoded spaces", http.MethodGet, "%20%20_method%5B%5D=DELETE", nil, csrfReject, "method-override"},
		{"double-encoded key", http.MethodGet, "%255Fmethod=DELETE", nil, csrfReject, "method-override"},
		{"_method[]=GET", http.MethodGet, "_method[]=GET", nil, csrfPass, "safe-method"},
		{"control: _methods", http.MethodGet, "_methods=DELETE", nil, csrfPass, "safe-method"},
		{"control: _method_x", http.MethodGet, "_method_x=DELETE", nil, csrfPass, "safe-method"},
		{"control: x_method[]", http.MethodGet, "x_method[]=DELETE", nil, csrfPass, "safe-method"},
		{"control: [method]", http.MethodGet, "[method]=DELETE", nil, csrfPass, "safe-method"},
	}
	g := newTestCSRFGuard(t, nil)
	for _, tc := range tests {
		target := csrfTestTarget
		if tc.query != "" {
			target += "?" + tc.query
		}
		h := http.Header{"Sec-Fetch-Site": {"cross-site"}}
		for k, v := range tc.raw {
			h[k] = []string{v}
		}
		v, reason := csrfEarly(g, csrfTestRequest(tc.method, target, h), "/api/items")
		checkCSRFVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

func TestCSRFUnknownMethodsAreUnsafe(t *testing.T) {
	tests := []struct {
		method string
		want   csrfVerdict
	}{
		{http.MethodGet, csrfPass}, {http.MethodHead, csrfPass}, {http.MethodOptions, csrfPass}, {http.MethodTrace, csrfPass},
		{http.MethodPost, csrfReject}, {http.MethodPut, csrfReject}, {http.MethodPatch, csrfReject}, {http.MethodDelete, csrfReject},
		{"PROPFIND", csrfReject}, {"PURGE", csrfReject}, {"FOO", csrfReject}, {"get", csrfReject}, {"Head", csrfReject},
	}
	g := newTestCSRFGuard(t, nil)
	for _, tc := range tests {
		req := csrfTestRequest(tc.method, csrfTestTarget, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		v, reason := csrfEarly(g, req, "/api/items")
		checkCSRFVerdict(t, "cross-site "+tc.method, v, reason, tc.want, "")
	}
}

func TestCSRFExemptPathsAreExact(t *testing.T) {
	tests := []struct {
		path string
		want csrfVerdict
	}{
		{"/webhooks/stripe", csrfPass},
		{"/webhooks//stripe/", csrfPass}, // canonicalised by the caller
		{"/hooks", csrfPass},             // configured as "/hooks/"
		{"/webhooks/stripe/x", csrfReject},
		{"/webhooks/stripe2", csrfReject},
		{"/webhooks", csrfReject},
		{"/Webhooks/stripe", csrfReject},
		{"/", csrfReject},
	}
	g := newTestCSRFGuard(t, func(c *CSRFConfig) { c.ExemptPaths = []string{"/webhooks/stripe", " /hooks/ ", ""} })
	for _, tc := range tests {
		req := csrfTestRequest(http.MethodPost, "https://app.example"+tc.path, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		v, reason := csrfEarly(g, req, canonicalPath(req.URL.Path))
		checkCSRFVerdict(t, "POST "+tc.path, v, reason, tc.want, "")
	}
}

func TestCSRFTokenValid(t *testing.T) {
	valid := testCSRFToken(csrfTestSecret, csrfTestRandom, "")
	bound := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:42")
	other := testCSRFToken(csrfTestSecret, strings.Repeat("ab", 32), "")
	badMAC := valid[:csrfHexLen-1] + "0" + valid[csrfHexLen:]
	if badMAC == valid {
		badMAC = valid[:csrfHexLen-1] + "1" + valid[csrfHexLen:]
	}
	tests := []struct {
		desc    string
		cookie  string // the Cookie header; "" for none
		header  []string
		binding string
		want    bool
	}{
		{"valid, anonymous", "__csrf=" + valid, []string{valid}, "", true},
		{"valid, bound", "theme=dark; __csrf=" + bound, []string{bound}, "user:42", true},
		{"duplicate cookie, same value", "__csrf=" + valid + "; __csrf=" + valid, []string{valid}, "", true},
		{"wrong HMAC", "__csrf=" + badMAC, []string{badMAC}, "", false},
		{"another secret", "__csrf=" + testCSRFToken("another-secret-of-enough-length-00000", csrfTestRandom, ""), []string{testCSRFToken("another-secret-of-enough-length-00000", csrfTestRandom, "")}, "", false},
		{"cookie and header differ", "__csrf=" + valid, []string{other}, "", false},
		{"missing cookie", "", []string{valid}, "", false},
		{"cookie under another name", "csrf=" + valid, []string{valid}, "", false},
		{"name ending with ours", "x__csrf=" + valid, []string{valid}, "", false},
		{"inside another cookie's value", "note=a __csrf=" + valid, []string{valid}, "", false},
		{"after a longer name", "x__csrf=" + other + ";__csrf=" + valid, []string{valid}, "", true},
		{"missing header", "__csrf=" + valid, nil, "", false},
		{"two header values", "__csrf=" + valid, []string{valid, valid}, "", false},
		{"token of another session", "__csrf=" + bound, []string{bound}, "user:43", false},
		{"bound token, anonymous visitor", "__csrf=" + bound, []string{bound}, "", false},
		{"unbound token, a session", "__csrf=" + valid, []string{valid}, "user:42", false},
		{"guest token after login", "__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, "guest:7"), []string{testCSRFToken(csrfTestSecret, csrfTestRandom, "guest:7")}, "user:42", false},
		{"duplicate cookie, different values", "__csrf=" + other + "; __csrf=" + valid, []string{valid}, "", false},
		{"upper-case hex", "__csrf=" + strings.ToUpper(valid), []string{strings.ToUpper(valid)}, "", false},
		{"non-hex", "__csrf=" + strings.Repeat("g", 64) + "." + csrfTestRandom, []string{strings.Repeat("g", 64) + "." + csrfTestRandom}, "", false},
		{"no dot", "__csrf=" + strings.Replace(valid, ".", "0", 1), []string{strings.Replace(valid, ".", "0", 1)}, "", false},
		{"too short", "__csrf=" + valid[:128], []string{valid[:128]}, "", false},
		{"too long", "__csrf=" + valid + "0", []string{valid + "0"}, "", false},
		{"huge", "__csrf=" + strings.Repeat("a", 8192), []string{strings.Repeat("a", 8192)}, "", false},
		{"empty", "__csrf=", []string{""}, "", false},
	}
	g := newTestCSRFGuard(t, nil)
	for _, tc := range tests {
		req := csrfTestRequest(http.MethodPost, csrfTestTarget, nil)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		if tc.header != nil {
			req.Header["X-Csrf-Token"] = tc.header
		}
		if got := csrfTokenValid(g, req, tc.binding); got != tc.want {
			t.Errorf("%s: csrfTokenValid = %v, want %v", tc.desc, got, tc.want)
		}
	}
	if csrfTokenValid(nil, csrfTestRequest(http.MethodPost, csrfTestTarget, nil), "") {
		t.Error("a nil guard validated a token")
	}
}

// TestCSRFTokenOnTheWire reads the header as next-api-layer's clients
// spell it, from raw request bytes.
func TestCSRFTokenOnTheWire(t *testing.T) {
	tok := testCSRFToken(csrfTestSecret, csrfTestRandom, "")
	raw := "POST /api/items HTTP/1.1\r\nHost: app.example\r\nx-csrf-token: " + tok + "\r\ncookie: __csrf=" + tok + "\r\n\r\n"
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !csrfTokenValid(newTestCSRFGuard(t, nil), req, "") {
		t.Error("a token in x-csrf-token and __csrf was refused")
	}
}

func TestCSRFTokenWireCompatible(t *testing.T) {
	g := newTestCSRFGuard(t, nil)
	tests := []struct {
		binding, want string
	}{
		// Computed with Python's hmac and with WebCrypto, as
		// next-api-layer's computeHmac does.
		{"", "a00ce5b5d03e3733309635313d12fa0203903179fc25fd2419f33c763b2b7b83"},
		{"user:42", "08ceea22e1ec1a05458b1a849242c5e4d61b11dbc998b82cbc6b86a71a4ae976"},
	}
	for _, tc := range tests {
		if got := csrfMAC(g, csrfTestRandom, tc.binding); got != tc.want {
			t.Errorf("binding %q: csrfMAC = %s, want %s", tc.binding, got, tc.want)
		}
		if got, want := csrfMAC(g, csrfTestRandom, tc.binding), testCSRFToken(csrfTestSecret, csrfTestRandom, tc.binding)[:csrfHexLen]; got != want {
			t.Errorf("binding %q: csrfMAC = %s, crypto/hmac says %s", tc.binding, got, want)
		}
	}
	tok, ok := csrfMint(g, "guest:7")
	if !ok || len(tok) != csrfTokenLen || tok[csrfHexLen] != '.' {
		t.Fatalf("csrfMint = %q, %v; want <64 hex>.<64 hex>", tok, ok)
	}
	if want := testCSRFToken(csrfTestSecret, tok[csrfHexLen+1:], "guest:7"); tok != want {
		t.Errorf("minted %s, crypto/hmac says %s", tok, want)
	}
}

// csrfSetCookie parses one Set-Cookie value as a browser would.
func csrfSetCookie(t *testing.T, v string) *http.Cookie {
	t.Helper()
	cookies := (&http.Response{Header: http.Header{"Set-Cookie": {v}}}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie %q parses to %d cookies", v, len(cookies))
	}
	return cookies[0]
}

func TestCSRFIssue(t *testing.T) {
	g := newTestCSRFGuard(t, nil)
	valid := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:42")
	tests := []struct {
		desc, cookie, binding string
		wantNew               bool
	}{
		{"no cookie", "", "user:42", true},
		{"valid token", "__csrf=" + valid, "user:42", false},
		{"valid token among other cookies", "a=1; __csrf=" + valid + "; b=2", "user:42", false},
		{"token of another session", "__csrf=" + valid, "user:43", true},
		{"token of the guest session before login", "__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, "guest:7"), "user:42", true},
		{"unbound token, anonymous", "__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""), "", false},
		{"forged token", "__csrf=" + strings.Repeat("0", 64) + "." + csrfTestRandom, "user:42", true},
		{"garbage", "__csrf=x", "user:42", true},
	}
	for _, tc := range tests {
		req := csrfTestRequest(http.MethodGet, csrfTestTarget, nil)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		got := csrfIssue(g, req, tc.binding)
		if (got != "") != tc.wantNew {
			t.Errorf("%s: csrfIssue = %q, want a new cookie: %v", tc.desc, got, tc.wantNew)
			continue
		}
		if got == "" {
			continue
		}
		c := csrfSetCookie(t, got)
		if c.Name != "__csrf" || !csrfTokenSigned(g, c.Value, tc.binding) {
			t.Errorf("%s: issued %s=%s, not a valid token for %q", tc.desc, c.Name, c.Value, tc.binding)
		}
	}
	if got := csrfIssue(nil, csrfTestRequest(http.MethodGet, csrfTestTarget, nil), ""); got != "" {
		t.Errorf("a nil guard issued %q", got)
	}
}

func TestCSRFIssuedCookieAttributes(t *testing.T) {
	for _, secure := range []bool{true, false} {
		c := CreateConfig().CSRF
		c.Enabled, c.Secret = true, csrfTestSecret
		g, err := newCSRFGuard(c, secure)
		if err != nil {
			t.Fatal(err)
		}
		v := csrfIssue(g, csrfTestRequest(http.MethodGet, csrfTestTarget, nil), "guest:7")
		ck := csrfSetCookie(t, v)
		if ck.Path != "/" || ck.Domain != "" || ck.HttpOnly || ck.Secure != secure ||
			ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 0 || !ck.Expires.IsZero() {
			t.Errorf("secure=%v: Set-Cookie %q; want Path=/, no Domain, not HttpOnly, Secure=%v, SameSite=Lax, a session cookie", secure, v, secure)
		}
		again := csrfIssue(g, csrfTestRequest(http.MethodGet, csrfTestTarget, nil), "guest:7")
		if again == v {
			t.Errorf("secure=%v: two issued tokens are equal", secure)
		}
		// The issued token, echoed by a script, passes the double submit.
		req := csrfTestRequest(http.MethodPost, csrfTestTarget, http.Header{"X-Csrf-Token": {ck.Value}})
		req.AddCookie(ck)
		if !csrfTokenValid(g, req, "guest:7") {
			t.Errorf("secure=%v: the issued token does not validate", secure)
		}
	}
}

func TestCSRFConfigErrors(t *testing.T) {
	tests := []struct {
		desc   string
		mutate func(*CSRFConfig)
		secure bool
		option string
	}{
		{"secret missing", func(c *CSRFConfig) { c.Secret = "" }, true, "csrf.secret"},
		{"secret blank", func(c *CSRFConfig) { c.Secret = strings.Repeat(" ", 40) }, true, "csrf.secret"},
		{"secret short", func(c *CSRFConfig) { c.Secret = "short-secret-value-of-31-chars!" }, true, "csrf.secret"},
		{"origin without scheme", func(c *CSRFConfig) { c.TrustedOrigins = []string{"example.com"} }, true, "csrf.trustedOrigins"},
		{"origin with a path", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://example.com/app"} }, true, "csrf.trustedOrigins"},
		{"origin with a slash", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://example.com/"} }, true, "csrf.trustedOrigins"},
		{"origin with a query", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://example.com?x=1"} }, true, "csrf.trustedOrigins"},
		{"origin with a fragment", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://example.com#x"} }, true, "csrf.trustedOrigins"},
		{"origin with userinfo", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://u@example.com"} }, true, "csrf.trustedOrigins"},
		{"origin with a bad port", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://example.com:99999"} }, true, "csrf.trustedOrigins"},
		{"origin with a wildcard", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://*.example.com"} }, true, "csrf.trustedOrigins"},
		{"origin null", func(c *CSRFConfig) { c.TrustedOrigins = []string{"null"} }, true, "csrf.trustedOrigins"},
		{"origin of another scheme", func(c *CSRFConfig) { c.TrustedOrigins = []string{"ftp://example.com"} }, true, "csrf.trustedOrigins"},
		{"origin without host", func(c *CSRFConfig) { c.TrustedOrigins = []string{"https://"} }, true, "csrf.trustedOrigins"},
		{"cookie name empty", func(c *CSRFConfig) { c.CookieName = "" }, true, "csrf.cookieName"},
		{"cookie name invalid", func(c *CSRFConfig) { c.CookieName = "csrf token" }, true, "csrf.cookieName"},
		{"__Host- cookie without Secure", func(c *CSRFConfig) { c.CookieName = "__Host-csrf" }, false, "csrf.cookieName"},
		{"cookie name too long", func(c *CSRFConfig) { c.CookieName = strings.Repeat("c", 4000) }, true, "csrf.cookieName"},
		{"header name empty", func(c *CSRFConfig) { c.HeaderName = "" }, true, "csrf.headerName"},
		{"header name invalid", func(c *CSRFConfig) { c.HeaderName = "X CSRF" }, true, "csrf.headerName"},
		{"header name safelisted", func(c *CSRFConfig) { c.HeaderName = "content-language" }, true, "csrf.headerName"},
		{"exempt path relative", func(c *CSRFConfig) { c.ExemptPaths = []string{"webhooks"} }, true, "csrf.exemptPaths"},
		{"exempt path pattern", func(c *CSRFConfig) { c.ExemptPaths = []string{"/webhooks/*"} }, true, "csrf.exemptPaths"},
		{"exempt path with a query", func(c *CSRFConfig) { c.ExemptPaths = []string{"/webhooks?x=1"} }, true, "csrf.exemptPaths"},
		{"exempt path encoded", func(c *CSRFConfig) { c.ExemptPaths = []string{"/a%2Fb"} }, true, "csrf.exemptPaths"},
	}
	for _, tc := range tests {
		c := CreateConfig().CSRF
		c.Enabled, c.Secret = true, csrfTestSecret
		tc.mutate(&c)
		g, err := newCSRFGuard(c, tc.secure)
		if err == nil || g != nil {
			t.Errorf("%s: newCSRFGuard = %v, %v; want an error", tc.desc, g, err)
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

func TestCSRFConfigAccepted(t *testing.T) {
	g, err := newCSRFGuard(CSRFConfig{}, true)
	if g != nil || err != nil {
		t.Errorf("disabled: newCSRFGuard = %v, %v; want nil, nil", g, err)
	}
	if v, _ := csrfEarly(nil, csrfTestRequest(http.MethodPost, csrfTestTarget, nil), "/"); v != csrfPass {
		t.Errorf("disabled: csrfEarly = %s, want pass", csrfVerdictNames[v])
	}
	g = newTestCSRFGuard(t, func(c *CSRFConfig) {
		c.TrustedOrigins = []string{" https://Partner.example:443 ", "", "http://[::1]:8080"}
		c.CookieName, c.HeaderName = "__Host-csrf", "x-xsrf-token"
	})
	for _, o := range []string{"https://partner.example", "http://[::1]:8080"} {
		if !g.trusted[o] {
			t.Errorf("trusted origins %v lack %s", g.trusted, o)
		}
	}
	if g.headerKey != "X-Xsrf-Token" || g.cookieName != "__Host-csrf" {
		t.Errorf("header %q, cookie %q", g.headerKey, g.cookieName)
	}
}

// TestCSRFGuardIsSharedSafely runs the checks from several goroutines on
// one guard, as Traefik's connections do (meaningful under -race).
func TestCSRFGuardIsSharedSafely(t *testing.T) {
	g := newTestCSRFGuard(t, nil)
	tok := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:1")
	var wg sync.WaitGroup
	failures := make([]int, 8)
	for i := 0; i < len(failures); i++ {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				req := csrfTestRequest(http.MethodPost, csrfTestTarget+"?_method=x", http.Header{"X-Csrf-Token": {tok}, "Cookie": {"__csrf=" + tok}})
				if v, _ := csrfEarly(g, req, "/api/items"); v != csrfNeedToken || !csrfTokenValid(g, req, "user:1") || csrfIssue(g, req, "user:2") == "" {
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

// TestCSRFOriginHelpers pins the normalisation both sides of a comparison
// go through.
func TestCSRFOriginHelpers(t *testing.T) {
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
		got, ok := csrfHeaderOrigin(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("csrfHeaderOrigin(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	u, _ := url.Parse("https://app.example:443/x")
	req := &http.Request{URL: u, Host: u.Host, Header: http.Header{"X-Forwarded-Proto": {"wss"}}}
	if got := csrfRequestOrigin(req); got != "https://app.example" {
		t.Errorf("csrfRequestOrigin = %q, want https://app.example", got)
	}
}

func TestCSRFVerifiedTokensStayBoundAndBounded(t *testing.T) {
	g := newTestCSRFGuard(t, nil)
	tok := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:1")
	if !csrfTokenSigned(g, tok, "user:1") {
		t.Fatal("a valid token was refused")
	}
	if csrfTokenSigned(g, tok, "user:2") || csrfTokenSigned(g, tok, "") {
		t.Error("a remembered token passed for another session")
	}
	forged := strings.Repeat("0", csrfHexLen) + "." + csrfTestRandom
	if csrfTokenSigned(g, forged, "user:1") {
		t.Error("a forged token passed")
	}
	if _, ok := g.verified[forged]; ok {
		t.Error("a token that failed was remembered")
	}
	for i := len(g.verified); i < csrfMaxVerified; i++ {
		g.verified["filler"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = ""
	}
	other := testCSRFToken(csrfTestSecret, strings.Repeat("cd", 32), "user:1")
	if !csrfTokenSigned(g, other, "user:1") {
		t.Fatal("a valid token was refused with a full map")
	}
	if n := len(g.verified); n != 1 {
		t.Errorf("remembered tokens after overflow: %d, want 1 (emptied when full)", n)
	}
}

// Benchmarks of the per-request work, and of hostile sizes: run them
// under Yaegi too (scripts/yaegi-test.sh -run '^$' -bench CSRF).

func BenchmarkCSRFEarlySafeMethod(b *testing.B) {
	g, _ := newCSRFGuard(CSRFConfig{Enabled: true, Secret: csrfTestSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token"}, true)
	req := csrfTestRequest(http.MethodGet, csrfTestTarget+"?page=2", nil)
	for i := 0; i < b.N; i++ {
		csrfEarly(g, req, "/api/items")
	}
}

// BenchmarkCSRFEarlySafeMethodBrowserHeaders: a GET as a browser behind
// Traefik sends it. Same-origin (most requests) skips the look through
// the header keys for override aliases; cross-site (a visitor arriving by
// a link) pays for it.
func BenchmarkCSRFEarlySafeMethodBrowserHeaders(b *testing.B) {
	g, _ := newCSRFGuard(CSRFConfig{Enabled: true, Secret: csrfTestSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token"}, true)
	for _, site := range []string{"same-origin", "cross-site"} {
		h := http.Header{"Sec-Fetch-Site": {site}}
		for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "Cookie", "Priority",
			"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
			"Sec-Fetch-User", "Upgrade-Insecure-Requests", "User-Agent", "X-Forwarded-For", "X-Forwarded-Host",
			"X-Forwarded-Port", "X-Forwarded-Proto", "X-Forwarded-Server", "X-Real-Ip"} {
			h[k] = []string{"x"}
		}
		req := csrfTestRequest(http.MethodGet, csrfTestTarget+"?page=2", h)
		b.Run(site, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				csrfEarly(g, req, "/api/items")
			}
		})
	}
}

func BenchmarkCSRFEarlyHugeQuery(b *testing.B) {
	g, _ := newCSRFGuard(CSRFConfig{Enabled: true, Secret: csrfTestSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token"}, true)
	req := csrfTestRequest(http.MethodGet, csrfTestTarget+"?"+strings.Repeat("a=%41&", 10000), nil)
	for i := 0; i < b.N; i++ {
		csrfEarly(g, req, "/api/items")
	}
}

func BenchmarkCSRFIssueWithValidCookie(b *testing.B) {
	g, _ := newCSRFGuard(CSRFConfig{Enabled: true, Secret: csrfTestSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token"}, true)
	tok := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:1")
	req := csrfTestRequest(http.MethodGet, csrfTestTarget, http.Header{"Cookie": {"userToken=abc.def.ghi; theme=dark; __csrf=" + tok}})
	for i := 0; i < b.N; i++ {
		csrfIssue(g, req, "user:1")
	}
}

func BenchmarkCSRFTokenValidHugeCookie(b *testing.B) {
	g, _ := newCSRFGuard(CSRFConfig{Enabled: true, Secret: csrfTestSecret, CookieName: "__csrf", HeaderName: "X-CSRF-Token"}, true)
	tok := testCSRFToken(csrfTestSecret, csrfTestRandom, "user:1")
	req := csrfTestRequest(http.MethodPost, csrfTestTarget, http.Header{
		"Cookie":       {strings.Repeat("x=y; ", 2000) + "__csrf=" + strings.Repeat("a", 8000)},
		"X-Csrf-Token": {tok},
	})
	for i := 0; i < b.N; i++ {
		csrfTokenValid(g, req, "user:1")
	}
}

// Fuzz targets for the CSRF parsers of attacker-controlled input; the
// seeds also run as a plain test (TestCSRFFuzzSeeds) for the Yaegi CLI.

var csrfCookieSeeds = []string{
	"", "__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""),
	"a=1; __csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, "") + "; b=2",
	"x__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""),
	"note=a __csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""),
	"__csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, "") + ";__csrf",
	"__csrf=\"" + testCSRFToken(csrfTestSecret, csrfTestRandom, "") + "\"",
	";;__csrf=;", "__csrf", "=__csrf=x",
	"__csrf =" + testCSRFToken(csrfTestSecret, "0000000000000000000000000000000000000000000000000000000000000000", "") + "; __csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""),
	"__csrf\t=x; __csrf=" + testCSRFToken(csrfTestSecret, csrfTestRandom, ""),
}

func FuzzCSRFCookieRead(f *testing.F) {
	for _, s := range csrfCookieSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCSRFCookieRead)
}

// checkCSRFCookieRead: whenever the fast cookie reader finds something
// shaped like a token, net/http's parser reads the same single value.
func checkCSRFCookieRead(t *testing.T, header string) {
	g := &csrfGuard{cookieName: "__csrf", cookieEq: "__csrf="}
	req := &http.Request{Header: http.Header{"Cookie": {header}}}
	got := csrfCookie(g, req)
	if len(got) != csrfTokenLen || got[csrfHexLen] != '.' || strings.Trim(got[:csrfHexLen]+got[csrfHexLen+1:], csrfHexDigits) != "" {
		return
	}
	want := ""
	for _, c := range req.Cookies() {
		if c.Name == "__csrf" {
			want = mergeCookie(want, c.Value)
		}
	}
	if got != want {
		t.Fatalf("csrfCookie(%q) = %q, net/http reads %q", header, got, want)
	}
}

var csrfRequestSeeds = [][5]string{
	{"POST", "", "", "https://app.example", ""},
	{"POST", "", "cross-site", "https://partner.example", ""},
	{"GET", "_method=DELETE", "cross-site", "", ""},
	{"GET", "%5fmethod=put;a=%zz", "", "", "https://app.example/x"},
	{"PUT", "", "", "null", "https://app.example/"},
	{"DELETE", "", "", "", "https://a@app.example/"},
	{"GET", "+method=x&&&==", "none", "HTTPS://APP.EXAMPLE:443", ""},
}

func FuzzCSRFEarly(f *testing.F) {
	for _, s := range csrfRequestSeeds {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(checkCSRFEarly)
}

// checkCSRFEarly: never a panic, and an unsafe request passes only on
// same-origin Fetch Metadata or an Origin/Referer naming the app or a
// trusted origin.
func checkCSRFEarly(t *testing.T, method, query, site, origin, referer string) {
	g := &csrfGuard{trusted: map[string]bool{"https://partner.example": true}, exempt: map[string]bool{}}
	req := &http.Request{Method: method, Host: "app.example", URL: &url.URL{Path: "/x", RawQuery: query}, Header: http.Header{}}
	for k, v := range map[string]string{"Sec-Fetch-Site": site, "Origin": origin, "Referer": referer} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	v, reason := csrfEarly(g, req, "/x")
	if v != csrfPass || reason == "safe-method" {
		return
	}
	if site == "same-origin" {
		return
	}
	o, ok := csrfHeaderOrigin(origin)
	if origin == "" {
		o, ok = csrfRefererOrigin(referer)
	}
	if !ok || (o != "http://app.example" && !g.trusted[o]) {
		t.Fatalf("%s ?%s with Sec-Fetch-Site %q, Origin %q, Referer %q passed (%s)", method, query, site, origin, referer, reason)
	}
}

func TestCSRFFuzzSeeds(t *testing.T) {
	for _, s := range csrfCookieSeeds {
		checkCSRFCookieRead(t, s)
	}
	for _, s := range csrfRequestSeeds {
		checkCSRFEarly(t, s[0], s[1], s[2], s[3], s[4])
	}
}

package csrf

import (
	"net/http"
	"strings"
	"testing"
)

func TestMethodOverrideCannotSmuggleUnsafeActions(t *testing.T) {
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	withOverride := func(name, value string) http.Header {
		return http.Header{"Sec-Fetch-Site": {"cross-site"}, http.CanonicalHeaderKey(name): {value}}
	}
	tests := []struct {
		desc   string
		method string
		query  string
		h      http.Header
		want   Verdict
		reason string
	}{
		{"plain GET", http.MethodGet, "", crossSite, Pass, "safe-method"},
		{"GET with an unrelated query", http.MethodGet, "q=_methodology&method=DELETE&p=%41", crossSite, Pass, "safe-method"},
		{"_method=DELETE", http.MethodGet, "_method=DELETE", crossSite, Reject, "method-override"},
		{"_METHOD=delete", http.MethodGet, "a=1&_METHOD=delete", crossSite, Reject, "method-override"},
		{"encoded key", http.MethodGet, "%5Fmethod=PUT", crossSite, Reject, "method-override"},
		{"encoded value", http.MethodGet, "_method=%44ELETE", crossSite, Reject, "method-override"},
		{"PHP-style key", http.MethodGet, ".method=DELETE", crossSite, Reject, "method-override"},
		{"semicolon separator", http.MethodGet, "a=1;_method=PATCH", crossSite, Reject, "method-override"},
		{"empty value", http.MethodGet, "_method=", crossSite, Reject, "method-override"},
		{"second value unsafe", http.MethodGet, "_method=GET&_method=DELETE", crossSite, Reject, "method-override"},
		{"attacker-sized query", http.MethodGet, strings.Repeat("a=%41&", 300) + "_method=DELETE", crossSite, Reject, "method-override"},
		{"_method=GET", http.MethodGet, "_method=GET", crossSite, Pass, "safe-method"},
		{"_method=head", http.MethodGet, "_method=head", crossSite, Pass, "safe-method"},
		{"HEAD with _method=POST", http.MethodHead, "_method=POST", crossSite, Reject, "method-override"},
		{"X-HTTP-Method-Override", http.MethodGet, "", withOverride("X-HTTP-Method-Override", "DELETE"), Reject, "method-override"},
		{"X-HTTP-Method", http.MethodGet, "", withOverride("x-http-method", "patch"), Reject, "method-override"},
		{"X-Method-Override", http.MethodOptions, "", withOverride("X-Method-Override", "POST"), Reject, "method-override"},
		{"override to a safe method", http.MethodGet, "", withOverride("X-HTTP-Method-Override", "GET"), Pass, "safe-method"},
		{"override, same-origin", http.MethodGet, "_method=DELETE", http.Header{"Sec-Fetch-Site": {"same-origin"}}, Pass, "same-origin"},
		{"override, no origin headers", http.MethodGet, "_method=DELETE", nil, NeedToken, "method-override"},
		{"POST overridden to GET stays unsafe", http.MethodPost, "_method=GET", withOverride("X-HTTP-Method-Override", "GET"), Reject, "cross-site"},
	}
	g := newTestGuard(t, nil)
	for _, tc := range tests {
		target := testTarget
		if tc.query != "" {
			target += "?" + tc.query
		}
		v, reason := Early(g, testRequest(tc.method, target, tc.h), "/api/items")
		checkVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

// TestMethodOverrideAliases: every spelling an app framework may fold
// into a method override counts as one. Header keys are used exactly as
// given (a Go server canonicalises X_HTTP_METHOD_OVERRIDE to
// X_http_method_override; PHP, WSGI and nginx with underscores_in_headers
// read it, or x.http.method.override, as X-HTTP-Method-Override). Query
// keys as PHP and Rails read them: _method[] and _method[0] are an array
// named _method, an unmatched leading "[" is "_", leading spaces go.
func TestMethodOverrideAliases(t *testing.T) {
	tests := []struct {
		desc   string
		method string
		query  string
		raw    map[string]string // header keys set exactly as spelled
		want   Verdict
		reason string
	}{
		{"X_HTTP_METHOD_OVERRIDE", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": "DELETE"}, Reject, "method-override"},
		{"X_http_method_override (Go's canonical form)", http.MethodGet, "", map[string]string{"X_http_method_override": "DELETE"}, Reject, "method-override"},
		{"X_Method_Override", http.MethodGet, "", map[string]string{"X_Method_Override": "PUT"}, Reject, "method-override"},
		{"x.http.method.override", http.MethodGet, "", map[string]string{"x.http.method.override": "DELETE"}, Reject, "method-override"},
		{"X.Http.Method", http.MethodHead, "", map[string]string{"X.Http.Method": "PATCH"}, Reject, "method-override"},
		{"X-HTTP_Method-override", http.MethodGet, "", map[string]string{"X-HTTP_Method-override": "POST"}, Reject, "method-override"},
		{"x-http-method-override lower case key", http.MethodOptions, "", map[string]string{"x-http-method-override": "DELETE"}, Reject, "method-override"},
		{"X_HTTP_METHOD_OVERRIDE empty value", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": ""}, Reject, "method-override"},
		{"X_HTTP_METHOD_OVERRIDE to GET", http.MethodGet, "", map[string]string{"X_HTTP_METHOD_OVERRIDE": "GET"}, Pass, "safe-method"},
		{"control: X-HTTP-Method-Overrides", http.MethodGet, "", map[string]string{"X-HTTP-Method-Overrides": "DELETE"}, Pass, "safe-method"},
		{"control: X_Auth_Method", http.MethodGet, "", map[string]string{"X_Auth_Method": "DELETE"}, Pass, "safe-method"},
		{"control: realistic headers", http.MethodGet, "", map[string]string{
			"Authorization": "Bearer x", "Cache-Control": "no-cache", "X-Forwarded-Proto": "https",
			"X-Forwarded-For": "1.2.3.4", "X-Requested-With": "XMLHttpRequest", "If-None-Match": "\"x\"",
		}, Pass, "safe-method"},
		{"_method[]", http.MethodGet, "_method[]=DELETE", nil, Reject, "method-override"},
		{"_method%5B%5D", http.MethodGet, "_method%5B%5D=DELETE", nil, Reject, "method-override"},
		{"%5Fmethod%5b%5d", http.MethodGet, "a=1&%5Fmethod%5b%5d=PUT", nil, Reject, "method-override"},
		{"_method[0]", http.MethodGet, "_method[0]=PATCH", nil, Reject, "method-override"},
		{"_METHOD[]", http.MethodGet, "_METHOD[]=delete", nil, Reject, "method-override"},
		{"_METHOD", http.MethodGet, "_METHOD=DELETE", nil, Reject, "method-override"},
		{"unmatched [ read as _", http.MethodGet, "[method=DELETE", nil, Reject, "method-override"},
		{".method[]", http.MethodGet, ".method[]=DELETE", nil, Reject, "method-override"},
		{"leading spaces", http.MethodGet, "++_method=DELETE", nil, Reject, "method-override"},
		{"leading encoded spaces", http.MethodGet, "%20%20_method%5B%5D=DELETE", nil, Reject, "method-override"},
		{"double-encoded key", http.MethodGet, "%255Fmethod=DELETE", nil, Reject, "method-override"},
		{"_method%00 (PHP cuts a name at NUL)", http.MethodGet, "_method%00=DELETE", nil, Reject, "method-override"},
		{"_method%00junk", http.MethodGet, "_method%00junk=DELETE", nil, Reject, "method-override"},
		{"byte-order mark before _method", http.MethodGet, "%EF%BB%BF_method=DELETE", nil, Reject, "method-override"},
		{"invalid escape after the bracket", http.MethodGet, "%5Fmethod[%zz]=DELETE", nil, Reject, "method-override"},
		{"triple-encoded key", http.MethodGet, "%25255Fmethod=DELETE", nil, Reject, "method-override"},
		{"control: _method%00=GET", http.MethodGet, "_method%00=GET", nil, Pass, "safe-method"},
		{"_method[]=GET", http.MethodGet, "_method[]=GET", nil, Pass, "safe-method"},
		{"control: _methods", http.MethodGet, "_methods=DELETE", nil, Pass, "safe-method"},
		{"control: _method_x", http.MethodGet, "_method_x=DELETE", nil, Pass, "safe-method"},
		{"control: x_method[]", http.MethodGet, "x_method[]=DELETE", nil, Pass, "safe-method"},
		{"control: [method]", http.MethodGet, "[method]=DELETE", nil, Pass, "safe-method"},
	}
	g := newTestGuard(t, nil)
	for _, tc := range tests {
		target := testTarget
		if tc.query != "" {
			target += "?" + tc.query
		}
		h := http.Header{"Sec-Fetch-Site": {"cross-site"}}
		for k, v := range tc.raw {
			h[k] = []string{v}
		}
		v, reason := Early(g, testRequest(tc.method, target, h), "/api/items")
		checkVerdict(t, tc.desc, v, reason, tc.want, tc.reason)
	}
}

// TestOverrideFieldReadsKeysAsTheMostLenientFramework: the key spellings
// some framework reads as _method, and near misses none does.
func TestOverrideFieldReadsKeysAsTheMostLenientFramework(t *testing.T) {
	for _, key := range []string{
		"_method", "_METHOD", "%5Fmethod", "%255Fmethod", "%25255Fmethod", "_method%00", "_method%00junk",
		"%5Fmethod%2500", "_method[]", "_method[0]", ".method", "[method", "+method", "%20_method",
		"++_method", "\ufeff_method", "%EF%BB%BF_method", "_m%65thod", "_method\x00", "%zz_method%00"[3:],
		strings.Repeat("x", maxOverrideKeyBytes+1),
	} {
		if !OverrideField(key) {
			t.Errorf("OverrideField(%q) = false, want true", key)
		}
	}
	for _, key := range []string{
		"method", "_methods", "x_method", "payment_method", "_method_", "%zz_method", "_meth", "",
		"_method%zz", "methodx", "__method",
	} {
		if OverrideField(key) {
			t.Errorf("OverrideField(%q) = true, want false", key)
		}
	}
	if got := lenientUnescape("a%41%zz%4"); got != "aA%zz%4" {
		t.Errorf("lenientUnescape: %q", got)
	}
}

// TestAttackerSizedQueriesCountAsOverrides: a safe request's query is read
// up to maxQueryKeys pairs and maxQueryBytes bytes; beyond either it is
// judged as the unsafe request it might be.
func TestAttackerSizedQueriesCountAsOverrides(t *testing.T) {
	g := newTestGuard(t, nil)
	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	long := "q=" + strings.Repeat("%41", maxQueryBytes/3-1)
	tests := []struct {
		desc, query string
		want        Verdict
	}{
		{"long query within the limit", long, Pass},
		{"long query beyond the limit", long + "%41", Reject},
		{"pairs within the limit", strings.Repeat("a=%41&", maxQueryKeys-1), Pass},
		{"pairs beyond the limit", strings.Repeat("a=%41&", maxQueryKeys), Reject},
	}
	for _, tc := range tests {
		v, reason := Early(g, testRequest(http.MethodGet, testTarget+"?"+tc.query, crossSite), "/api/items")
		checkVerdict(t, tc.desc, v, reason, tc.want, "")
	}
}

// loopUnescape is lenientUnescape written as the loop it replaces: "+"
// as a space, then each "%" decoded when two hex digits follow, kept
// otherwise.
func loopUnescape(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(hexValue(s[i+1])<<4 | hexValue(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

var unescapeSeeds = []string{
	"", "a", "%", "%%", "%4", "%41", "%%41", "%4%41", "%zz%41", "a%41%zz%4", "%2B+%2b", "%+41", "+%", "%F", "%fF%Ff",
	"%2525", "%252%35", "_method%00", "%EF%BB%BF_method", "%5Fmethod[%zz]", "%%%", "%4g%g4", "%0a%0A%00",
}

// TestLenientUnescapeIsTheLenientReading: the compiled replacer reads
// every escape as the loop does.
func TestLenientUnescapeIsTheLenientReading(t *testing.T) {
	for _, s := range unescapeSeeds {
		checkLenientUnescape(t, s)
	}
	for c := 0; c < 256; c++ {
		for _, s := range []string{"%" + string(rune(c)) + "1", "%4" + string([]byte{byte(c)}), "%" + string([]byte{byte(c), byte(c)})} {
			checkLenientUnescape(t, s)
		}
	}
}

func checkLenientUnescape(t *testing.T, s string) {
	if got, want := lenientUnescape(s), loopUnescape(s); got != want {
		t.Fatalf("lenientUnescape(%q) = %q, want %q", s, got, want)
	}
}

func FuzzLenientUnescape(f *testing.F) {
	for _, s := range unescapeSeeds {
		f.Add(s)
	}
	f.Fuzz(checkLenientUnescape)
}

// BenchmarkEarlyHostileKeys: a cross-site GET whose query is as long as
// is read, each key a chain of escapes the key reader decodes three times
// over.
func BenchmarkEarlyHostileKeys(b *testing.B) {
	g, _ := Compile(testOptions())
	h := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	q := strings.Repeat(strings.Repeat("%2525", 60)+"=1&", maxQueryBytes/303) // 216 pairs
	req := testRequest(http.MethodGet, testTarget+"?"+q, h)
	for i := 0; i < b.N; i++ {
		Early(g, req, "/api/items")
	}
}

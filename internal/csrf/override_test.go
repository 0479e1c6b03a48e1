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

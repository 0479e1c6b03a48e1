package csrf

// Method overrides: a safe request that asks the app to treat it as
// another method is judged as the request it asks to be. The spellings
// are the ones app frameworks read: the headers X-HTTP-Method-Override,
// X-HTTP-Method and X-Method-Override in any case and with "_", "." or
// another character servers fold into "-" (OverrideHeaders), and a
// "_method" query parameter (overrideParam). The root's methodOverride
// strips the same headers from what reaches the app.

import (
	"net/http"
	"net/url"
	"strings"
)

// OverrideHeaders are the override headers frameworks honour, as
// Options.FoldHeaderName folds a header key: any case, "_" or "." for
// "-". PHP, WSGI and nginx with underscores_in_headers hand the app
// X_HTTP_METHOD_OVERRIDE or x.http.method.override as
// X-HTTP-Method-Override, and a Go server keeps such a key apart
// (X_http_method_override), so every key is folded before comparing.
// Read-only.
var OverrideHeaders = map[string]bool{"x-http-method-override": true, "x-http-method": true, "x-method-override": true}

// OverrideHeaderLengths are their lengths: a key of another length need
// not be folded. Read-only.
var OverrideHeaderLengths = map[int]bool{
	len("x-http-method-override"): true, len("x-http-method"): true, len("x-method-override"): true,
}

const (
	maxQueryKeys = 256 // pairs examined for _method before failing closed
)

// methodOverridden reports whether a safe request asks the app to treat
// it as another method.
func methodOverridden(g *Guard, req *http.Request) bool {
	if headerOverride(g, req.Header) {
		return true
	}
	return req.URL.RawQuery != "" && queryOverride(req.URL.RawQuery)
}

// headerOverride reports whether a header asks for an unsafe method under
// any spelling of an override header's key (see OverrideHeaders). Every
// key is looked at, the cheapest tests first (an interpreted loop costs
// ~0.2 µs a key): only a key that starts with "x", has an override's
// length and an "h" or "m" third (as "x-http-…" and "x-method-…" do;
// X-Forwarded-Proto, on every request, has the length) is folded.
func headerOverride(g *Guard, h http.Header) bool {
	for k := range h {
		if len(k) > 12 && (k[0] == 'X' || k[0] == 'x') && OverrideHeaderLengths[len(k)] &&
			(k[2]|0x20 == 'h' || k[2]|0x20 == 'm') && OverrideHeaders[g.fold(k)] && !safeOverrides(h[k]) {
			return true
		}
	}
	return false
}

// safeOverrides reports whether every value of an override header names
// a safe method.
func safeOverrides(values []string) bool {
	for _, v := range values {
		if !safeOverride(v) {
			return false
		}
	}
	return true
}

func safeOverride(v string) bool {
	return safeMethods[strings.ToUpper(strings.TrimSpace(v))]
}

// queryOverride looks for a _method parameter as frameworks read it:
// decoded, any case, split on "&" or ";" (see overrideParam for the
// spellings of the key).
func queryOverride(q string) bool {
	if strings.Count(q, "&")+strings.Count(q, ";") >= maxQueryKeys {
		return true // fail closed rather than split an attacker-sized query
	}
	pairs := strings.Split(strings.ReplaceAll(q, ";", "&"), "&")
	for _, pair := range pairs {
		key, value, _ := strings.Cut(pair, "=")
		if overrideParam(key) && !safeOverride(unescape(value)) {
			return true
		}
	}
	return false
}

// unescape decodes a query component, keeping an undecodable one as it
// is (as lenient parsers do).
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// overrideParam reports whether a raw query key names the _method
// parameter for some framework: decoded (twice if an escape survives the
// first decoding, as when a proxy decodes too), any case, "_method[]" or
// "_method[0]" (an array named _method in PHP and Rails), leading spaces
// dropped and ".", " " or an unmatched "[" for the leading "_" (PHP's
// reading of parameter names).
func overrideParam(key string) bool {
	key = unescape(key)
	if strings.IndexByte(key, '%') >= 0 {
		key = unescape(key)
	}
	if i := strings.IndexByte(key, '['); i > 0 {
		key = key[:i]
	}
	for len(key) > len("_method") && key[0] == ' ' {
		key = key[1:]
	}
	return len(key) == len("_method") && strings.IndexByte("_. [", key[0]) >= 0 && strings.EqualFold(key[1:], "method")
}

package csrf

// Method overrides: a safe request that asks the app to treat it as
// another method is judged as the request it asks to be. The spellings
// are the ones app frameworks read: the headers X-HTTP-Method-Override,
// X-HTTP-Method and X-Method-Override in any case and with "_", "." or
// another character servers fold into "-" (OverrideHeaders), and a
// "_method" query parameter as the most lenient framework reads its name
// (OverrideField). The root's methodOverride strips exactly these from
// what reaches the app.

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
	// A safe request's query is read for _method up to these sizes;
	// beyond them it counts as an override (no link a browser follows
	// needs that much, and each key is decoded up to three times).
	maxQueryKeys        = 256   // pairs
	maxQueryBytes       = 65536 // bytes
	maxOverrideKeyBytes = 4096  // longer keys count as _method (OverrideField)
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

// queryOverride looks for a _method parameter as frameworks read it,
// split on "&" or ";" (see OverrideField for the spellings of the key);
// the value is decoded as a query component.
func queryOverride(q string) bool {
	if len(q) > maxQueryBytes || strings.Count(q, "&")+strings.Count(q, ";") >= maxQueryKeys {
		return true // fail closed rather than read an attacker-sized query
	}
	pairs := strings.Split(strings.ReplaceAll(q, ";", "&"), "&")
	for _, pair := range pairs {
		key, value, _ := strings.Cut(pair, "=")
		if OverrideField(key) && !safeOverride(unescape(value)) {
			return true
		}
	}
	return false
}

// unescape decodes a query value, keeping an undecodable one as it is
// (it then holds a "%" and names no method).
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

// OverrideField reports whether a raw form or query key names the
// _method field for some framework, read as the most lenient of them read
// it: "+" as a space and every valid %XX decoded (an invalid escape kept,
// as PHP does), again while an escape remains (a proxy may decode once
// more; three rounds at most); cut at a NUL (PHP keeps names as C
// strings, so "_method%00" is _method to it); a leading byte-order mark
// dropped (body-parser decodes a body without it); leading spaces dropped
// (PHP); cut at the first "[" ("_method[]", "_method[0]": an array named
// _method in PHP, Rails and qs); any case; and ".", " " or "[" in place
// of the leading "_" (PHP turns them into "_"). A key over 4096 bytes
// counts as one: no form needs such a name.
func OverrideField(key string) bool {
	if len(key) > maxOverrideKeyBytes {
		return true
	}
	for i := 0; i < 3 && strings.ContainsAny(key, "%+"); i++ {
		decoded := lenientUnescape(key)
		if decoded == key {
			break
		}
		key = decoded
	}
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	key = strings.TrimPrefix(key, "\ufeff")
	if i := strings.IndexByte(key, '['); i > 0 {
		key = key[:i]
	}
	if len(key) > len("_method") {
		key = strings.TrimLeft(key, " ")
		if len(key) < len("_method") {
			key = " " + key // " method": the space read as PHP's "_"
		}
	}
	return len(key) == len("_method") && strings.IndexByte("_. [", key[0]) >= 0 && strings.EqualFold(key[1:], "method")
}

// lenientUnescape decodes "+" and every valid %XX escape of s, keeping an
// invalid one as it is.
func lenientUnescape(s string) string {
	return unescaper.Replace(s)
}

// unescaper is lenientUnescape's reading as a strings.Replacer: it
// replaces leftmost first, without overlaps, and copies what matches
// nothing ("%" before a non-hex digit), which is exactly that reading;
// and it runs compiled under Yaegi, where a loop over the escapes would
// cost microseconds each (attacker-sized keys).
var unescaper = newUnescaper()

func newUnescaper() *strings.Replacer {
	const digits = "0123456789abcdefABCDEF"
	pairs := make([]string, 0, 2+2*len(digits)*len(digits))
	pairs = append(pairs, "+", " ")
	for i := 0; i < len(digits); i++ {
		for j := 0; j < len(digits); j++ {
			b := hexValue(digits[i])<<4 | hexValue(digits[j])
			pairs = append(pairs, "%"+digits[i:i+1]+digits[j:j+1], string([]byte{b}))
		}
	}
	return strings.NewReplacer(pairs...)
}

// hexValue is the value of the hexadecimal digit c.
func hexValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

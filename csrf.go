package authlayer

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Cross-site request forgery protection for unsafe methods. The checks run
// in this order, all before any backend call except the token's:
//
//  1. Exempt paths (webhooks) pass: an exact, case-sensitive match of the
//     canonical path ("/hooks" does not exempt "/hooks/x" or "/Hooks").
//  2. Safe methods (GET, HEAD, OPTIONS, TRACE) pass, unless a method
//     override (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override
//     in any case and with "_" or "." for "-", or a "_method" query
//     parameter in any case, also as "_method[]" or PHP's ".method") asks
//     for anything else: an app honouring it would run an unsafe action
//     that skipped the check. Every other method, unknown ones included,
//     is unsafe. Request bodies are not read: the frameworks that take
//     _method from a form body do so only for POST, which is unsafe anyway.
//  3. Fetch Metadata: "Sec-Fetch-Site: same-origin" passes; "same-site"
//     passes only with csrf.trustSameSite; "cross-site" and "same-site"
//     also pass when Origin is one of csrf.trustedOrigins (browsers that
//     send Fetch Metadata always send it, so the list would be dead
//     otherwise); "none" and any other value are rejected.
//  4. Without Fetch Metadata (older browsers; browsers never send it to
//     plain-http origins): Origin, or else the Referer's origin, must be
//     the request's own origin or a trusted one. "null" is rejected.
//  5. With neither header the caller checks the double-submit token.
//
// The request's own origin is scheme://Host. The scheme is
// X-Forwarded-Proto, which Traefik's entry point sets from its own
// connection before any middleware runs (it drops a client's value unless
// the peer is a configured forwardedHeaders.trustedIPs proxy, whose value
// then describes the browser's connection); without it, req.TLS decides.
// A forged request comes from the victim's browser, and a cross-site page
// cannot add X-Forwarded-Proto to it, so trusting it gives a forger
// nothing. Host is req.Host, never X-Forwarded-Host.
//
// The token is next-api-layer's, "<hmac>.<random>": random is 32 random
// bytes in lower-case hex, hmac the lower-case hex HMAC-SHA256 under
// csrf.secret of
//
//	"<len(random)>!<random>"             for binding "" (anonymous visitor)
//	"<len(random)>!<random>!<binding>"   otherwise ("user:<id>", "guest:<id>")
//
// so an unbound token is byte-for-byte the original's, and a token minted
// for one session fails for another (a sibling subdomain that tosses its
// own valid token into the victim's cookie jar gains nothing). A token the
// original issued is therefore accepted for anonymous visitors only; a
// session gets a bound one on its next response (see csrfIssue). The
// cookie and the X-CSRF-Token header must carry the same value, compared
// in constant time, and the HMAC must verify; anything not exactly 129
// characters of that shape is refused before any hashing.
//
// The token cookie is issued when a request lacks a valid one and is not
// rotated on every response (parallel requests would race, the original's
// bug). Its attributes: Path=/, no Domain (host-only), not HttpOnly
// (scripts read it to send the header), Secure when cookies.secure,
// SameSite=Lax and no Max-Age (a session cookie: it is bound to a session
// and re-issued whenever missing, so persisting it buys nothing). Lax, not
// Strict: the cookie is no defence on its own (a forger cannot set the
// header), and under Strict a visitor arriving by a link from another site
// would not send it, so every such arrival would re-mint the token and
// break a script that cached the old one.

// csrfGuard is CSRFConfig checked and compiled once; nil when disabled.
type csrfGuard struct {
	secret        []byte
	cookieName    string
	cookieEq      string // cookieName + "=", to find it in the Cookie header
	cookieSuffix  string // the Set-Cookie attributes, built once
	headerKey     string // canonical header name: a direct map look-up
	trusted       map[string]bool
	exempt        map[string]bool // canonical paths
	trustSameSite bool
	reportOnly    bool // the caller logs failures without rejecting

	mu       sync.RWMutex      // protects verified
	verified map[string]string // token -> the binding its HMAC verified for
}

type csrfVerdict int

const (
	csrfPass csrfVerdict = iota
	csrfReject
	csrfNeedToken
)

const (
	csrfRandomBytes  = 32
	csrfHexLen       = 2 * csrfRandomBytes // each half of the token
	csrfTokenLen     = 2*csrfHexLen + 1
	csrfMinSecretLen = 32
	csrfMaxOriginLen = 4096 // browsers trim a longer Referer to its origin
	csrfMaxQueryKeys = 256  // pairs examined for _method before failing closed
	csrfMaxVerified  = 10000
	csrfHexDigits    = "0123456789abcdef"
)

// csrfOverrideHeaders are the override headers frameworks honour, as
// normalizeHeaderName folds a header key: any case, "_" or "." for "-".
// PHP, WSGI and nginx with underscores_in_headers hand the app
// X_HTTP_METHOD_OVERRIDE or x.http.method.override as
// X-HTTP-Method-Override, and a Go server keeps such a key apart
// (X_http_method_override), so every key is folded before comparing.
var csrfOverrideHeaders = map[string]bool{"x-http-method-override": true, "x-http-method": true, "x-method-override": true}

// csrfOverrideHeaderLengths are their lengths: a key of another length is
// not folded.
var csrfOverrideHeaderLengths = map[int]bool{
	len("x-http-method-override"): true, len("x-http-method"): true, len("x-method-override"): true,
}

// csrfSafelistedHeaders are request headers a cross-site page may set
// without a CORS preflight: the token header must not be one of them.
var csrfSafelistedHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "Content-Language": true,
	"Content-Type": true, "Range": true,
}

// newCSRFGuard checks and compiles the options; secure is cookies.secure.
// It returns (nil, nil) when CSRF protection is off.
func newCSRFGuard(c CSRFConfig, secure bool) (*csrfGuard, error) {
	if !c.Enabled {
		return nil, nil
	}
	g := &csrfGuard{
		trustSameSite: c.TrustSameSite, reportOnly: c.ReportOnly,
		verified: make(map[string]string),
	}
	steps := []func(CSRFConfig, bool, *csrfGuard) error{
		compileCSRFSecret, compileCSRFCookie, compileCSRFHeader,
		compileCSRFOrigins, compileCSRFExemptPaths,
	}
	for _, step := range steps {
		if err := step(c, secure, g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func compileCSRFSecret(c CSRFConfig, _ bool, g *csrfGuard) error {
	if strings.TrimSpace(c.Secret) == "" {
		return optionError("csrf.secret", "is required when csrf.enabled is true")
	}
	if len(c.Secret) < csrfMinSecretLen {
		return optionError("csrf.secret", "must be at least %d characters", csrfMinSecretLen)
	}
	g.secret = []byte(c.Secret)
	return nil
}

func compileCSRFCookie(c CSRFConfig, secure bool, g *csrfGuard) error {
	name := strings.TrimSpace(c.CookieName)
	if err := checkCookieName("csrf.cookieName", name, true); err != nil {
		return err
	}
	// Browsers drop __Host- and __Secure- cookies without Secure; the
	// cookie always has Path=/ and no Domain, as __Host- also requires.
	if (strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-")) && !secure {
		return optionError("csrf.cookieName", "%s needs cookies.secure=true", name)
	}
	g.cookieName, g.cookieEq = name, name+"="
	g.cookieSuffix = "; Path=/; SameSite=Lax"
	if secure {
		g.cookieSuffix += "; Secure"
	}
	if len(name)+1+csrfTokenLen+len(g.cookieSuffix) > maxCookieBytes {
		return optionError("csrf.cookieName", "is too long for a %d-byte cookie", maxCookieBytes)
	}
	return nil
}

func compileCSRFHeader(c CSRFConfig, _ bool, g *csrfGuard) error {
	name := strings.TrimSpace(c.HeaderName)
	if !validHeaderName(name) {
		return optionError("csrf.headerName", "%q is not a valid header name", name)
	}
	key := http.CanonicalHeaderKey(name)
	if csrfSafelistedHeaders[key] {
		return optionError("csrf.headerName", "%s can be sent cross-site without a CORS preflight; use a custom name such as X-CSRF-Token", name)
	}
	g.headerKey = key
	return nil
}

func compileCSRFOrigins(c CSRFConfig, _ bool, g *csrfGuard) error {
	g.trusted = make(map[string]bool, len(c.TrustedOrigins))
	for _, o := range c.TrustedOrigins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue // a trailing comma in a label value
		}
		norm, ok := csrfConfiguredOrigin(o)
		if !ok {
			return optionError("csrf.trustedOrigins", "%q is not an origin: want scheme://host[:port] (http or https, no path, not null)", o)
		}
		g.trusted[norm] = true
	}
	return nil
}

// csrfConfiguredOrigin checks a configured origin strictly and returns it
// in the form csrfHeaderOrigin gives a browser's Origin header.
func csrfConfiguredOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" ||
		strings.ContainsAny(u.Host, "*%") || strings.HasSuffix(u.Host, ":") {
		return "", false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", false
		}
	}
	return csrfHeaderOrigin(o)
}

func compileCSRFExemptPaths(c CSRFConfig, _ bool, g *csrfGuard) error {
	g.exempt = make(map[string]bool, len(c.ExemptPaths))
	for _, p := range c.ExemptPaths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		// Exact paths only: a pattern or an encoded character would
		// suggest a match the exact comparison never makes.
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "*?#%;\\ \t\r\n\x00") {
			return optionError("csrf.exemptPaths", "%q is not an exact path such as /webhooks/stripe", p)
		}
		g.exempt[canonicalPath(p)] = true
	}
	return nil
}

// csrfEarly decides what it can before any backend call, on the canonical
// path. reason is a short word for the audit log; when a method override
// made a safe method unsafe, a reject or token verdict says
// "method-override".
func csrfEarly(g *csrfGuard, req *http.Request, canonicalPath string) (csrfVerdict, string) {
	if g == nil {
		return csrfPass, "disabled"
	}
	if g.exempt[canonicalPath] {
		return csrfPass, "exempt"
	}
	if !csrfSafeMethods[req.Method] {
		return csrfOrigin(g, req)
	}
	// The common safe request is judged here: no query or one without an
	// escape or the word "method", and then either same-origin Fetch
	// Metadata (csrfOrigin passes it, override or not, so its header keys
	// need not be looked through) or no override header in any spelling.
	q := req.URL.RawQuery
	if q == "" || (strings.IndexByte(q, '%') < 0 && !strings.Contains(strings.ToLower(q), "method")) {
		if site := req.Header["Sec-Fetch-Site"]; (len(site) == 1 && site[0] == "same-origin") || !csrfHeaderOverride(req.Header) {
			return csrfPass, "safe-method"
		}
	}
	return csrfSafeWithOverride(g, req)
}

// csrfSafeWithOverride judges a safe request that may carry a method
// override: if it does, as the unsafe request it asks to be.
func csrfSafeWithOverride(g *csrfGuard, req *http.Request) (csrfVerdict, string) {
	if !csrfMethodOverridden(req) {
		return csrfPass, "safe-method"
	}
	verdict, reason := csrfOrigin(g, req)
	if verdict != csrfPass {
		reason = "method-override"
	}
	return verdict, reason
}

// csrfSafeMethods is exact: "get" or "PROPFIND" is unsafe. A map, not a
// switch: Yaegi looks it up several times faster.
var csrfSafeMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true, http.MethodTrace: true,
}

// csrfMethodOverridden reports whether a safe request asks the app to
// treat it as another method.
func csrfMethodOverridden(req *http.Request) bool {
	if csrfHeaderOverride(req.Header) {
		return true
	}
	return req.URL.RawQuery != "" && csrfQueryOverride(req.URL.RawQuery)
}

// csrfHeaderOverride reports whether a header asks for an unsafe method
// under any spelling of an override header's key (see
// csrfOverrideHeaders). Every key is looked at, the cheapest tests first
// (an interpreted loop costs ~0.2 µs a key): only a key that starts with
// "x" and has an override's length is folded.
func csrfHeaderOverride(h http.Header) bool {
	for k := range h {
		if len(k) > 12 && (k[0] == 'X' || k[0] == 'x') && csrfOverrideHeaderLengths[len(k)] &&
			csrfOverrideHeaders[normalizeHeaderName(k)] && !csrfSafeOverrides(h[k]) {
			return true
		}
	}
	return false
}

// csrfSafeOverrides reports whether every value of an override header
// names a safe method.
func csrfSafeOverrides(values []string) bool {
	for _, v := range values {
		if !csrfSafeOverride(v) {
			return false
		}
	}
	return true
}

func csrfSafeOverride(v string) bool {
	return csrfSafeMethods[strings.ToUpper(strings.TrimSpace(v))]
}

// csrfQueryOverride looks for a _method parameter as frameworks read it:
// decoded, any case, split on "&" or ";" (see csrfOverrideParam for the
// spellings of the key).
func csrfQueryOverride(q string) bool {
	if strings.Count(q, "&")+strings.Count(q, ";") >= csrfMaxQueryKeys {
		return true // fail closed rather than split an attacker-sized query
	}
	pairs := strings.Split(strings.ReplaceAll(q, ";", "&"), "&")
	for _, pair := range pairs {
		key, value, _ := strings.Cut(pair, "=")
		if csrfOverrideParam(key) && !csrfSafeOverride(csrfUnescape(value)) {
			return true
		}
	}
	return false
}

// csrfOverrideParam reports whether a raw query key names the _method
// parameter for some framework: decoded (twice if an escape survives the
// first decoding, as when a proxy decodes too), any case, "_method[]" or
// "_method[0]" (an array named _method in PHP and Rails), leading spaces
// dropped and ".", " " or an unmatched "[" for the leading "_" (PHP's
// reading of parameter names).
func csrfOverrideParam(key string) bool {
	key = csrfUnescape(key)
	if strings.IndexByte(key, '%') >= 0 {
		key = csrfUnescape(key)
	}
	if i := strings.IndexByte(key, '['); i > 0 {
		key = key[:i]
	}
	for len(key) > len("_method") && key[0] == ' ' {
		key = key[1:]
	}
	return len(key) == len("_method") && strings.IndexByte("_. [", key[0]) >= 0 && strings.EqualFold(key[1:], "method")
}

// csrfUnescape decodes a query component, keeping an undecodable one as
// it is (as lenient parsers do).
func csrfUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// csrfOrigin judges an unsafe request by Fetch Metadata, then Origin,
// then Referer.
func csrfOrigin(g *csrfGuard, req *http.Request) (csrfVerdict, string) {
	if site, ok := req.Header["Sec-Fetch-Site"]; ok {
		return csrfFetchSite(g, req, site)
	}
	if origin, ok := req.Header["Origin"]; ok {
		return csrfOriginHeader(g, req, origin)
	}
	if referer, ok := req.Header["Referer"]; ok {
		return csrfReferer(g, req, referer)
	}
	return csrfNeedToken, "no-origin"
}

func csrfFetchSite(g *csrfGuard, req *http.Request, values []string) (csrfVerdict, string) {
	site := ""
	if len(values) == 1 {
		site = values[0]
	}
	switch site {
	case "same-origin":
		return csrfPass, "same-origin"
	case "same-site":
		if g.trustSameSite {
			return csrfPass, "same-site-trusted"
		}
		return csrfTrustedOrNot(g, req, "same-site")
	case "cross-site":
		return csrfTrustedOrNot(g, req, "cross-site")
	case "none":
		// A user-initiated request (bookmark, typed URL) has no business
		// being unsafe.
		return csrfReject, "fetch-site-none"
	}
	return csrfReject, "fetch-site-unknown"
}

// csrfTrustedOrNot lets a cross-origin request through when its Origin is
// a configured trusted origin.
func csrfTrustedOrNot(g *csrfGuard, req *http.Request, reason string) (csrfVerdict, string) {
	values := req.Header["Origin"]
	if len(values) == 1 {
		if o, ok := csrfHeaderOrigin(values[0]); ok && g.trusted[o] {
			return csrfPass, "trusted-origin"
		}
	}
	return csrfReject, reason
}

func csrfOriginHeader(g *csrfGuard, req *http.Request, values []string) (csrfVerdict, string) {
	if len(values) == 1 && values[0] == "null" {
		return csrfReject, "origin-null" // sandboxed frames, file: pages, some redirects
	}
	if len(values) != 1 {
		return csrfReject, "origin-malformed"
	}
	o, ok := csrfHeaderOrigin(values[0])
	if !ok {
		return csrfReject, "origin-malformed"
	}
	if o == csrfRequestOrigin(req) || g.trusted[o] {
		return csrfPass, "origin-match"
	}
	return csrfReject, "origin-mismatch"
}

func csrfReferer(g *csrfGuard, req *http.Request, values []string) (csrfVerdict, string) {
	if len(values) != 1 {
		return csrfReject, "referer-malformed"
	}
	o, ok := csrfRefererOrigin(values[0])
	if !ok {
		return csrfReject, "referer-malformed"
	}
	if o == csrfRequestOrigin(req) || g.trusted[o] {
		return csrfPass, "referer-match"
	}
	return csrfReject, "referer-mismatch"
}

// csrfHeaderOrigin normalises an Origin value, "scheme://host[:port]":
// lower case, default port dropped. Only the shape is checked; the value
// is then compared for equality with known origins, so anything odd
// inside the host simply does not match.
func csrfHeaderOrigin(v string) (string, bool) {
	scheme, host, ok := csrfSplitScheme(v)
	if !ok || host == "" || strings.ContainsAny(host, "/?#@\\") {
		return "", false
	}
	return csrfNormalOrigin(scheme, host), true
}

// csrfRefererOrigin is the origin of a Referer URL.
func csrfRefererOrigin(v string) (string, bool) {
	scheme, rest, ok := csrfSplitScheme(v)
	if !ok {
		return "", false
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
		host = rest[:i]
	}
	if host == "" || strings.IndexByte(host, '@') >= 0 {
		return "", false // browsers never send userinfo
	}
	return csrfNormalOrigin(scheme, host), true
}

// csrfSplitScheme splits "http(s)://rest", the scheme in any case.
func csrfSplitScheme(v string) (scheme, rest string, ok bool) {
	if len(v) > csrfMaxOriginLen {
		return "", "", false
	}
	i := strings.Index(v, "://")
	if i < 0 {
		return "", "", false
	}
	scheme = strings.ToLower(v[:i])
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	return scheme, v[i+3:], true
}

func csrfNormalOrigin(scheme, host string) string {
	host = strings.ToLower(host)
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}

// csrfRequestOrigin is the origin the browser addressed: see the file
// comment for why X-Forwarded-Proto decides the scheme.
func csrfRequestOrigin(req *http.Request) string {
	return csrfNormalOrigin(csrfRequestScheme(req), req.Host)
}

func csrfRequestScheme(req *http.Request) string {
	if p := req.Header.Get("X-Forwarded-Proto"); p != "" {
		if i := strings.IndexByte(p, ','); i >= 0 {
			p = p[:i] // the hop nearest the browser
		}
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "https", "wss":
			return "https"
		case "http", "ws":
			return "http"
		}
	}
	if req.TLS != nil {
		return "https"
	}
	return "http"
}

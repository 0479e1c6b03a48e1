// Package csrf is authlayer's cross-site request forgery protection for
// unsafe methods: the guard compiled from the csrf.* options, the checks
// that need no session (Fetch Metadata, Origin, Referer, method
// overrides) and the signed double-submit token bound to a session. Where
// the checks sit in the request flow is the root package's csrfflow.go.
//
// The checks run in this order, all before any backend call except the
// token's:
//
//  1. Exempt paths (webhooks) pass: an exact, case-sensitive match of the
//     canonical path ("/hooks" does not exempt "/hooks/x" or "/Hooks").
//  2. Safe methods (GET, HEAD, OPTIONS, TRACE) pass, unless a method
//     override asks for anything else (override.go): an app honouring it
//     would run an unsafe action that skipped the check. Every other
//     method, unknown ones included, is unsafe. Request bodies are not
//     read: the frameworks that take _method from a form body do so only
//     for POST, which is unsafe anyway.
//  3. Fetch Metadata: "Sec-Fetch-Site: same-origin" passes; "same-site"
//     passes only with csrf.trustSameSite; "cross-site" and "same-site"
//     also pass when Origin is one of csrf.trustedOrigins (browsers that
//     send Fetch Metadata always send it, so the list would be dead
//     otherwise); "none" and any other value are rejected.
//  4. Without Fetch Metadata (older browsers; browsers never send it to
//     plain-http origins): Origin, or else the Referer's origin, must be
//     the request's own origin or a trusted one. "null" is rejected.
//  5. With neither header the caller checks the double-submit token
//     (token.go).
//
// The request's own origin is scheme://Host. The scheme is
// X-Forwarded-Proto, which Traefik's entry point sets from its own
// connection before any middleware runs (it drops a client's value unless
// the peer is a configured forwardedHeaders.trustedIPs proxy, whose value
// then describes the browser's connection); without it, req.TLS decides.
// A forged request comes from the victim's browser, and a cross-site page
// cannot add X-Forwarded-Proto to it, so trusting it gives a forger
// nothing. Host is req.Host, never X-Forwarded-Host.
package csrf

import (
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Options are the csrf.* options, as the root's CSRFConfig holds them,
// and what the guard borrows from the rest of authlayer's configuration
// so that it reads cookies, header names and paths exactly as the rest
// does. The four functions are required when Enabled is true.
type Options struct {
	Enabled        bool
	Secret         string
	CookieName     string
	HeaderName     string
	TrustedOrigins []string
	ExemptPaths    []string
	TrustSameSite  bool
	ReportOnly     bool

	SecureCookies   bool                // cookies.secure: the cookie gets Secure
	MaxCookieBytes  int                 // the longest Set-Cookie a browser keeps
	ValidCookieName func(string) bool   // the cookie name rule of cookies.*
	ValidHeaderName func(string) bool   // the header name rule of headers.*
	CanonicalPath   func(string) string // the path the caller passes to Early
	FoldHeaderName  func(string) string // a header key as frameworks fold it (see OverrideHeaders)
}

// Guard is Options checked and compiled once; nil when CSRF protection is
// off. It is safe for concurrent use.
type Guard struct {
	CookieName string // the token cookie's name
	ReportOnly bool   // the caller logs failures without rejecting

	secret        []byte
	cookieEq      string // CookieName + "=", to find it in the Cookie header
	cookieSuffix  string // the Set-Cookie attributes, built once
	headerKey     string // canonical header name: a direct map look-up
	trusted       map[string]bool
	exempt        map[string]bool // canonical paths
	trustSameSite bool
	fold          func(string) string // Options.FoldHeaderName

	mu       sync.RWMutex      // protects verified
	verified map[string]string // token -> the binding its HMAC verified for
}

// Verdict is what Early decides.
type Verdict int

const (
	Pass      Verdict = iota // no forgery: go on
	Reject                   // a forgery, or a request that cannot be told apart from one
	NeedToken                // no origin information: the double-submit token decides
)

const (
	randomBytes  = 32
	hexLen       = 2 * randomBytes // each half of the token
	tokenLen     = 2*hexLen + 1
	minSecretLen = 32
	maxOriginLen = 4096 // browsers trim a longer Referer to its origin
	hexDigits    = "0123456789abcdef"
)

// safelistedHeaders are request headers a cross-site page may set without
// a CORS preflight: the token header must not be one of them.
var safelistedHeaders = map[string]bool{
	"Accept": true, "Accept-Language": true, "Content-Language": true,
	"Content-Type": true, "Range": true,
}

// safeMethods is exact: "get" or "PROPFIND" is unsafe. A map, not a
// switch: Yaegi looks it up several times faster.
var safeMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodOptions: true, http.MethodTrace: true,
}

// errHelpersMissing is a programming error: the caller forgot a function
// of Options.
var errHelpersMissing = errors.New("authlayer: csrf: Options lacks a helper function")

// Compile checks and compiles the options. It returns (nil, nil) when CSRF
// protection is off, and an error naming the first bad option.
func Compile(o Options) (*Guard, error) {
	if !o.Enabled {
		return nil, nil
	}
	if o.ValidCookieName == nil || o.ValidHeaderName == nil || o.CanonicalPath == nil || o.FoldHeaderName == nil {
		return nil, errHelpersMissing
	}
	g := &Guard{
		trustSameSite: o.TrustSameSite, ReportOnly: o.ReportOnly,
		fold: o.FoldHeaderName, verified: make(map[string]string),
	}
	steps := []func(*Options, *Guard) error{
		compileSecret, compileCookie, compileHeader, compileOrigins, compileExemptPaths,
	}
	for _, step := range steps {
		if err := step(&o, g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func compileSecret(o *Options, g *Guard) error {
	if strings.TrimSpace(o.Secret) == "" {
		return opts.Error("csrf.secret", "is required when csrf.enabled is true")
	}
	if len(o.Secret) < minSecretLen {
		return opts.Error("csrf.secret", "must be at least %d characters", minSecretLen)
	}
	g.secret = []byte(o.Secret)
	return nil
}

func compileCookie(o *Options, g *Guard) error {
	name := strings.TrimSpace(o.CookieName)
	if name == "" {
		return opts.Error("csrf.cookieName", "must not be empty")
	}
	if !o.ValidCookieName(name) {
		return opts.Error("csrf.cookieName", "%q is not a valid cookie name", name)
	}
	// Browsers drop __Host- and __Secure- cookies without Secure; the
	// cookie always has Path=/ and no Domain, as __Host- also requires.
	if (strings.HasPrefix(name, "__Host-") || strings.HasPrefix(name, "__Secure-")) && !o.SecureCookies {
		return opts.Error("csrf.cookieName", "%s needs cookies.secure=true", name)
	}
	g.CookieName, g.cookieEq = name, name+"="
	g.cookieSuffix = "; Path=/; SameSite=Lax"
	if o.SecureCookies {
		g.cookieSuffix += "; Secure"
	}
	if len(name)+1+tokenLen+len(g.cookieSuffix) > o.MaxCookieBytes {
		return opts.Error("csrf.cookieName", "is too long for a %d-byte cookie", o.MaxCookieBytes)
	}
	return nil
}

func compileHeader(o *Options, g *Guard) error {
	name := strings.TrimSpace(o.HeaderName)
	if !o.ValidHeaderName(name) {
		return opts.Error("csrf.headerName", "%q is not a valid header name", name)
	}
	key := http.CanonicalHeaderKey(name)
	if safelistedHeaders[key] {
		return opts.Error("csrf.headerName", "%s can be sent cross-site without a CORS preflight; use a custom name such as X-CSRF-Token", name)
	}
	g.headerKey = key
	return nil
}

func compileOrigins(o *Options, g *Guard) error {
	g.trusted = make(map[string]bool, len(o.TrustedOrigins))
	for _, v := range o.TrustedOrigins {
		v = strings.TrimSpace(v)
		if v == "" {
			continue // a trailing comma in a label value
		}
		norm, ok := configuredOrigin(v)
		if !ok {
			return opts.Error("csrf.trustedOrigins", "%q is not an origin: want scheme://host[:port] (http or https, no path, not null)", v)
		}
		g.trusted[norm] = true
	}
	return nil
}

// configuredOrigin checks a configured origin strictly and returns it in
// the form HeaderOrigin gives a browser's Origin header.
func configuredOrigin(o string) (string, bool) {
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
	return HeaderOrigin(o)
}

func compileExemptPaths(o *Options, g *Guard) error {
	g.exempt = make(map[string]bool, len(o.ExemptPaths))
	for _, p := range o.ExemptPaths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		// Exact paths only: a pattern or an encoded character would
		// suggest a match the exact comparison never makes.
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "*?#%;\\ \t\r\n\x00") {
			return opts.Error("csrf.exemptPaths", "%q is not an exact path such as /webhooks/stripe", p)
		}
		g.exempt[o.CanonicalPath(p)] = true
	}
	return nil
}

// Early decides what it can before any backend call, on the canonical
// path (Options.CanonicalPath). reason is a short word for the audit log;
// when a method override made a safe method unsafe, a Reject or NeedToken
// verdict says "method-override". A nil guard passes everything.
func Early(g *Guard, req *http.Request, canonicalPath string) (Verdict, string) {
	if g == nil {
		return Pass, "disabled"
	}
	if g.exempt[canonicalPath] {
		return Pass, "exempt"
	}
	if !safeMethods[req.Method] {
		return checkOrigin(g, req)
	}
	// The common safe request is judged here: no query or one without an
	// escape or the word "method", and then either same-origin Fetch
	// Metadata (checkOrigin passes it, override or not, so its header
	// keys need not be looked through) or no override header in any
	// spelling.
	q := req.URL.RawQuery
	if q == "" || (strings.IndexByte(q, '%') < 0 && !strings.Contains(strings.ToLower(q), "method")) {
		if site := req.Header["Sec-Fetch-Site"]; (len(site) == 1 && site[0] == "same-origin") || !headerOverride(g, req.Header) {
			return Pass, "safe-method"
		}
	}
	return safeWithOverride(g, req)
}

// Safe reports whether req needs no CSRF check at all: a safe method
// without an override (or an exempt path), as Early judges it. unusual is
// the caller's word that the request carries a header outside its common
// set: without one, and without a query that could spell an override, a
// safe method cannot carry an override (the caller's common set holds no
// override header in any spelling).
func Safe(g *Guard, req *http.Request, canonicalPath string, unusual bool) bool {
	if !unusual && safeMethods[req.Method] {
		q := req.URL.RawQuery
		if q == "" || (strings.IndexByte(q, '%') < 0 && !strings.Contains(strings.ToLower(q), "method")) {
			return true // as Early: no query override is spelled without "%" or "method"
		}
	}
	verdict, _ := Early(g, req, canonicalPath)
	return verdict == Pass
}

// safeWithOverride judges a safe request that may carry a method
// override: if it does, as the unsafe request it asks to be.
func safeWithOverride(g *Guard, req *http.Request) (Verdict, string) {
	if !methodOverridden(g, req) {
		return Pass, "safe-method"
	}
	verdict, reason := checkOrigin(g, req)
	if verdict != Pass {
		reason = "method-override"
	}
	return verdict, reason
}

// checkOrigin judges an unsafe request by Fetch Metadata, then Origin,
// then Referer.
func checkOrigin(g *Guard, req *http.Request) (Verdict, string) {
	if site, ok := req.Header["Sec-Fetch-Site"]; ok {
		return checkFetchSite(g, req, site)
	}
	if origin, ok := req.Header["Origin"]; ok {
		return checkOriginHeader(g, req, origin)
	}
	if referer, ok := req.Header["Referer"]; ok {
		return checkReferer(g, req, referer)
	}
	return NeedToken, "no-origin"
}

func checkFetchSite(g *Guard, req *http.Request, values []string) (Verdict, string) {
	site := ""
	if len(values) == 1 {
		site = values[0]
	}
	switch site {
	case "same-origin":
		return Pass, "same-origin"
	case "same-site":
		if g.trustSameSite {
			return Pass, "same-site-trusted"
		}
		return trustedOrNot(g, req, "same-site")
	case "cross-site":
		return trustedOrNot(g, req, "cross-site")
	case "none":
		// A user-initiated request (bookmark, typed URL) has no business
		// being unsafe.
		return Reject, "fetch-site-none"
	}
	return Reject, "fetch-site-unknown"
}

// trustedOrNot lets a cross-origin request through when its Origin is a
// configured trusted origin.
func trustedOrNot(g *Guard, req *http.Request, reason string) (Verdict, string) {
	values := req.Header["Origin"]
	if len(values) == 1 {
		if o, ok := HeaderOrigin(values[0]); ok && g.trusted[o] {
			return Pass, "trusted-origin"
		}
	}
	return Reject, reason
}

func checkOriginHeader(g *Guard, req *http.Request, values []string) (Verdict, string) {
	if len(values) == 1 && values[0] == "null" {
		return Reject, "origin-null" // sandboxed frames, file: pages, some redirects
	}
	if len(values) != 1 {
		return Reject, "origin-malformed"
	}
	o, ok := HeaderOrigin(values[0])
	if !ok {
		return Reject, "origin-malformed"
	}
	if o == RequestOrigin(req) || g.trusted[o] {
		return Pass, "origin-match"
	}
	return Reject, "origin-mismatch"
}

func checkReferer(g *Guard, req *http.Request, values []string) (Verdict, string) {
	if len(values) != 1 {
		return Reject, "referer-malformed"
	}
	o, ok := refererOrigin(values[0])
	if !ok {
		return Reject, "referer-malformed"
	}
	if o == RequestOrigin(req) || g.trusted[o] {
		return Pass, "referer-match"
	}
	return Reject, "referer-mismatch"
}

// HeaderOrigin normalises an Origin value, "scheme://host[:port]": lower
// case, default port dropped. Only the shape is checked; the value is then
// compared for equality with known origins, so anything odd inside the
// host simply does not match.
func HeaderOrigin(v string) (string, bool) {
	scheme, host, ok := splitScheme(v)
	if !ok || host == "" || strings.ContainsAny(host, "/?#@\\") {
		return "", false
	}
	return normalOrigin(scheme, host), true
}

// refererOrigin is the origin of a Referer URL.
func refererOrigin(v string) (string, bool) {
	scheme, rest, ok := splitScheme(v)
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
	return normalOrigin(scheme, host), true
}

// splitScheme splits "http(s)://rest", the scheme in any case.
func splitScheme(v string) (scheme, rest string, ok bool) {
	if len(v) > maxOriginLen {
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

func normalOrigin(scheme, host string) string {
	host = strings.ToLower(host)
	if scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}

// RequestOrigin is the origin the browser addressed, in HeaderOrigin's
// form: see the package comment for why X-Forwarded-Proto decides the
// scheme.
func RequestOrigin(req *http.Request) string {
	return normalOrigin(requestScheme(req), req.Host)
}

func requestScheme(req *http.Request) string {
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

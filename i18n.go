package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Locales (i18n.*). The locale of a request is, in this order:
//
//  1. the first segment of its canonical path, when it is one of
//     i18n.locales in any case ("/tr/x", "/TR/x" and "//tr/x" are all tr;
//     the spelling of the configuration is the one used);
//  2. the i18n.cookie cookie, when it holds one of the locales (any case);
//  3. the best Accept-Language match: the range with the highest q (the
//     first on a tie, q=0 and "*" skipped) that matches a locale exactly,
//     else after dropping subtags from its end ("pt-BR" finds "pt"), else
//     by its language alone ("pt" finds "pt-BR", the first such locale);
//  4. i18n.defaultLocale (empty: the first of the locales).
//
// The rules decide on the path without its locale prefix
// ("/tr/dashboard" is "/dashboard"), and never more weakly than on the
// path as it is (see matchLocalized). The request reaches the app with
// its path unchanged and the locale in i18n.header, which authlayer owns
// like the identity headers (client copies and aliases stripped); the
// response carries it too. Login and home redirects of a request whose
// path has a locale prefix keep it (see localizedTarget).

// i18nSettings are the compiled i18n options; nil when i18n is off.
type i18nSettings struct {
	locales       []string            // canonical spellings, in configuration order
	byLower       map[string]string   // lower-cased locale: canonical spelling
	values        map[string][]string // canonical locale: the header value, built once
	defaultLocale string
	cookie        string
	cookieEq      string // cookie + "=": the quick test before parsing cookies
	header        string // canonical header key
	// accept remembers the header value chosen for an Accept-Language
	// value (the default included): browsers send the same few values, so
	// a request costs one look-up. Bounded; emptied when full.
	accept     sync.Map   // string → []string; one call per look-up under Yaegi
	mu         sync.Mutex // serialises stores and the count
	remembered int
}

const (
	maxAcceptMemo      = 512
	maxAcceptMemoBytes = 256
	maxAcceptRanges    = 32 // ranges of one Accept-Language examined
)

// i18nClientHeaders are request headers authlayer or the app read from
// the client (besides commonRequestHeaders): i18n.header must not be one,
// or overwriting it would change what they read.
var i18nClientHeaders = []string{
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
	"Sec-Purpose", "Next-Router-Prefetch", "Purpose", "X-Purpose", "X-Moz",
	"Content-Language", "Accept-Language",
}

func compileI18n(c *Config, s *settings) error {
	cfg := c.I18n
	locales := opts.TrimAll(cfg.Locales)
	if len(locales) == 0 {
		return nil
	}
	loc := &i18nSettings{
		byLower: map[string]string{}, values: map[string][]string{},
	}
	for _, l := range locales {
		if !validLocale(l) {
			return opts.Error("i18n.locales", "%q is not a locale such as en, tr or pt-BR (letters, digits and -, starting with 2 to 8 letters)", l)
		}
		if _, dup := loc.byLower[strings.ToLower(l)]; dup {
			return opts.Error("i18n.locales", "%s is listed twice", l)
		}
		loc.byLower[strings.ToLower(l)] = l
		loc.locales = append(loc.locales, l)
		loc.values[l] = []string{l}
	}
	loc.defaultLocale = loc.locales[0]
	if d := strings.TrimSpace(cfg.DefaultLocale); d != "" {
		canonical, ok := loc.byLower[strings.ToLower(d)]
		if !ok {
			return opts.Error("i18n.defaultLocale", "%s is not one of i18n.locales %v", d, loc.locales)
		}
		loc.defaultLocale = canonical
	}
	loc.cookie = strings.TrimSpace(cfg.Cookie)
	if err := checkCookieName("i18n.cookie", loc.cookie, true); err != nil {
		return err
	}
	if loc.cookie == s.cookies.user || loc.cookie == s.cookies.guest || loc.cookie == s.cookies.refresh ||
		(c.CSRF.Enabled && loc.cookie == strings.TrimSpace(c.CSRF.CookieName)) {
		return opts.Error("i18n.cookie", "%s is already one of authlayer's cookies", loc.cookie)
	}
	loc.cookieEq = loc.cookie + "="
	if err := compileI18nHeader(c, s, loc, strings.TrimSpace(cfg.Header)); err != nil {
		return err
	}
	s.i18n = loc
	s.routes.table.i18n = loc
	return checkLocalizedRedirects(s)
}

// compileI18nHeader checks i18n.header and makes it one of the headers
// authlayer owns (headers.go), so client copies and their aliases are
// stripped on every path. It runs after compileHeaders.
func compileI18nHeader(c *Config, s *settings, loc *i18nSettings, name string) error {
	if !validHeaderName(name) {
		return opts.Error("i18n.header", "%q is not a valid header name", name)
	}
	key := normalizeHeaderName(name)
	if s.headers.owned[key] || reservedHeaders[key] {
		return opts.Error("i18n.header", "%s is already an identity header or reserved", name)
	}
	read := append(append([]string{}, commonRequestHeaders...), i18nClientHeaders...)
	if c.CSRF.Enabled {
		read = append(read, strings.TrimSpace(c.CSRF.HeaderName))
	}
	for _, h := range read {
		if normalizeHeaderName(h) == key {
			return opts.Error("i18n.header", "%s is a header clients send; use one of its own such as X-Locale", name)
		}
	}
	s.headers.own(key)
	delete(s.headers.safe, http.CanonicalHeaderKey(name))
	loc.header = http.CanonicalHeaderKey(name)
	return nil
}

// checkLocalizedRedirects refuses, under some locale's prefix, what
// checkNoRedirectLoop and compileBrowserAPI refuse for the URLs
// themselves: a protected login URL, and a home URL that is an auth-only
// page (or an API path with routes.blockBrowserApi): the redirect would
// loop.
func checkLocalizedRedirects(s *settings) error {
	login, localLogin := localPathOf(s.routes.loginURL)
	home, localHome := localPathOf(s.routes.homeURL)
	for _, l := range s.i18n.locales {
		if localLogin && matchRoute(s.routes.table, canonicalPath("/"+l+login)).needsUser {
			return opts.Error("routes.loginUrl", "%s is protected under the locale prefix /%s (add it to routes.authOnly or routes.public)", login, l)
		}
		if !localHome {
			continue
		}
		m := matchRoute(s.routes.table, canonicalPath("/"+l+home))
		if m.kind == kindAuthOnly || (s.routes.blockBrowserAPI && m.api) {
			return opts.Error("routes.homeUrl", "%s is an auth-only page or an API path under the locale prefix /%s: redirects there would loop", home, l)
		}
	}
	return nil
}

// validLocale accepts a BCP 47 style tag: 2 to 8 letters, then subtags of
// 1 to 8 letters or digits, separated by "-".
func validLocale(l string) bool {
	for i, sub := range strings.Split(l, "-") {
		if len(sub) < 1 || len(sub) > 8 || (i == 0 && len(sub) < 2) {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j]
			letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			if !letter && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

// splitLocale reports the locale a canonical path starts with (canonical
// spelling, "" for none), the path without it ("/tr" is "/"), and whether
// the prefix is spelled exactly as configured.
func splitLocale(loc *i18nSettings, p string) (string, string, bool) {
	if p == "" || p[0] != '/' {
		return "", p, false
	}
	seg, rest, _ := strings.Cut(p[1:], "/")
	l, ok := loc.byLower[strings.ToLower(seg)]
	if !ok {
		return "", p, false
	}
	return l, "/" + rest, l == seg
}

// matchLocalized decides the rule for a canonical path when i18n is on.
// A path without a locale prefix is decided as it is. With one, the rules
// decide on the rest ("/tr/dashboard" is "/dashboard"), and the decision
// is never weaker than a rule the whole path matches, since an app may
// still route the path as it is:
//
//   - prefix spelled as configured ("/tr"), the app's locale: the rules
//     matching the rest and those matching the whole path count, the
//     strictest wins (a role rule on "/*/admin" still holds for
//     "/tr/admin"); a rule for one of them alone decides ("/tr/static" is
//     excluded like "/static"; "/tr/assets" excluded by its own rule);
//     protectedByDefault applies when neither has a rule.
//   - prefix in another case ("/TR"): an app whose locales are
//     case-sensitive serves another page there, so the decisions for the
//     rest and for the whole path both count in full, protectedByDefault
//     included: a permissive rule (public, auth-only, excluded) applies
//     only when both agree.
func matchLocalized(t *routeTable, p string) routeMatch {
	l, rest, exact := splitLocale(t.i18n, p)
	if l == "" {
		return matchPlain(t, p)
	}
	if !exact {
		m := stricterMatch(matchPlain(t, rest), matchPlain(t, p))
		m.locale = l
		return m
	}
	m := matchRules(t, rest)
	whole := matchRules(t, p)
	if m.kind == kindNone {
		m.kind = whole.kind
		m.roles = whole.roles
		m.needsUser = whole.needsUser
	} else if whole.kind != kindNone {
		m = stricterMatch(m, whole)
	}
	m.api = m.api || whole.api
	if m.kind == kindNone && t.protectedByDefault {
		m.kind = kindProtected
		m.needsUser = true
	}
	m.locale = l
	return m
}

// applyLocale gives the request and its response the request's locale.
// It runs after stripIdentityHeaders (which removed client copies). A
// plain function on every request's path when i18n is on: the common
// cases (a prefix, or a remembered Accept-Language) cost a map look-up.
func applyLocale(m *middleware, rw http.ResponseWriter, req *http.Request, route *routeMatch) {
	loc := m.s.i18n
	v := loc.values[route.locale]
	if v == nil {
		v = negotiatedLocale(loc, req)
	}
	req.Header[loc.header] = v
	rw.Header()[loc.header] = v
}

// negotiatedLocale is the header value for a request whose path has no
// locale prefix: the cookie's locale, else Accept-Language's, else the
// default. Few temporaries: Yaegi allocates each on every call.
func negotiatedLocale(loc *i18nSettings, req *http.Request) []string {
	h := req.Header["Cookie"]
	if len(h) != 0 && (len(h) > 1 || strings.Contains(h[0], loc.cookieEq)) {
		return cookieOrAcceptLocale(loc, req)
	}
	h = req.Header["Accept-Language"]
	if len(h) == 1 {
		if v, ok := loc.accept.Load(h[0]); ok {
			return v.([]string)
		}
	}
	return acceptMiss(loc, h)
}

// cookieOrAcceptLocale is negotiatedLocale for a request that may carry
// the locale cookie.
func cookieOrAcceptLocale(loc *i18nSettings, req *http.Request) []string {
	if v := cookieLocale(loc, req); v != nil {
		return v
	}
	h := req.Header["Accept-Language"]
	if len(h) == 1 {
		if v, ok := loc.accept.Load(h[0]); ok {
			return v.([]string)
		}
	}
	return acceptMiss(loc, h)
}

// requestLocale is the request's locale: path prefix, cookie,
// Accept-Language, default.
func requestLocale(loc *i18nSettings, req *http.Request, route *routeMatch) string {
	if route.locale != "" {
		return route.locale
	}
	return negotiatedLocale(loc, req)[0]
}

// cookieLocale is the header value of the locale in the locale cookie,
// or nil (no cookie, or not a configured locale).
func cookieLocale(loc *i18nSettings, req *http.Request) []string {
	c, err := req.Cookie(loc.cookie)
	if err != nil {
		return nil
	}
	return loc.values[loc.byLower[strings.ToLower(c.Value)]]
}

// acceptMiss negotiates Accept-Language (several header lines are one
// list) and remembers the answer for a single line of common size.
func acceptMiss(loc *i18nSettings, lines []string) []string {
	header := strings.Join(lines, ",")
	l := negotiateLocale(loc, header)
	if l == "" {
		l = loc.defaultLocale
	}
	v := loc.values[l]
	if len(lines) != 1 || len(header) > maxAcceptMemoBytes {
		return v
	}
	loc.mu.Lock()
	if loc.remembered >= maxAcceptMemo {
		loc.accept.Range(func(k, _ interface{}) bool { loc.accept.Delete(k); return true })
		loc.remembered = 0
	}
	if _, loaded := loc.accept.LoadOrStore(header, v); !loaded {
		loc.remembered++
	}
	loc.mu.Unlock()
	return v
}

// negotiateLocale picks the locale for the range with the highest q that
// matches one (the first on a tie). It runs on a memo miss only.
func negotiateLocale(loc *i18nSettings, header string) string {
	best := ""
	bestQ := 0.0
	ranges := strings.SplitN(header, ",", maxAcceptRanges+1)
	if len(ranges) > maxAcceptRanges {
		ranges = ranges[:maxAcceptRanges]
	}
	for _, r := range ranges {
		tag, q := acceptRange(r)
		if q <= bestQ || tag == "" || tag == "*" {
			continue
		}
		if l := matchLanguage(loc, tag); l != "" {
			best = l
			bestQ = q
		}
	}
	return best
}

// acceptRange splits "pt-BR;q=0.8" into the tag and its q (1 when absent,
// 0 when malformed).
func acceptRange(r string) (string, float64) {
	tag, params, _ := strings.Cut(r, ";")
	tag = strings.TrimSpace(tag)
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(name), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil || q < 0 || q > 1 {
				return tag, 0
			}
			return tag, q
		}
	}
	return tag, 1
}

// matchLanguage matches one language range: exactly (any case), then
// without its last subtags ("pt-BR-x" finds "pt-BR", then "pt"), then by
// its language alone (the first locale whose language it is).
func matchLanguage(loc *i18nSettings, tag string) string {
	lower := strings.ToLower(tag)
	for lower != "" {
		if l, ok := loc.byLower[lower]; ok {
			return l
		}
		i := strings.LastIndexByte(lower, '-')
		if i < 0 {
			break
		}
		lower = lower[:i]
	}
	for _, l := range loc.locales {
		lang, _, _ := strings.Cut(l, "-")
		if strings.EqualFold(lang, lower) {
			return l
		}
	}
	return ""
}

// localizedTarget gives a local redirect target the request's locale
// prefix when the request's path had one ("/login" from "/tr/dashboard"
// is "/tr/login"; "/" is "/tr"). Absolute URLs, targets that already
// start with a locale, and requests without a prefix are left alone: the
// app's own i18n routing places those.
func localizedTarget(m *middleware, route *routeMatch, target string) string {
	if m.s.i18n == nil || route == nil || route.locale == "" || !strings.HasPrefix(target, "/") {
		return target
	}
	if l, _, _ := splitLocale(m.s.i18n, canonicalPath(pathOnly(target))); l != "" {
		return target
	}
	if target == "/" || target[1] == '?' || target[1] == '#' {
		return "/" + route.locale + target[1:]
	}
	return "/" + route.locale + target
}

// pathOnly is a local URL without its query and fragment.
func pathOnly(v string) string {
	if i := strings.IndexAny(v, "?#"); i >= 0 {
		return v[:i]
	}
	return v
}

package authlayer

import (
	"github.com/authlayer/authlayer/internal/opts"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxCookieBytes is the size browsers guarantee for one cookie (name,
// value and attributes). A larger one is dropped silently by the browser
// and the user would loop through login, so it is never emitted.
const maxCookieBytes = 4096

type cookieSettings struct {
	user, guest, refresh    string // names; refresh "" = single-token mode
	hint                    string // cookies.expiryHint; "" = none
	userMaxAge, guestMaxAge int    // seconds
	refreshMaxAge           int
	secure                  bool
	sameSite                http.SameSite
	path, refreshCookiePath string
	domain                  string
}

func compileCookies(c *Config, s *settings) error {
	k := c.Cookies
	cs := cookieSettings{
		user: strings.TrimSpace(k.User), guest: strings.TrimSpace(k.Guest),
		refresh: strings.TrimSpace(k.Refresh), secure: k.Secure,
		path: k.Path, domain: strings.TrimSpace(k.Domain),
	}
	if err := checkCookieName("cookies.user", cs.user, true); err != nil {
		return err
	}
	if err := checkCookieName("cookies.guest", cs.guest, true); err != nil {
		return err
	}
	if err := checkCookieName("cookies.refresh", cs.refresh, false); err != nil {
		return err
	}
	if cs.user == cs.guest || (cs.refresh != "" && (cs.refresh == cs.user || cs.refresh == cs.guest)) {
		return opts.Error("cookies", "user, guest and refresh cookie names must differ")
	}
	cs.hint = strings.TrimSpace(k.ExpiryHint)
	if err := checkCookieName("cookies.expiryHint", cs.hint, false); err != nil {
		return err
	}
	if cs.hint != "" && (cs.hint == cs.user || cs.hint == cs.guest || cs.hint == cs.refresh) {
		return opts.Error("cookies.expiryHint", "%s is already a token cookie", cs.hint)
	}
	var err error
	if cs.userMaxAge, err = maxAgeSeconds("cookies.userMaxAge", k.UserMaxAge); err != nil {
		return err
	}
	if cs.guestMaxAge, err = maxAgeSeconds("cookies.guestMaxAge", k.GuestMaxAge); err != nil {
		return err
	}
	if cs.refreshMaxAge, err = maxAgeSeconds("cookies.refreshMaxAge", k.RefreshMaxAge); err != nil {
		return err
	}
	if cs.sameSite, err = parseSameSite(k.SameSite, cs.secure); err != nil {
		return err
	}
	if cs.path == "" || !strings.HasPrefix(cs.path, "/") {
		return opts.Error("cookies.path", "must start with /")
	}
	if cs.refreshCookiePath, err = refreshCookiePath(k, cs.path); err != nil {
		return err
	}
	if err := checkPrefixedNames(cs); err != nil {
		return err
	}
	s.cookies = cs
	return nil
}

// refreshCookiePath is the refresh cookie's path: cookies.refreshCookiePath,
// or its deprecated alias cookies.refreshPath (the name also meant the
// backend's refresh endpoint, backend.refreshPath), or else the cookies'
// path. Both set to different paths is an error rather than a guess.
func refreshCookiePath(k CookiesConfig, path string) (string, error) {
	p, option := k.RefreshCookiePath, "cookies.refreshCookiePath"
	if k.RefreshPath != "" {
		if p != "" && p != k.RefreshPath {
			return "", opts.Error(option, "%q conflicts with cookies.refreshPath %q, its deprecated alias: set only cookies.refreshCookiePath", p, k.RefreshPath)
		}
		p, option = k.RefreshPath, "cookies.refreshPath"
	}
	if p == "" {
		return path, nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", opts.Error(option, "must start with /")
	}
	return p, nil
}

func checkCookieName(option, name string, required bool) error {
	if name == "" {
		if required {
			return opts.Error(option, "must not be empty")
		}
		return nil
	}
	if !validCookieName(name) {
		return opts.Error(option, "%q is not a valid cookie name", name)
	}
	return nil
}

// validCookieName accepts RFC 6265 token characters.
func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func maxAgeSeconds(option, v string) (int, error) {
	d, err := opts.PositiveDuration(option, v)
	if err != nil {
		return 0, err
	}
	if d < time.Second {
		return 0, opts.Error(option, "must be at least 1s")
	}
	return int(d / time.Second), nil
}

func parseSameSite(v string, secure bool) (http.SameSite, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		if !secure {
			return 0, opts.Error("cookies.sameSite", "None requires cookies.secure=true (browsers reject it otherwise)")
		}
		return http.SameSiteNoneMode, nil
	}
	return 0, opts.Error("cookies.sameSite", "%q is not one of Lax, Strict, None", v)
}

// checkPrefixedNames enforces what browsers enforce for __Host- and
// __Secure- cookies, so a misconfiguration fails in New, not in the browser.
func checkPrefixedNames(cs cookieSettings) error {
	names := []struct{ option, name, path string }{
		{"cookies.user", cs.user, cs.path},
		{"cookies.guest", cs.guest, cs.path},
		{"cookies.refresh", cs.refresh, cs.refreshCookiePath},
	}
	for _, n := range names {
		if (strings.HasPrefix(n.name, "__Host-") || strings.HasPrefix(n.name, "__Secure-")) && !cs.secure {
			return opts.Error(n.option, "%s needs cookies.secure=true", n.name)
		}
		if strings.HasPrefix(n.name, "__Host-") && (cs.domain != "" || n.path != "/") {
			return opts.Error(n.option, "%s needs path / and no cookies.domain", n.name)
		}
	}
	return nil
}

// carriedCookies are the auth cookies a request arrived with.
type carriedCookies struct {
	user, guest, refresh string
	hint                 string // the expiry hint the browser holds (cookies.expiryHint)
}

// cookiesRead parses the Cookie header once and picks the auth cookies.
//
// A name sent twice with different values is ambiguous: a sibling
// subdomain can toss a cookie with our name, or a path-scoped one can
// shadow ours, and the browser sends the attacker's first. Neither value is
// trusted (the request is treated as not carrying that cookie) and the
// conflict is logged; a __Host- name prevents it.
func cookiesRead(cs *cookieSettings, req *http.Request) carriedCookies {
	var c carriedCookies
	if len(req.Header["Cookie"]) == 0 {
		return c
	}
	for _, ck := range req.Cookies() {
		switch ck.Name {
		case cs.user:
			c.user = mergeCookie(c.user, ck.Value)
		case cs.guest:
			c.guest = mergeCookie(c.guest, ck.Value)
		case cs.refresh:
			if cs.refresh != "" {
				c.refresh = mergeCookie(c.refresh, ck.Value)
			}
		case cs.hint:
			if cs.hint != "" {
				c.hint = ck.Value
			}
		}
	}
	if c.user == cookieConflict || c.guest == cookieConflict || c.refresh == cookieConflict {
		dropConflicts(cs, &c) // rare: one check on the common path
	}
	return c
}

func dropConflicts(cs *cookieSettings, c *carriedCookies) {
	c.user = dropConflict(cs.user, c.user)
	c.guest = dropConflict(cs.guest, c.guest)
	c.refresh = dropConflict(cs.refresh, c.refresh)
}

// cookieConflict marks a name seen with two values; NUL never appears in a
// parsed cookie value.
const cookieConflict = "\x00"

func mergeCookie(have, v string) string {
	if have == "" {
		return v
	}
	if have == v || v == "" {
		return have
	}
	return cookieConflict
}

func dropConflict(name, v string) string {
	if v != cookieConflict {
		return v
	}
	log.Printf("authlayer: cookie %s sent twice with different values; neither is used (a __Host- name prevents this)", name)
	return ""
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func userCookieValue(cs *cookieSettings, token string) string {
	return buildCookie(cs, cs.user, token, cs.path, cs.userMaxAge)
}

func guestCookieValue(cs *cookieSettings, token string) string {
	return buildCookie(cs, cs.guest, token, cs.path, cs.guestMaxAge)
}

func refreshCookieValue(cs *cookieSettings, token string) string {
	return buildCookie(cs, cs.refresh, token, cs.refreshCookiePath, cs.refreshMaxAge)
}

// cookiesClearing returns the Set-Cookie values deleting the given cookies, only
// for those the request carried.
func cookiesClearing(cs *cookieSettings, carried carriedCookies, user, guest, refresh bool) []string {
	var out []string
	if user && carried.user != "" {
		out = append(out, buildCookie(cs, cs.user, "", cs.path, -1))
	}
	if user && carried.hint != "" {
		out = append(out, buildCookie(cs, cs.hint, "", cs.path, -1))
	}
	if guest && carried.guest != "" {
		out = append(out, buildCookie(cs, cs.guest, "", cs.path, -1))
	}
	if refresh && carried.refresh != "" {
		out = append(out, buildCookie(cs, cs.refresh, "", cs.refreshCookiePath, -1))
	}
	return out
}

// buildCookie renders one HttpOnly Set-Cookie value; maxAge < 0 deletes
// the cookie. It returns "" for a cookie too large for browsers to keep.
func buildCookie(cs *cookieSettings, name, value, path string, maxAge int) string {
	return renderCookie(cs, name, value, path, maxAge, true)
}

// expiryHintCookie is cookies.expiryHint's value for a session: the access
// token's expiry in Unix seconds, the one cookie scripts may read ("" when
// the hint is off or the expiry unknown).
func expiryHintCookie(cs *cookieSettings, id *identity) string {
	if cs.hint == "" || id == nil || id.expiresAt.IsZero() {
		return ""
	}
	return renderCookie(cs, cs.hint, expiryHintValue(id), cs.path, cs.userMaxAge, false)
}

func expiryHintValue(id *identity) string {
	return strconv.FormatInt(id.expiresAt.Unix(), 10)
}

func renderCookie(cs *cookieSettings, name, value, path string, maxAge int, httpOnly bool) string {
	c := &http.Cookie{ //nolint:gosec // G124: Secure and SameSite come from cookies.secure and cookies.sameSite, checked in New.
		Name: name, Value: value, Path: path, Domain: cs.domain, MaxAge: maxAge,
		Secure: cs.secure, HttpOnly: httpOnly, SameSite: cs.sameSite,
	}
	v := c.String()
	if len(v) > maxCookieBytes {
		log.Printf("authlayer: cookie %s not set: %d bytes exceeds the %d browsers keep", name, len(v), maxCookieBytes)
		return ""
	}
	return v
}

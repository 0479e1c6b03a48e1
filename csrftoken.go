package authlayer

// The CSRF double-submit token: next-api-layer's "<hmac>.<random>", bound
// to the session (see csrf.go for the format and the order of the checks).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log"
	"net/http"
	"strconv"
	"strings"
)

// csrfTokenValid checks the double-submit token: one header value equal
// (in constant time) to the cookie, whose HMAC verifies for binding.
func csrfTokenValid(g *csrfGuard, req *http.Request, binding string) bool {
	if g == nil {
		return false
	}
	h := req.Header[g.headerKey]
	if len(h) != 1 || len(h[0]) != csrfTokenLen {
		return false
	}
	c := csrfCookie(g, req)
	if len(c) != csrfTokenLen || subtle.ConstantTimeCompare([]byte(h[0]), []byte(c)) != 1 {
		return false
	}
	return csrfTokenSigned(g, c, binding)
}

// csrfIssue returns a Set-Cookie value with a new token when the request's
// cookie holds no valid token for binding, else "". Only the cookie is
// checked: safe requests do not send the header.
func csrfIssue(g *csrfGuard, req *http.Request, binding string) string {
	if g == nil || csrfTokenSigned(g, csrfCookie(g, req), binding) {
		return ""
	}
	return csrfNewCookie(g, binding)
}

func csrfNewCookie(g *csrfGuard, binding string) string {
	tok, ok := csrfMint(g, binding)
	if !ok {
		log.Printf("authlayer: csrf token not issued: no random bytes")
		return ""
	}
	return g.cookieName + "=" + tok + g.cookieSuffix
}

func csrfMint(g *csrfGuard, binding string) (string, bool) {
	b := make([]byte, csrfRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", false
	}
	random := hex.EncodeToString(b)
	return csrfMAC(g, random, binding) + "." + random, true
}

// csrfTokenSigned checks the token's shape, then its HMAC for binding.
//
// A session sends the same token on every request and csrfIssue looks at
// it on every response, so a verified token is remembered with its
// binding: an HMAC costs several microseconds of interpreted glue, the
// look-up a fraction of one. Only tokens whose HMAC verified enter the
// map (a client cannot fill it with guesses), and it is emptied when
// full. The look-up reveals nothing about a guessed MAC: keys are
// compared only after a seeded hash matches.
func csrfTokenSigned(g *csrfGuard, tok, binding string) bool {
	if len(tok) != csrfTokenLen || tok[csrfHexLen] != '.' {
		return false
	}
	g.mu.RLock()
	known, ok := g.verified[tok]
	g.mu.RUnlock()
	if ok && known == binding {
		return true
	}
	return csrfTokenVerify(g, tok, binding)
}

func csrfTokenVerify(g *csrfGuard, tok, binding string) bool {
	random := tok[csrfHexLen+1:]
	if strings.Trim(random, csrfHexDigits) != "" {
		return false
	}
	// A MAC that is not lower-case hex cannot equal the computed one.
	if !hmac.Equal([]byte(tok[:csrfHexLen]), []byte(csrfMAC(g, random, binding))) {
		return false
	}
	g.mu.Lock()
	if len(g.verified) >= csrfMaxVerified {
		g.verified = make(map[string]string)
	}
	g.verified[tok] = binding
	g.mu.Unlock()
	return true
}

// csrfMAC is the lower-case hex HMAC-SHA256 of
// "<len(random)>!<random>[!<binding>]".
func csrfMAC(g *csrfGuard, random, binding string) string {
	msg := strconv.Itoa(len(random)) + "!" + random
	if binding != "" {
		msg += "!" + binding
	}
	m := hmac.New(sha256.New, g.secret)
	_, _ = m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// csrfCookie reads the token cookie. A name sent twice with different
// values is ambiguous (a sibling subdomain can toss one): neither is used.
//
// The common case, one Cookie header naming the cookie once, is read
// without parsing every cookie. The value is not unquoted or checked
// here: only an exact token passes csrfTokenSigned.
func csrfCookie(g *csrfGuard, req *http.Request) string {
	h := req.Header["Cookie"]
	if len(h) != 1 {
		return csrfCookieAmongMany(g, req)
	}
	s := h[0]
	// The name itself, not "name=", must appear exactly once: net/http
	// trims spaces around a name, so "__csrf =x; __csrf=y" carries it
	// twice (a conflict) while holding "__csrf=" once.
	switch strings.Count(s, g.cookieName) {
	case 0:
		return ""
	case 1:
	default:
		return csrfCookieAmongMany(g, req)
	}
	i := strings.Index(s, g.cookieEq)
	if i < 0 || !csrfCookieStart(s, i) {
		return csrfCookieAmongMany(g, req) // spaced, or inside another cookie
	}
	s = s[i+len(g.cookieEq):]
	if j := strings.IndexByte(s, ';'); j >= 0 {
		s = s[:j]
	}
	return s
}

// csrfCookieStart reports whether a cookie starts at i: the header's start,
// or right after ";" or "; ".
func csrfCookieStart(s string, i int) bool {
	return i == 0 || s[i-1] == ';' || (i > 1 && s[i-1] == ' ' && s[i-2] == ';')
}

func csrfCookieAmongMany(g *csrfGuard, req *http.Request) string {
	if len(req.Header["Cookie"]) == 0 {
		return ""
	}
	v := ""
	for _, c := range req.Cookies() {
		if c.Name == g.cookieName {
			v = mergeCookie(v, c.Value)
		}
	}
	return dropConflict(g.cookieName, v)
}

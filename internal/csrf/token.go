package csrf

// The double-submit token is next-api-layer's, "<hmac>.<random>": random
// is 32 random bytes in lower-case hex, hmac the lower-case hex
// HMAC-SHA256 under csrf.secret of
//
//	"<len(random)>!<random>"             for binding "" (anonymous visitor)
//	"<len(random)>!<random>!<binding>"   otherwise (Binding: "user:<id>", "guest:<id>")
//
// so an unbound token is byte-for-byte the original's, and a token minted
// for one session fails for another (a sibling subdomain that tosses its
// own valid token into the victim's cookie jar gains nothing). A token the
// original issued is therefore accepted for anonymous visitors only; a
// session gets a bound one on its next response (see Issue). The cookie
// and the token header must carry the same value, compared in constant
// time, and the HMAC must verify; anything not exactly 129 characters of
// that shape is refused before any hashing.
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

// maxVerified bounds the tokens a guard remembers as verified.
const maxVerified = 10000

// Binding ties tokens to a session, "<tokenType>:<userID>"; "" (an
// anonymous visitor) without a user id. A token minted for another
// session (another user, or the guest before login) fails.
func Binding(tokenType, userID string) string {
	if userID == "" {
		return ""
	}
	return tokenType + ":" + userID
}

// TokenValid checks the double-submit token: one header value equal (in
// constant time) to the cookie, whose HMAC verifies for binding. A nil
// guard validates nothing.
func TokenValid(g *Guard, req *http.Request, binding string) bool {
	if g == nil {
		return false
	}
	h := req.Header[g.headerKey]
	if len(h) != 1 || len(h[0]) != tokenLen {
		return false
	}
	c := readCookie(g, req)
	if len(c) != tokenLen || subtle.ConstantTimeCompare([]byte(h[0]), []byte(c)) != 1 {
		return false
	}
	return tokenSigned(g, c, binding)
}

// Issue returns a Set-Cookie value with a new token when the request's
// cookie holds no valid token for binding, else "". Only the cookie is
// checked: safe requests do not send the header.
func Issue(g *Guard, req *http.Request, binding string) string {
	if g == nil || tokenSigned(g, readCookie(g, req), binding) {
		return ""
	}
	return newCookie(g, binding)
}

func newCookie(g *Guard, binding string) string {
	tok, ok := mint(g, binding)
	if !ok {
		log.Printf("authlayer: csrf token not issued: no random bytes")
		return ""
	}
	return g.CookieName + "=" + tok + g.cookieSuffix
}

func mint(g *Guard, binding string) (string, bool) {
	b := make([]byte, randomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", false
	}
	random := hex.EncodeToString(b)
	return mac(g, random, binding) + "." + random, true
}

// tokenSigned checks the token's shape, then its HMAC for binding.
//
// A session sends the same token on every request and Issue looks at it
// on every response, so a verified token is remembered with its binding:
// an HMAC costs several microseconds of interpreted glue, the look-up a
// fraction of one. Only tokens whose HMAC verified enter the map (a
// client cannot fill it with guesses), and it is emptied when full. The
// look-up reveals nothing about a guessed MAC: keys are compared only
// after a seeded hash matches.
func tokenSigned(g *Guard, tok, binding string) bool {
	if len(tok) != tokenLen || tok[hexLen] != '.' {
		return false
	}
	g.mu.RLock()
	known, ok := g.verified[tok]
	g.mu.RUnlock()
	if ok && known == binding {
		return true
	}
	return tokenVerify(g, tok, binding)
}

func tokenVerify(g *Guard, tok, binding string) bool {
	random := tok[hexLen+1:]
	if strings.Trim(random, hexDigits) != "" {
		return false
	}
	// A MAC that is not lower-case hex cannot equal the computed one.
	if !hmac.Equal([]byte(tok[:hexLen]), []byte(mac(g, random, binding))) {
		return false
	}
	g.mu.Lock()
	if len(g.verified) >= maxVerified {
		g.verified = make(map[string]string)
	}
	g.verified[tok] = binding
	g.mu.Unlock()
	return true
}

// mac is the lower-case hex HMAC-SHA256 of
// "<len(random)>!<random>[!<binding>]".
func mac(g *Guard, random, binding string) string {
	msg := strconv.Itoa(len(random)) + "!" + random
	if binding != "" {
		msg += "!" + binding
	}
	m := hmac.New(sha256.New, g.secret)
	_, _ = m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// readCookie reads the token cookie. A name sent twice with different
// values is ambiguous (a sibling subdomain can toss one): neither is used.
//
// The common case, one Cookie header naming the cookie once, is read
// without parsing every cookie. The value is not unquoted or checked
// here: only an exact token passes tokenSigned.
func readCookie(g *Guard, req *http.Request) string {
	h := req.Header["Cookie"]
	if len(h) != 1 {
		return cookieAmongMany(g, req)
	}
	s := h[0]
	// The name itself, not "name=", must appear exactly once: net/http
	// trims spaces around a name, so "__csrf =x; __csrf=y" carries it
	// twice (a conflict) while holding "__csrf=" once.
	switch strings.Count(s, g.CookieName) {
	case 0:
		return ""
	case 1:
	default:
		return cookieAmongMany(g, req)
	}
	i := strings.Index(s, g.cookieEq)
	if i < 0 || !cookieStart(s, i) {
		return cookieAmongMany(g, req) // spaced, or inside another cookie
	}
	s = s[i+len(g.cookieEq):]
	if j := strings.IndexByte(s, ';'); j >= 0 {
		s = s[:j]
	}
	return s
}

// cookieStart reports whether a cookie starts at i: the header's start, or
// right after ";" or "; ".
func cookieStart(s string, i int) bool {
	return i == 0 || s[i-1] == ';' || (i > 1 && s[i-1] == ' ' && s[i-2] == ';')
}

// cookieAmongMany reads the cookie with net/http's parser: its one
// non-empty value, or "" when it holds two different ones (logged, as the
// root's session cookies are).
func cookieAmongMany(g *Guard, req *http.Request) string {
	if len(req.Header["Cookie"]) == 0 {
		return ""
	}
	v, conflict := "", false
	for _, c := range req.Cookies() {
		if c.Name != g.CookieName || c.Value == "" || c.Value == v {
			continue
		}
		conflict = conflict || v != ""
		v = c.Value
	}
	if conflict {
		log.Printf("authlayer: cookie %s sent twice with different values; neither is used (a __Host- name prevents this)", g.CookieName)
		return ""
	}
	return v
}

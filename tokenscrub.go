package authlayer

import (
	"regexp"
	"strings"
)

// No token reaches a page's script. The login answer and the session
// endpoint pass on what the backend said about the user, and backends
// echo tokens in many shapes: under a token-like key, as "Bearer <t>", as
// "userToken=<t>", inside a message. withoutTokens drops every string
// field that holds one: any string that contains one of the session's
// tokens, looks like it carries a JWT or a bearer credential, or sits
// under a token-like key. Dropping a harmless field costs a front end a
// field; passing a token would hand it to every script on the page.

// minTokenMatch is the shortest token searched for inside strings: a
// shorter "token" (a test's, or an opaque id) would match ordinary text.
const minTokenMatch = 16

// jwtInText finds a JWT's header and payload segments anywhere in a
// string: base64url JSON objects start with "eyJ".
var jwtInText = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}`)

// withoutTokens copies a backend answer without the fields that hold a
// token (see above); tokens are the session's own.
func withoutTokens(doc interface{}, tokens ...string) interface{} {
	switch t := doc.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, v := range t {
			if holdsToken(k, tokens) {
				continue
			}
			if tokenLikeKey(k, v) || holdsToken(v, tokens) {
				continue
			}
			out[k] = withoutTokens(v, tokens...)
		}
		return out
	case []interface{}:
		out := make([]interface{}, 0, len(t))
		for _, v := range t {
			if !holdsToken(v, tokens) {
				out = append(out, withoutTokens(v, tokens...))
			}
		}
		return out
	}
	return doc
}

// holdsToken reports whether v is a string carrying a credential: one of
// tokens (whole or inside it), something shaped like a JWT, or a bearer
// credential.
func holdsToken(v interface{}, tokens []string) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		if s == tok || (len(tok) >= minTokenMatch && strings.Contains(s, tok)) {
			return true
		}
	}
	if t := strings.TrimSpace(s); len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
		return true
	}
	return jwtInText.MatchString(s)
}

// tokenLikeKey names the fields backends put tokens in. Whatever a
// token's own name holds (accessToken, refresh_token, id-token, jwt,
// sessionToken, apiKey, secret, password, and their plurals: a string, a
// list or an object) is dropped; a string under a name that may hold one
// (access, refresh, bearer, authorization, cookie) is too, while a list or
// an object there (an "access" list of permissions) is kept.
func tokenLikeKey(k string, v interface{}) bool {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "", ".", "").Replace(k))
	if tokenName(n) || (strings.HasSuffix(n, "s") && tokenName(strings.TrimSuffix(n, "s"))) {
		return true
	}
	_, isString := v.(string)
	switch n {
	case "access", "refresh", "bearer", "authorization", "cookie", "setcookie":
		return isString
	}
	return false
}

// tokenName is a field name that only ever holds a credential.
func tokenName(n string) bool {
	switch n {
	case "jwt", "secret", "password", "apikey":
		return true
	}
	return strings.HasSuffix(n, "token") || strings.HasSuffix(n, "jwt") || strings.HasSuffix(n, "secret")
}

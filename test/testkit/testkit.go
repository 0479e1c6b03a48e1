// Package testkit is the toolkit the contract suite (../contract: the
// plugin in process, compiled and through the Yaegi loader) and the e2e
// suite (../e2e: the plugin inside a real Traefik) share: the names of the
// default configuration, option maps, request builders, the result of a
// request, the upstream that records what it receives, and the want*
// assertions.
//
// A suite keeps only what is its own: how a request reaches the plugin
// (in process, or over a connection to Traefik), its handlers or sites,
// and the assertions that only it makes.
package testkit

// Header names of the default configuration.
const (
	HeaderUser      = "X-Auth-User"
	HeaderUserID    = "X-Auth-User-Id"
	HeaderTokenType = "X-Auth-Token-Type"
	HeaderRefreshed = "X-Refreshed-Token"
	HeaderAuthz     = "Authorization"
	// HeaderTestID pairs a request with what the upstream received; the
	// suites set it on every request.
	HeaderTestID = "X-Test-Id"
)

// IdentityHeaders are the headers authlayer sets for the app by default.
var IdentityHeaders = []string{HeaderUser, HeaderUserID, HeaderTokenType, HeaderRefreshed, HeaderAuthz}

// Cookie names of the default configuration, plus the refresh cookie the
// dual-token tests configure.
const (
	UserCookie    = "userToken"
	GuestCookie   = "guestToken"
	RefreshCookie = "refreshToken"
)

// List is an option list as Traefik's providers deliver it.
func List(items ...string) []interface{} {
	out := make([]interface{}, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

// Merge deep-merges the option map src into dst: nested maps merge, other
// values replace, and a nil value deletes the key. dst never shares a
// nested map with src.
func Merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, ok := v.(map[string]interface{})
		dm, ok2 := dst[k].(map[string]interface{})
		if ok && ok2 {
			Merge(dm, sm)
			continue
		}
		if ok {
			cp := map[string]interface{}{}
			Merge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// ReplaceDash returns s with every '-' replaced by with[0].
func ReplaceDash(s, with string) string {
	out := []byte(s)
	for i := range out {
		if out[i] == '-' {
			out[i] = with[0]
		}
	}
	return string(out)
}

// UpperOdd upper-cases every other letter: x-aUtH-UsEr.
func UpperOdd(s string) string {
	out := []byte(s)
	for i := range out {
		if i%2 == 1 && out[i] >= 'a' && out[i] <= 'z' {
			out[i] -= 'a' - 'A'
		}
	}
	return string(out)
}

package authlayer

import (
	"path"
	"strings"
)

// Canonical paths. Every rule decision (excluded, public, protected, roles,
// auth-only, API) is made on one canonical form of the request path, so no
// spelling of a protected path is treated as a weaker one:
//
//   - dot segments are resolved and repeated slashes merged ("/a/../b",
//     "//b" and "/b/" are all "/b");
//   - matrix parameters are dropped from every segment ("/admin;x=1" is
//     "/admin"), as Java servers route them;
//   - case is folded for strict rules (see routes.go).
//
// Spellings whose meaning depends on the server behind Traefik are
// ambiguous: an encoded "/" or "\" ("%2F", "%5C"), a backslash, a NUL or
// other control character, an encoded "?", "#" or ";", and double encoding
// (a "%" left after decoding). By default such a request is refused with
// 400; with routes.ambiguousPaths=protect it is treated as protected
// instead (the stricter rule). The decision uses the path Go parsed from
// the request line, the one Traefik forwards, and does not depend on
// Traefik's own path sanitising being on.

// canonicalPath resolves a decoded path to its canonical form.
func canonicalPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if strings.IndexByte(p, ';') >= 0 {
		p = dropMatrixParams(p)
	}
	return path.Clean(p)
}

// dropMatrixParams removes ";…" from every segment.
func dropMatrixParams(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	return strings.Join(segs, "/")
}

// ambiguousPath reports whether the request path could mean different
// things to authlayer and to the app: decoded is the URL's Path, raw its
// RawPath ("" when Go's default encoding of Path reproduces the original).
func ambiguousPath(decoded, raw string) bool {
	for i := 0; i < len(decoded); i++ {
		if c := decoded[i]; c < 0x20 || c == 0x7f || c == '\\' || c == '%' || c == '?' || c == '#' {
			return true
		}
	}
	if raw == "" {
		return false
	}
	lower := strings.ToLower(raw)
	for _, enc := range ambiguousEscapes {
		if strings.Contains(lower, enc) {
			return true
		}
	}
	return false
}

// ambiguousEscapes are encodings whose decoded form changes how a path is
// split into segments.
var ambiguousEscapes = []string{"%2f", "%5c", "%3b", "%3f", "%23"}

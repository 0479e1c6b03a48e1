package authlayer

import (
	"net/url"
	"path"
	"strings"
)

// Canonical paths. Every rule decision (excluded, public, protected, roles,
// auth-only, API) is made on clean forms of the request path, so no
// spelling of a protected path is treated as a weaker one:
//
//   - dot segments are resolved and repeated slashes merged ("/a/../b",
//     "//b" and "/b/" are all "/b");
//   - case is folded for strict rules (see routes.go).
//
// Apps read matrix parameters (";x=1") differently, so a path holding ";"
// is decided under every reading an app may take, and the strictest
// decision wins (see decideRoute in routememo.go):
//
//   - literal: ";" is part of the name, and "..;" is a name, not a dot
//     segment (Go, Node, nginx, and Traefik itself). canonicalPath is this
//     reading: the audit log records it, and csrf.exemptPaths match it
//     only when every reading agrees (routeMatch.path).
//   - servlet: parameters are dropped from each segment, then dot segments
//     resolved ("/admin;x=1" is "/admin", "/a/..;x/b" is "/b": Java).
//   - names only: dot segments resolved literally, then parameters dropped
//     from each name (a router that strips them before matching).
//
// A segment that is a dot segment under some readings only (".;", "..;x",
// also spelled "%2e%2e;") makes the path ambiguous, like the spellings
// below whose meaning depends on the server behind Traefik: an encoded "/"
// or "\" ("%2F", "%5C"), a backslash, a NUL or other control character, an
// encoded "?", "#" or ";", and double encoding (a "%" left after
// decoding). By default such a request is refused with 400; with
// routes.ambiguousPaths=protect it is treated as at least protected, and
// never weaker than under any reading. The decision uses the path Go
// parsed from the request line, the one Traefik forwards, and does not
// depend on Traefik's own path sanitising being on.

// canonicalPath resolves a decoded path to its literal reading: dot
// segments resolved, slashes merged, matrix parameters kept as part of the
// names.
func canonicalPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// servletPath is the servlet reading of a decoded path: parameters dropped
// from every segment, then dot segments resolved.
func servletPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(dropMatrixParams(p))
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

// dotParamSegment reports whether a segment of the decoded path is a dot
// segment once its parameters are dropped ("..;", ".;x"), so it is "." or
// ".." to a servlet container and a name to Go.
func dotParamSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, "..;") || strings.HasPrefix(s, ".;") {
			return true
		}
	}
	return false
}

// sentPath is the path as the client sent it (escaped), which always
// holds a ";" or an escape when the readings disagree, so no
// csrf.exemptPaths entry can equal it.
func sentPath(decoded, raw string) string {
	return (&url.URL{Path: decoded, RawPath: raw}).EscapedPath()
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

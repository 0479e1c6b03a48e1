package authlayer

import (
	"path"
)

// canonicalPath is the one form of a request path that every rule decision
// uses: dot segments resolved and repeated slashes merged, so "/a/../b",
// "//b" and "/b/" are all "/b". It takes the decoded path Go parsed from
// the request line, which is the path Traefik forwards.
func canonicalPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

package authlayer

import (
	"crypto/sha256"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Configurations that New accepts but that probably do not do what the
// operator meant: each is said once in the log, never refused.

// instanceWarnings are the warnings one instance gives at most once.
type instanceWarnings struct {
	secureOverHTTP atomic.Bool // cookies.secure on a plain-http, non-local request
}

// warnSecureCookiesOverHTTP says, once per instance, that Secure cookies
// are being answered to a plain-http request from a host other than
// localhost: the browser drops them and the user loops through the login.
// Called where authlayer sets cookies; it decides nothing. The request's
// TLS state says plain http; X-Forwarded-Proto (set by Traefik, or by a
// trusted proxy in front of it) only serves to stay quiet when TLS ends
// before Traefik.
func warnSecureCookiesOverHTTP(m *middleware, req *http.Request) {
	if !m.s.cookies.secure || req.TLS != nil || m.s.warnings.secureOverHTTP.Load() {
		return
	}
	proto := req.Header.Get("X-Forwarded-Proto")
	if strings.EqualFold(strings.TrimSpace(proto), "https") || localHost(req.Host) {
		return
	}
	if !m.s.warnings.secureOverHTTP.CompareAndSwap(false, true) {
		return
	}
	via := "no X-Forwarded-Proto"
	if proto != "" {
		via = "X-Forwarded-Proto " + strconv.Quote(clip(proto, 20))
	}
	//nolint:gosec // G706: the host is clipped and reduced to printable ASCII (logSafe), the header quoted
	log.Printf("authlayer: %s: cookies.secure is true but http://%s was requested over plain http (%s): "+
		"browsers drop Secure cookies on plain http, so no session will stick (users loop through the login); "+
		"serve the site over https (with TLS ending before Traefik, the proxy must send X-Forwarded-Proto: https), "+
		"or set cookies.secure=false for plain-http development only (said once)",
		m.name, logSafe(clip(req.Host, 100)), via)
}

// localHost reports whether host (with or without a port) is one browsers
// treat as a secure context over plain http: localhost, *.localhost, a
// loopback address.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// logSafe replaces what is not printable ASCII, so a client's value can
// neither split nor disguise a log line.
func logSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// maxProtectionWarnings bounds the configurations remembered as warned.
const maxProtectionWarnings = 256

var (
	protectionWarnedMu sync.Mutex // protects protectionWarned
	protectionWarned   = map[string]bool{}
)

// warnNothingProtected says, at New, that the routes protect nothing: no
// routes.protected, no routes.roles, routes.protectedByDefault false.
// Every path is then served to anyone, which is a legitimate setup (the
// app reads the identity headers and decides) but more often a mistake.
// Traefik calls New per router and per reload: the warning is given once
// per middleware name and routes configuration (remembered as a hash,
// bounded).
func warnNothingProtected(name string, c *Config) {
	r := &c.Routes
	if len(r.Protected) > 0 || len(r.Roles) > 0 || r.ProtectedByDefault {
		return
	}
	raw, _ := json.Marshal(r)
	sum := sha256.Sum256(append([]byte(name+"\x00"), raw...))
	key := string(sum[:])
	protectionWarnedMu.Lock()
	if protectionWarned[key] {
		protectionWarnedMu.Unlock()
		return
	}
	if len(protectionWarned) >= maxProtectionWarnings {
		protectionWarned = map[string]bool{}
	}
	protectionWarned[key] = true
	protectionWarnedMu.Unlock()
	log.Printf("authlayer: %s: no path is protected (routes.protected and routes.roles are empty, routes.protectedByDefault is false): "+
		"every path is served to anyone, signed in or not, and the app only receives the identity of sessions authlayer finds; "+
		"list paths in routes.protected (or set routes.protectedByDefault=true) if some need a login", name)
}

package authlayer

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
)

// cookieWriter adds the session's Set-Cookie values to the upstream's
// response just before its header is written: a cookie added after
// WriteHeader is silently lost (oauth2-proxy GHSA-f24x). It is used only
// when there are cookies to set, so the usual path keeps the original
// writer and its optional interfaces.
type cookieWriter struct {
	rw      http.ResponseWriter
	res     *authResult
	written bool
}

func (w *cookieWriter) Header() http.Header { return w.rw.Header() }

func (w *cookieWriter) WriteHeader(status int) {
	addSessionHeaders(w)
	w.rw.WriteHeader(status)
}

func (w *cookieWriter) Write(b []byte) (int, error) {
	addSessionHeaders(w)
	return w.rw.Write(b)
}

// Flush keeps streaming responses working through the wrapper when the
// plugin is compiled. Under Yaegi v0.16.1 compiled code cannot see this
// method (the interpreter's ResponseWriter bridge has no Flush), so a
// streamed response that carries session cookies is flushed at its end.
func (w *cookieWriter) Flush() {
	addSessionHeaders(w)
	if f, ok := any(w.rw).(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack lets a WebSocket upgrade through on a response that sets session
// cookies; the cookies go out with the upgrade response. Yaegi bridges
// Hijack to compiled code (unlike Unwrap).
func (w *cookieWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	addSessionHeaders(w)
	h, ok := any(w.rw).(http.Hijacker)
	if !ok {
		return nil, nil, errHijackUnsupported
	}
	return h.Hijack()
}

var errHijackUnsupported = errors.New("authlayer: the response writer cannot be hijacked")

func addSessionHeaders(w *cookieWriter) {
	if w.written {
		return
	}
	w.written = true
	dropUpstreamCookies(w.rw.Header(), w.res.setCookies)
	writeSessionHeaders(w.rw, w.res)
}

// dropUpstreamCookies removes the app's Set-Cookie for a name authlayer
// sets on the same response: two values for one name would leave the
// browser's choice to header order. On other responses the app may set
// these cookies itself (a login endpoint behind authlayer must be able to).
func dropUpstreamCookies(h http.Header, ours []string) {
	upstream := h["Set-Cookie"]
	if len(upstream) == 0 {
		return
	}
	kept := upstream[:0:0]
	for _, c := range upstream {
		if !sameCookieName(c, ours) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = kept
}

func sameCookieName(setCookie string, ours []string) bool {
	name := cookieNameOf(setCookie)
	for _, o := range ours {
		if cookieNameOf(o) == name {
			return true
		}
	}
	return false
}

func cookieNameOf(setCookie string) string {
	if i := strings.IndexByte(setCookie, '='); i >= 0 {
		return strings.TrimSpace(setCookie[:i])
	}
	return strings.TrimSpace(setCookie)
}

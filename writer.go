package authlayer

import (
	"net/http"
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
	w.addSessionHeaders()
	w.rw.WriteHeader(status)
}

func (w *cookieWriter) Write(b []byte) (int, error) {
	w.addSessionHeaders()
	return w.rw.Write(b)
}

// Flush keeps streaming responses working through the wrapper.
func (w *cookieWriter) Flush() {
	w.addSessionHeaders()
	if f, ok := any(w.rw).(http.Flusher); ok {
		f.Flush()
	}
}

func (w *cookieWriter) addSessionHeaders() {
	if w.written {
		return
	}
	w.written = true
	writeSessionHeaders(w.rw, w.res)
}

package devstack

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/authlayer/authlayer/test/loader"
)

// DevHostMiddlewareName is the name New receives, as Traefik's Docker
// provider qualifies it.
const DevHostMiddlewareName = MiddlewareName + "@docker"

// NewDevHost returns the dev host's handler: the compose file's router,
// without Traefik. Every request goes through the middleware built by
// factory from options, then to the app. The auth backend has no route:
// only authlayer calls it (backend.url in options), for its login, logout
// and session endpoints as for validations, refreshes and guest tokens.
func NewDevHost(factory loader.Factory, options map[string]interface{}, app *url.URL, logger *log.Logger) (http.Handler, error) {
	middleware, err := factory(options, proxyTo(app, logger), DevHostMiddlewareName)
	if err != nil {
		return nil, fmt.Errorf("authlayer middleware: %w", err)
	}
	return accessLog(middleware, logger), nil
}

// proxyTo forwards to target the way Traefik does by default: the client's
// Host is kept and X-Forwarded-* are set from the connection (any client
// copies are dropped by Rewrite).
func proxyTo(target *url.URL, logger *log.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if logger != nil {
				logger.Printf("upstream %s unreachable for %s %s: %v", target.Host, r.Method, r.URL.Path, err)
			}
			http.Error(w, "Bad Gateway", http.StatusBadGateway)
		},
	}
}

// statusRecorder captures the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush lets streaming responses through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the original writer to http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request: method, path, status, duration.
// Never the query, a header or a cookie: they can carry tokens.
func accessLog(h http.Handler, logger *log.Logger) http.Handler {
	if logger == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		logger.Printf("%s %s -> %d (%s)", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Millisecond))
	})
}

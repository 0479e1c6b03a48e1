package benchtraefik

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TokenLen is the length of every token the benchmarks send: a typical
// HS256 JWT with a handful of claims.
const TokenLen = 200

// Token returns the token of user (or guest) number id, TokenLen bytes:
// "bench.<type>.<id>.<padding>". The backend reads the type and id back.
func Token(typ string, id int) string {
	t := "bench." + typ + "." + strconv.Itoa(id) + "."
	return t + strings.Repeat("x", TokenLen-len(t))
}

// UserJSON is the user object the backend answers for a token: what ends
// up base64-encoded in X-Auth-User.
func UserJSON(typ, id string, exp int64) map[string]interface{} {
	return map[string]interface{}{"id": id, "type": typ, "exp": exp, "role": typ}
}

// Backend is an auth backend speaking the README's contract (GET /auth/me
// with a Bearer token; POST /auth/guest), answering after Delay, counting
// its calls. Tokens made by Token are valid for an hour from each answer;
// anything else gets 401.
type Backend struct {
	URL   string
	Delay time.Duration

	validations atomic.Int64
	guests      atomic.Int64
	conns       atomic.Int64
	guestSeq    atomic.Int64
	srv         *http.Server
}

// NewBackend starts a backend on a loopback port.
func NewBackend(delay time.Duration) (*Backend, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{URL: "http://" + ln.Addr().String(), Delay: delay}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.conns.Add(1)
		}
	}}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close stops the backend.
func (b *Backend) Close() { _ = b.srv.Close() }

// Validations is the number of GET /auth/me calls so far.
func (b *Backend) Validations() int64 { return b.validations.Load() }

// Conns is the number of connections accepted so far.
func (b *Backend) Conns() int64 { return b.conns.Load() }

// Guests is the number of POST /auth/guest calls so far.
func (b *Backend) Guests() int64 { return b.guests.Load() }

func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.Delay > 0 {
		time.Sleep(b.Delay)
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/auth/me":
		b.validations.Add(1)
		parts := strings.SplitN(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), ".", 4)
		if len(parts) != 4 || parts[0] != "bench" || (parts[1] != "user" && parts[1] != "guest") {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"success":false,"message":"invalid token"}`))
			return
		}
		// forwardAuth forwards this header (authResponseHeaders), as
		// authlayer sets its X-Auth-User-Id.
		w.Header().Set("X-Auth-User-Id", parts[2])
		_ = json.NewEncoder(w).Encode(map[string]interface{}{
			"success": true,
			"data":    UserJSON(parts[1], parts[2], time.Now().Add(time.Hour).Unix()),
		})
	case r.Method == http.MethodPost && r.URL.Path == "/auth/guest":
		b.guests.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]interface{}{
			"success": true,
			"data":    map[string]interface{}{"accessToken": Token("guest", 1000000+int(b.guestSeq.Add(1)))},
		})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"success":false}`))
	}
}

// Upstream is the app behind Traefik: 200 "ok", echoing the user id it
// was given in X-Seen-User-Id.
type Upstream struct {
	URL string
	srv *http.Server
}

// NewUpstream starts the upstream on a loopback port.
func NewUpstream() (*Upstream, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{URL: "http://" + ln.Addr().String()}
	u.srv = &http.Server{Handler: UpstreamHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// UpstreamHandler is the upstream's handler.
func UpstreamHandler() http.Handler {
	body := []byte("ok")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		if id := r.Header.Get("X-Auth-User-Id"); id != "" {
			h["X-Seen-User-Id"] = []string{id}
		}
		_, _ = w.Write(body)
	})
}

// Close stops the upstream.
func (u *Upstream) Close() { _ = u.srv.Close() }

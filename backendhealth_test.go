package authlayer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/jwt"
)

// healthLog captures what a backendHealth logs.
type healthLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *healthLog) logf(format string, args ...interface{}) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *healthLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

func newCapturedHealth(gap time.Duration) (*backendHealth, *healthLog) {
	l := &healthLog{}
	h := newBackendHealth("auth@file")
	h.logf = l.logf
	h.gap = gap
	return h, l
}

const healthURL = "https://user:pw@auth.example:8443/api/auth/me?key=s3cret#frag"

// TestHealthReportLogsChangesOnly: one line when an endpoint starts
// failing, one when the cause changes, one on recovery; nothing in a
// steady state; the URL without credentials, query or fragment.
func TestHealthReportLogsChangesOnly(t *testing.T) {
	h, l := newCapturedHealth(0)
	steps := []struct {
		cause string
		want  string // "" = no line
	}{
		{"", ""},
		{"", ""},
		{causeRefused, "authlayer: auth@file: auth backend validate endpoint https://auth.example:8443/api/auth/me is failing: connection refused"},
		{causeRefused, ""},
		{causeTimeout, "authlayer: auth@file: auth backend validate endpoint https://auth.example:8443/api/auth/me is failing: timeout (was: connection refused)"},
		{causeTimeout, ""},
		{"", "authlayer: auth@file: auth backend validate endpoint https://auth.example:8443/api/auth/me recovered after 0s (was: timeout)"},
		{"", ""},
		{"status 502", "authlayer: auth@file: auth backend validate endpoint https://auth.example:8443/api/auth/me is failing: status 502"},
	}
	for i, s := range steps {
		healthReport(h, "validate", healthURL, s.cause)
		got := l.take()
		switch {
		case s.want == "" && len(got) != 0:
			t.Errorf("step %d (%q): logged %q, want nothing", i, s.cause, got)
		case s.want != "" && (len(got) != 1 || got[0] != s.want):
			t.Errorf("step %d (%q): logged %q, want %q", i, s.cause, got, s.want)
		}
		for _, line := range got {
			if strings.Contains(line, "s3cret") || strings.Contains(line, "pw@") || strings.Contains(line, "frag") {
				t.Errorf("step %d: line %q leaks the URL's credentials, query or fragment", i, line)
			}
		}
	}
}

// TestHealthReportPerEndpoint: endpoints have their own state.
func TestHealthReportPerEndpoint(t *testing.T) {
	h, l := newCapturedHealth(0)
	healthReport(h, "validate", "http://a/auth/me", causeNotJSON)
	healthReport(h, "refresh", "http://a/auth/refresh", "")
	healthReport(h, "refresh", "http://a/auth/refresh", causeNotJSON)
	healthReport(h, "validate", "http://a/auth/me", causeNotJSON)
	got := l.take()
	want := []string{
		"authlayer: auth@file: auth backend validate endpoint http://a/auth/me is failing: body not JSON",
		"authlayer: auth@file: auth backend refresh endpoint http://a/auth/refresh is failing: body not JSON",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestHealthReportIgnoresCallerSideOutcomes: a canceled caller and a call
// that found no free slot say nothing about the backend.
func TestHealthReportIgnoresCallerSideOutcomes(t *testing.T) {
	h, l := newCapturedHealth(0)
	healthReport(h, "login", "http://a/auth/login", causeCanceled)
	healthReport(h, "login", "http://a/auth/login", causeSaturated)
	healthReport(nil, "login", "http://a/auth/login", causeRefused)
	if got := l.take(); len(got) != 0 {
		t.Errorf("logged %q, want nothing", got)
	}
}

// TestHealthReportFlappingIsBounded: changes within the gap are counted,
// not logged; the first report after the gap logs the state then, with the
// count.
func TestHealthReportFlappingIsBounded(t *testing.T) {
	h, l := newCapturedHealth(time.Hour)
	healthReport(h, "guest", "http://a/auth/guest", "status 503")
	for i := 0; i < 50; i++ {
		healthReport(h, "guest", "http://a/auth/guest", "")
		healthReport(h, "guest", "http://a/auth/guest", "status 503")
	}
	healthReport(h, "guest", "http://a/auth/guest", "")
	if got := l.take(); len(got) != 1 || !strings.HasSuffix(got[0], "is failing: status 503") {
		t.Fatalf("within the gap: logged %q, want only the first failure", got)
	}
	h.mu.Lock()
	h.gap = 0
	h.mu.Unlock()
	healthReport(h, "guest", "http://a/auth/guest", "")
	got := l.take()
	if len(got) != 1 || !strings.Contains(got[0], "recovered after") || !strings.HasSuffix(got[0], "; 101 changes since the last line") {
		t.Errorf("after the gap: logged %q, want the recovery with 101 changes", got)
	}
}

// TestHealthReportConcurrent: many callers reporting one failure log it
// once (run with -race).
func TestHealthReportConcurrent(t *testing.T) {
	h, l := newCapturedHealth(time.Hour)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				healthReport(h, "validate", "http://a/auth/me", causeTimeout)
			}
		}()
	}
	wg.Wait()
	if got := l.take(); len(got) != 1 {
		t.Errorf("logged %d lines %q, want 1", len(got), got)
	}
}

// roundTripError is the error a real transport returns for url.
func roundTripError(t *testing.T, transport http.RoundTripper, rawURL string, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := transport.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s: got %d, want a transport error", rawURL, resp.StatusCode)
	}
	return err
}

// TestTransportErrorClasses: the errors Go's transport returns for real
// failures on loopback fall into the classes the log names.
func TestTransportErrorClasses(t *testing.T) {
	transport := newBackendTransport(4)
	defer transport.CloseIdleConnections()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	hung := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hung })) // named parameters: Yaegi panics on unnamed ones
	defer slow.Close()
	defer close(hung)

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate no one trusts
	defer tlsSrv.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()

	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp.Close()
	go func() {
		for i := 0; i < 10; i++ {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
			c.Close()
		}
	}()

	for _, tc := range []struct {
		desc, url string
		want      error
	}{
		{"nothing listening", "http://" + closedAddr + "/auth/me", errBackendRefused},
		{"no answer within the deadline", slow.URL + "/auth/me", errBackendTimeout},
		{"untrusted certificate", tlsSrv.URL + "/auth/me", errBackendTLS},
		{"https to a plain http server", "https://" + strings.TrimPrefix(plain.URL, "http://") + "/auth/me", errBackendTLS},
		{"connection closed without an answer", "http://" + hangUp.Addr().String() + "/auth/me", errBackendClosed},
	} {
		err := roundTripError(t, transport, tc.url, 300*time.Millisecond)
		if got := transportError(err); got != tc.want {
			t.Errorf("%s: %v classified as %v, want %v", tc.desc, err, got, tc.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, slow.URL, nil)
	resp, err := transport.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("canceled request: got %d, want an error", resp.StatusCode)
	}
	if transportError(err) != errBackendCanceled {
		t.Errorf("canceled request: %v classified as %v, want %v", err, transportError(err), errBackendCanceled)
	}
}

// TestCallCause: what every endpoint's answer must be.
func TestCallCause(t *testing.T) {
	doc := map[string]interface{}{"success": true}
	for _, tc := range []struct {
		ans    backendAnswer
		err    error
		failed bool
		want   string
	}{
		{backendAnswer{status: 200, doc: doc}, nil, false, ""},
		{backendAnswer{status: 401, doc: doc}, nil, false, ""},
		{backendAnswer{}, errBackendRefused, true, causeRefused},
		{backendAnswer{status: 302}, errBackendRedirect, true, causeRedirect},
		{backendAnswer{status: 503}, nil, true, "status 503"},
		{backendAnswer{status: 429, doc: doc}, nil, true, "status 429"},
		{backendAnswer{status: 200}, nil, true, causeNotJSON},
		{backendAnswer{status: 200, doc: doc}, nil, true, causeContract},
		{backendAnswer{status: 401, doc: doc}, nil, true, "status 401"}, // a guest mint refused
	} {
		if got := answerCause(tc.ans, tc.err, tc.failed); got != tc.want {
			t.Errorf("answerCause(%d, %v, %v) = %q, want %q", tc.ans.status, tc.err, tc.failed, got, tc.want)
		}
	}
}

// switchBackend answers the validate endpoint as mode says: "ok" (the
// contract), "html" (a 200 error page), "503".
type switchBackend struct {
	mu   sync.Mutex
	mode string
}

func (b *switchBackend) set(mode string) {
	b.mu.Lock()
	b.mode = mode
	b.mu.Unlock()
}

func (b *switchBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	mode := b.mode
	b.mu.Unlock()
	switch mode {
	case "html":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>maintenance</html>"))
	case "503":
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		writeJSON(w, 200, map[string]interface{}{"success": true, "data": map[string]interface{}{"id": "1", "type": "user"}})
	}
}

// TestBackendHealthLoggedFromTheFlow: a middleware whose backend fails
// logs each change of the validate endpoint's state once, naming its URL
// and the cause, and logs the recovery; the steady states in between log
// nothing, and no line holds the token.
func TestBackendHealthLoggedFromTheFlow(t *testing.T) {
	sb := &switchBackend{mode: "html"}
	srv := httptest.NewServer(sb)
	h, _ := newTestMiddleware(t, &fakeBackend{srv: srv}, func(c *Config) {
		c.Guest.Enabled = false
		c.Cache.TTL = "0s" // every request asks the backend
	})
	l := &healthLog{}
	health := h.(*middleware).state.backend.health
	health.mu.Lock()
	health.logf, health.gap = l.logf, 0
	health.mu.Unlock()

	validate := srv.URL + "/auth/me"
	token := &http.Cookie{Name: "userToken", Value: "user-secret-token-1"}
	for _, step := range []struct {
		mode string // "closed": the server is gone
		want string
	}{
		{"html", "auth backend validate endpoint " + validate + " is failing: body not JSON"},
		{"html", ""},
		{"503", "auth backend validate endpoint " + validate + " is failing: status 503 (was: body not JSON)"},
		{"ok", "auth backend validate endpoint " + validate + " recovered after"},
		{"ok", ""},
		{"closed", "auth backend validate endpoint " + validate + " is failing: connection refused"},
	} {
		if step.mode == "closed" {
			srv.Close()
		} else {
			sb.set(step.mode)
		}
		for i := 0; i < 2; i++ {
			serve(h, page("/dashboard", token))
		}
		got := l.take()
		switch {
		case step.want == "" && len(got) != 0:
			t.Errorf("%s, steady: logged %q, want nothing", step.mode, got)
		case step.want != "" && (len(got) != 1 || !strings.Contains(got[0], step.want)):
			t.Errorf("%s: logged %q, want one line with %q", step.mode, got, step.want)
		}
		for _, line := range got {
			if !strings.HasPrefix(line, "authlayer: "+t.Name()+": ") || strings.Contains(line, "secret-token") {
				t.Errorf("line %q: want the authlayer: <name>: prefix and no token", line)
			}
		}
	}
}

// TestJWKSHealthLogged: a JWKS endpoint that fails is logged once per
// change, with its URL minus the query (which may hold a key), and its
// recovery: the JWKS of internal/jwt fetching through jwksFetcher, as
// state.go builds it, with keys that go stale at once (every verification
// fetches).
func TestJWKSHealthLogged(t *testing.T) {
	var mu sync.Mutex
	mode := "500"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]byte, 32), make([]byte, 32)
	key.X.FillBytes(x)
	key.Y.FillBytes(y)
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]interface{}{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": b64(x), "y": b64(y)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mode
		mu.Unlock()
		switch m {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
		case "html":
			_, _ = w.Write([]byte("<html>not a key set</html>"))
		default:
			writeJSON(w, 200, map[string]interface{}{"keys": []interface{}{jwk}})
		}
	}))
	defer srv.Close()
	rawURL := srv.URL + "/jwks.json?apikey=s3cret"
	j, err := jwt.Compile(jwt.Options{
		Enabled: true, Mode: "local", RevalidateInterval: "60s", Leeway: "0s",
		JWKSURL: rawURL, JWKSMinRefreshInterval: "0s", JWKSMaxAge: "1ns", MaxTokenBytes: maxCookieBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	h, l := newCapturedHealth(0)
	keys := jwt.NewKeySet(j, time.Second, jwksFetcher(h, rawURL, newBackendTransport(2)))
	// Signed by no one: the verdict says whether the keys came in (a bad
	// signature) or not (keys unavailable).
	token := b64([]byte(`{"alg":"ES256","kid":"k1"}`)) + "." + b64([]byte(`{"sub":"u"}`)) + "." + b64([]byte("sig"))
	prefix := "authlayer: auth@file: JWKS endpoint " + srv.URL + "/jwks.json "
	for _, step := range []struct {
		mode, want string
		keys       bool
	}{
		{"500", prefix + "is failing: status 500", false},
		{"500", "", false},
		{"html", prefix + "is failing: no usable key in the answer (the last good keys are kept) (was: status 500)", false},
		{"ok", prefix + "recovered after 0s (was: no usable key in the answer (the last good keys are kept))", true},
		{"ok", "", true},
	} {
		mu.Lock()
		mode = step.mode
		mu.Unlock()
		got := jwt.Verify(j, keys, token, time.Now().Add(time.Second))
		want := jwt.KeysUnavailable
		if step.keys {
			want = jwt.Bad
		}
		if got.Verdict != want {
			t.Errorf("%s: verdict %d (%s), want %d", step.mode, got.Verdict, got.Reason, want)
		}
		lines := l.take()
		switch {
		case step.want == "" && len(lines) != 0:
			t.Errorf("%s, steady: logged %q, want nothing", step.mode, lines)
		case step.want != "" && (len(lines) != 1 || lines[0] != step.want):
			t.Errorf("%s: logged %q, want %q", step.mode, lines, step.want)
		}
	}
}

// TestJWKSCause: a JWKS fetch's cause in the health log: the round trip's
// own (a redirect is never followed), a status other than 200, or an
// answer without a usable key.
func TestJWKSCause(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		keys   int
		want   string
	}{
		{200, nil, 2, ""},
		{0, errBackendRefused, 0, causeRefused},
		{302, errBackendRedirect, 0, causeRedirect},
		{404, nil, 0, "status 404"},
		{200, nil, 0, causeNoKeys + " (the last good keys are kept)"},
	} {
		if got := jwksCause(tc.status, tc.err, tc.keys); got != tc.want {
			t.Errorf("jwksCause(%d, %v, %d) = %q, want %q", tc.status, tc.err, tc.keys, got, tc.want)
		}
	}
}

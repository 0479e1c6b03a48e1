// Package zitadelrun runs a real OpenID Provider for the tests: the
// example server of github.com/zitadel/oidc (v3, example/server,
// unchanged), built from the Go module proxy with
//
//	GOBIN=<cache> go install github.com/zitadel/oidc/v3/example/server@v3.52.0
//
// into <user cache dir>/authlayer/zitadel-oidc-v3.52.0/ the first time a
// test needs it (about a minute from a cold module and build cache; then
// reused). Nothing is vendored or committed: the binary lives in the
// cache only. One process per Start, on a free loopback port, with the
// tests' users (USERS_FILE), stopped when the test ends.
//
// What it is: zitadel/oidc's op package (the OpenID Provider library
// ZITADEL is built on) with the example's in-memory storage. Its endpoints:
//
//   - POST /oauth/token: authorization_code and refresh_token grants
//     (RFC 6749 §4.1.3, §6); client authentication by HTTP Basic
//     (client_secret_basic, the form-urlencoded id and secret of §2.3.1),
//     client_secret_post, or client_id alone for the public "native"
//     client. Refresh tokens rotate: a refresh answers a new one and
//     deletes the one used, so a replay is answered 400
//     {"error":"invalid_grant"} (the new token stays valid: no family
//     revocation). A refresh also deletes the access token the old refresh
//     token had issued.
//   - GET /userinfo with a Bearer access token (OIDC Core §5.3): sub and
//     the claims of the scopes asked; 401 "access token invalid" for a
//     token it cannot decrypt, 403 {} for one it no longer holds (refreshed
//     or revoked).
//   - POST /revoke (RFC 7009): a refresh token and its access token.
//   - No password grant (zitadel/oidc implements none): Login runs the
//     authorization code flow with PKCE through the example's login form,
//     as a browser would.
//
// A counting proxy (a loopback httptest server) stands in front: URL is
// the proxy's, and Counts are the requests that reached the server through
// it. The helpers (Login, Refresh, Userinfo, Revoke) talk to the server
// directly and are not counted.
//
// Without a Go toolchain or the module proxy the test is skipped, or fails
// when AUTHLAYER_REQUIRE_ZITADEL=1. ZITADEL_OP_BIN names a binary built
// elsewhere (the same command).
package zitadelrun

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/authlayer/authlayer/test/testkit"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// What is built.
const (
	// Package is the example server's import path.
	Package = "github.com/zitadel/oidc/v3/example/server"
	// Version is the zitadel/oidc release built.
	Version = "v3.52.0"
)

// Environment variables.
const (
	// EnvBin names a prebuilt example server binary.
	EnvBin = "ZITADEL_OP_BIN"
	// EnvRequire set to 1 turns "cannot build" from a skip into a failure.
	EnvRequire = "AUTHLAYER_REQUIRE_ZITADEL"
)

// Paths of the provider's endpoints (op's defaults; the example renames
// the authorization endpoint to /auth).
const (
	TokenPath     = "/oauth/token"
	UserinfoPath  = "/userinfo"
	RevokePath    = "/revoke"
	AuthorizePath = "/auth"
	LoginFormPath = "/login/username"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// The example's clients (example/server/main.go).
const (
	// WebClientID is a confidential client (client_secret_basic, also
	// client_secret_post), "web" application type in dev mode.
	WebClientID     = "web"
	WebClientSecret = "secret"
	// NativeClientID is a public client (auth method none, PKCE).
	NativeClientID = "native"
	// RedirectURI is registered for both (REDIRECT_URI); nothing listens
	// there: Login reads the code from the redirect.
	RedirectURI = "http://localhost/auth/callback"
)

// Bounds.
const (
	buildTimeout = 10 * time.Minute
	startWait    = 30 * time.Second
	stopWait     = 3 * time.Second
	callTimeout  = 10 * time.Second
	pollEvery    = 20 * time.Millisecond
	maxBody      = 1 << 20
	maxLog       = 16 << 10
)

// User is one account of the provider (the example's storage.User fields).
type User struct {
	// ID is the "sub".
	ID       string
	Username string
	Password string
	// FirstName, LastName, Email fill the profile and email claims.
	FirstName, LastName, Email string
}

// Options configure one provider.
type Options struct {
	// Users replace the example's own two users.
	Users []User
}

// Defaults has two users: alice (sub "u-alice", password "alice-pw") and
// bob ("u-bob", "bob-pw").
func Defaults() Options {
	return Options{Users: []User{
		{ID: "u-alice", Username: "alice", Password: "alice-pw", FirstName: "Alice", LastName: "Example", Email: "alice@example.test"},
		{ID: "u-bob", Username: "bob", Password: "bob-pw", FirstName: "Bob", LastName: "Example", Email: "bob@example.test"},
	}}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildWhy  string
)

// Available returns the example server's binary, building it into the
// cache the first time, or "" and why there is none. The build runs once
// per test binary.
func Available() (string, string) {
	buildOnce.Do(func() { buildBin, buildWhy = binary() })
	return buildBin, buildWhy
}

// Need returns the binary, or skips the test (fails it when
// AUTHLAYER_REQUIRE_ZITADEL=1).
func Need(t testing.TB) string {
	t.Helper()
	return testkit.Need(t, EnvRequire, Available)
}

// CachePath is where the built binary is kept.
func CachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "authlayer", "zitadel-oidc-"+Version, "server"), nil
}

func binary() (string, string) {
	if p := os.Getenv(EnvBin); p != "" {
		if !executable(p) {
			return "", "$" + EnvBin + " (" + p + ") is not an executable file"
		}
		return p, ""
	}
	final, err := CachePath()
	if err != nil {
		return "", "no user cache directory: " + err.Error()
	}
	if executable(final) {
		return final, ""
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "no go command to build " + Package + "@" + Version
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return "", err.Error()
	}
	// Built beside the final path and renamed: a concurrent test binary
	// never sees half a file.
	tmp, err := os.MkdirTemp(filepath.Dir(final), "build-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	//nolint:gosec // G204: the go command on PATH building a fixed module version
	cmd := exec.CommandContext(ctx, goBin, "install", Package+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go install %s@%s failed (%v): %s", Package, Version, err, lastLines(string(out), 5))
	}
	if err := os.Rename(filepath.Join(tmp, "server"), final); err != nil {
		return "", err.Error()
	}
	return final, ""
}

func executable(p string) bool {
	//nolint:gosec // G703: the developer's own binary or the cache path
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Server is one running provider.
type Server struct {
	origin string // http://127.0.0.1:<port>, the process itself
	issuer string // http://localhost:<port>/
	proxy  *httptest.Server
	dir    string
	client *http.Client

	mu     sync.Mutex // guards counts and cmd
	counts map[string]int
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs the provider with o and returns once it answers; it is
// stopped when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Need(t)
	s := &Server{
		dir:    t.TempDir(),
		counts: map[string]int{},
		client: &http.Client{
			Timeout:       callTimeout,
			CheckRedirect: func(_ *http.Request, _ []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	users, err := usersFile(o)
	if err != nil {
		t.Fatalf("zitadelrun: %v", err)
	}
	usersPath := filepath.Join(s.dir, "users.json")
	if err := os.WriteFile(usersPath, users, 0o600); err != nil {
		t.Fatalf("zitadelrun: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("zitadelrun: %v", err)
	}
	s.origin = "http://127.0.0.1:" + strconv.Itoa(port)
	s.issuer = "http://localhost:" + strconv.Itoa(port) + "/"
	env := []string{"PORT=" + strconv.Itoa(port), "USERS_FILE=" + usersPath, "REDIRECT_URI=" + RedirectURI}
	if err := s.start(bin, env); err != nil {
		t.Fatalf("zitadelrun: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.waitReady(); err != nil {
		s.Stop()
		t.Fatalf("zitadelrun: %v; log:\n%s", err, s.Log())
	}
	target, _ := url.Parse(s.origin)
	rp := httputil.NewSingleHostReverseProxy(target)
	s.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts[r.URL.Path]++
		s.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.proxy.Close)
	return s
}

// usersFile is the example's USERS_FILE: a JSON object of storage.User by
// id.
func usersFile(o Options) ([]byte, error) {
	type user struct {
		ID                string
		Username          string
		Password          string
		FirstName         string
		LastName          string
		Email             string
		EmailVerified     bool
		PreferredLanguage string
		IsAdmin           bool
	}
	m := map[string]user{}
	for _, u := range o.Users {
		if u.ID == "" || u.Username == "" {
			return nil, errors.New("a user without an id or a username")
		}
		m[u.ID] = user{u.ID, u.Username, u.Password, u.FirstName, u.LastName, u.Email, u.Email != "", "en", false}
	}
	if len(m) == 0 {
		return nil, errors.New("no user")
	}
	//nolint:gosec // G117: the test users' passwords go to the provider's users file, never to a log
	return json.Marshal(m)
}

// freePort is a loopback port free a moment ago. The example listens on
// ":<port>" (every interface of this machine); only loopback is ever sent
// to.
func freePort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func (s *Server) start(bin string, env []string) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "op.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	//nolint:gosec // G204: the example server built from the fixed module version, or the developer's
	cmd := exec.CommandContext(context.Background(), bin)
	cmd.Dir = s.dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// waitReady waits for the discovery document naming the issuer.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startWait)
	for {
		select {
		case <-s.exited:
			return errors.New("the provider exited at start")
		default:
		}
		r, err := s.request(http.MethodGet, DiscoveryPath, nil, "")
		if err == nil && r.Status == http.StatusOK {
			if r.Field("issuer") != s.issuer || r.Field("token_endpoint") != s.issuer+strings.TrimPrefix(TokenPath, "/") {
				return fmt.Errorf("unexpected discovery document: %s", r.Body)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the provider did not answer after %s: %v", startWait, err)
		}
		time.Sleep(pollEvery)
	}
}

// Stop ends the provider. Calls after the first do nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(stopWait):
	}
}

// URL is the counting proxy's base URL, http://127.0.0.1:<port>, without
// a trailing slash: what the middleware is configured with.
func (s *Server) URL() string { return s.proxy.URL }

// Issuer is the provider's issuer, http://localhost:<port>/.
func (s *Server) Issuer() string { return s.issuer }

// Counts returns the requests per path that came through URL since the
// start or the last ResetCounts.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Count is Counts()[path].
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// ResetCounts zeroes the counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.mu.Unlock()
}

// Log returns the end of the provider's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "op.log"))
	if len(b) > maxLog {
		b = b[len(b)-maxLog:]
	}
	return string(b)
}

// Response is one answer of the provider to a helper (its String hides
// the tokens).
type Response = testkit.BackendResponse

// request sends a request straight to the provider (not counted); target
// is a path or an absolute URL on the provider.
func (s *Server) request(method, target string, header http.Header, body string) (Response, error) {
	if strings.HasPrefix(target, "/") {
		target = s.origin + target
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader([]byte(body)))
	if err != nil {
		return Response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return testkit.Exchange(s.client, req, maxBody)
}

// Do is request for tests: a transport error fails the test.
func (s *Server) Do(t testing.TB, method, target string, header http.Header, body string) Response {
	t.Helper()
	r, err := s.request(method, target, header, body)
	if err != nil {
		t.Fatalf("zitadelrun: %s %s: %v", method, target, err)
	}
	return r
}

// PostForm posts form as clientID: HTTP Basic (RFC 6749 §2.3.1) for the
// web client, client_id in the form for any other.
func (s *Server) PostForm(t testing.TB, path, clientID string, form url.Values) Response {
	t.Helper()
	secret := ""
	if clientID == WebClientID {
		secret = WebClientSecret
	}
	body, h := testkit.ClientForm(form, clientID, secret)
	return s.Do(t, http.MethodPost, path, h, body)
}

// Tokens are a token answer's tokens.
type Tokens struct {
	Access, Refresh string
}

// Login signs username in as clientID by the authorization code flow with
// PKCE (S256), scopes openid profile email offline_access, through the
// example's login form, and exchanges the code; anything unexpected fails
// the test.
func (s *Server) Login(t testing.TB, clientID, username, password string) Tokens {
	t.Helper()
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {RedirectURI}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	auth := s.Do(t, http.MethodGet, AuthorizePath+"?"+q.Encode(), nil, "")
	id := redirectParam(t, auth, "authRequestID", "authorize")
	form := url.Values{"id": {id}, "username": {username}, "password": {password}}
	login := s.Do(t, http.MethodPost, LoginFormPath, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
	if login.Status != http.StatusFound {
		t.Fatalf("zitadelrun: login form for %s: %d (wrong password?)", username, login.Status)
	}
	callback := s.Do(t, http.MethodGet, absolute(s, login.Header.Get("Location")), nil, "")
	if loc := callback.Header.Get("Location"); !strings.HasPrefix(loc, RedirectURI+"?") || !strings.Contains(loc, "state="+q.Get("state")) {
		t.Fatalf("zitadelrun: the callback did not redirect to the client with its state: %d", callback.Status)
	}
	code := redirectParam(t, callback, "code", "callback")
	tok := s.PostForm(t, TokenPath, clientID, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {verifier},
	})
	tk := Tokens{Access: tok.Field("access_token"), Refresh: tok.Field("refresh_token")}
	if tok.Status != http.StatusOK || tk.Access == "" || tk.Refresh == "" {
		t.Fatalf("zitadelrun: code exchange for %s as %s: %s", username, clientID, tok)
	}
	return tk
}

// absolute resolves a Location on the provider to a URL on its origin
// (the example redirects to the issuer, http://localhost:<port>).
func absolute(s *Server, loc string) string {
	if strings.HasPrefix(loc, s.issuer) {
		return s.origin + "/" + strings.TrimPrefix(loc, s.issuer)
	}
	return loc
}

func redirectParam(t testing.TB, r Response, name, step string) string {
	t.Helper()
	loc, err := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || err != nil || loc.Query().Get(name) == "" {
		t.Fatalf("zitadelrun: %s: %d, no %s in the redirect; body %.200s", step, r.Status, name, r.Body)
	}
	return loc.Query().Get(name)
}

func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Refresh is a refresh_token grant as clientID.
func (s *Server) Refresh(t testing.TB, clientID, refresh string) Response {
	t.Helper()
	return s.PostForm(t, TokenPath, clientID, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
}

// Revoke is an RFC 7009 revocation as clientID ("" hint: none sent).
func (s *Server) Revoke(t testing.TB, clientID, token, hint string) Response {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return s.PostForm(t, RevokePath, clientID, form)
}

// Userinfo asks userinfo with the access token as a Bearer header.
func (s *Server) Userinfo(t testing.TB, access string) Response {
	t.Helper()
	return s.Do(t, http.MethodGet, UserinfoPath, http.Header{"Authorization": {"Bearer " + access}}, "")
}

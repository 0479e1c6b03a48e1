// Package djangorun runs a real Django REST framework +
// djangorestframework-simplejwt backend (the project in test/djangoapp,
// Debian's python3-django, python3-djangorestframework and
// python3-djangorestframework-simplejwt) for the tests: one Python process
// per Start, listening on a free loopback port, its SQLite database in the
// test's temporary directory, killed when the test ends.
//
// The endpoints are simplejwt's own views at their documented paths:
//
//   - POST /api/token/            {"username","password"} → {"refresh","access"}
//   - POST /api/token/refresh/    {"refresh"} → {"access"} (+ "refresh" with Rotate)
//   - POST /api/token/verify/     {"token"} → {} (any token type, refresh included)
//   - POST /api/token/blacklist/  {"refresh"} → {}
//   - GET  /api/me/               Authorization: Bearer <access> →
//     {"id","username","email","is_staff","groups"}
//
// Access tokens carry simplejwt's claims (token_type, exp, iat, jti,
// user_id) and the project's "username" and "roles" (the user's groups at
// login; refreshed tokens keep them), signed HS256 with SigningKey. An
// access token's iat is copied from its refresh token: after a refresh it
// is the refresh token's issue time, not the access token's (its exp is
// the refresh time plus AccessLifetime). The
// test-only GET /_test/counts answers the number of requests per path since
// the start or the last POST /_test/reset-counts.
//
// The interpreter is $DJANGO_PYTHON or /usr/bin/python3 (Debian's packages
// are not seen by another python3). Without it or without the packages the
// test is skipped, or fails when AUTHLAYER_REQUIRE_DJANGO=1.
package djangorun

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/authlayer/authlayer/test/testkit"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables.
const (
	// EnvPython names the Python interpreter (default /usr/bin/python3).
	EnvPython = "DJANGO_PYTHON"
	// EnvRequire set to 1 turns "no Django" from a skip into a failure.
	EnvRequire = "AUTHLAYER_REQUIRE_DJANGO"
	// EnvProject names the Django project's directory (default: test/djangoapp
	// next to this package's source).
	EnvProject = "AUTHLAYER_DJANGOAPP_DIR"
)

// Bounds.
const (
	checkTimeout = 20 * time.Second // importing the packages once
	startWait    = 30 * time.Second // migrate, users, listen (~0.7 s measured)
	stopWait     = 3 * time.Second  // after stdin is closed, before SIGKILL
	callTimeout  = 10 * time.Second // one request of the helpers
	maxBody      = 1 << 20
	maxLog       = 16 << 10
	pollEvery    = 10 * time.Millisecond
)

// Simplejwt's default lifetimes, used when Options leaves them zero.
const (
	DefaultAccessLifetime  = 5 * time.Minute
	DefaultRefreshLifetime = 24 * time.Hour
)

// Paths of the project's endpoints.
const (
	TokenPath     = "/api/token/"
	RefreshPath   = "/api/token/refresh/"
	VerifyPath    = "/api/token/verify/"
	BlacklistPath = "/api/token/blacklist/"
	MePath        = "/api/me/"
	CountsPath    = "/_test/counts"
	ResetPath     = "/_test/reset-counts"
)

// User is one account created at start.
type User struct {
	Username string
	Password string
	// Groups become the "groups" of /api/me/ and the "roles" claim.
	Groups []string
	// Email defaults to <username>@example.test.
	Email string
	// Staff is Django's is_staff.
	Staff bool
}

// Options configure one server. The zero value is simplejwt's own
// defaults: 5-minute access and 1-day refresh tokens, no rotation, no
// blacklisting after rotation (the blacklist app is installed either way:
// /api/token/blacklist/ works and a blacklisted refresh token is refused).
// Defaults() turns rotation and blacklisting on.
type Options struct {
	// AccessLifetime and RefreshLifetime are simplejwt's
	// ACCESS_TOKEN_LIFETIME and REFRESH_TOKEN_LIFETIME; 0 keeps the
	// defaults. "exp" is in whole seconds, rounded down: a 1 s token
	// expires within a second of its issue.
	AccessLifetime  time.Duration
	RefreshLifetime time.Duration
	// Rotate is ROTATE_REFRESH_TOKENS: a refresh answers a new refresh
	// token too.
	Rotate bool
	// BlacklistAfterRotation is BLACKLIST_AFTER_ROTATION: with Rotate, the
	// refresh token a refresh used is blacklisted (a replay answers 401
	// "Token is blacklisted").
	BlacklistAfterRotation bool
	// Users are created at start.
	Users []User
	// SigningKey is the HS256 key (SIMPLE_JWT SIGNING_KEY, also Django's
	// SECRET_KEY); "" makes a random one (Server.SigningKey).
	SigningKey string
	// AllowedHosts are added to Django's ALLOWED_HOSTS (127.0.0.1,
	// localhost, [::1]), for requests proxied with another Host.
	AllowedHosts []string
}

// Defaults returns the options most tests want: rotation with
// blacklisting, simplejwt's lifetimes, and two users, alice (password
// "alice-pw", group "admin", staff) and bob ("bob-pw", no group).
func Defaults() Options {
	return Options{
		Rotate:                 true,
		BlacklistAfterRotation: true,
		Users: []User{
			{Username: "alice", Password: "alice-pw", Groups: []string{"admin"}, Staff: true},
			{Username: "bob", Password: "bob-pw"},
		},
	}
}

var (
	checkOnce sync.Once
	checkBin  string
	checkWhy  string
)

// Available returns the Python interpreter that has Django, Django REST
// framework and simplejwt, or "" and why there is none. The check runs
// once per test binary.
func Available() (string, string) {
	checkOnce.Do(func() { checkBin, checkWhy = check() })
	return checkBin, checkWhy
}

func check() (string, string) {
	bin := os.Getenv(EnvPython)
	if bin == "" {
		bin = "/usr/bin/python3"
	}
	//nolint:gosec // G703: the interpreter the developer chose
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", bin + " not found ($" + EnvPython + "): install Debian's python3-django, python3-djangorestframework and python3-djangorestframework-simplejwt"
	}
	if _, err := projectDir(); err != nil {
		return "", err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	//nolint:gosec // G204: the interpreter the developer chose
	cmd := exec.CommandContext(ctx, bin, "-c", "import django, rest_framework, rest_framework_simplejwt")
	cmd.Env = Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("%s cannot import django, rest_framework and rest_framework_simplejwt (%v: %s): install Debian's python3-django, python3-djangorestframework and python3-djangorestframework-simplejwt",
			bin, err, lastLine(string(out)))
	}
	return bin, ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Need returns the interpreter, or skips the test (fails it when
// AUTHLAYER_REQUIRE_DJANGO=1).
func Need(t testing.TB) string {
	t.Helper()
	return testkit.Need(t, EnvRequire, Available)
}

// projectDir is test/djangoapp: $AUTHLAYER_DJANGOAPP_DIR, else next to
// this file's source.
func projectDir() (string, error) {
	dir := os.Getenv(EnvProject)
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", errors.New("djangorun: cannot locate test/djangoapp: set $" + EnvProject)
		}
		dir = filepath.Join(filepath.Dir(file), "..", "djangoapp")
	}
	//nolint:gosec // G703: the project directory the developer chose, or the one next to this source
	if _, err := os.Stat(filepath.Join(dir, "serve.py")); err != nil {
		return "", fmt.Errorf("djangorun: no serve.py in %s: set $%s to test/djangoapp", dir, EnvProject)
	}
	return filepath.Abs(dir)
}

// Env is this process's environment without what would change which
// Python packages load or which settings Django reads: the environment
// to run test/djangoapp in (the tests' servers, and the demo's).
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PYTHON") || strings.HasPrefix(name, "DJANGOAPP_") || name == "DJANGO_SETTINGS_MODULE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1", "PYTHONUNBUFFERED=1")
}

// Server is one running Django backend.
type Server struct {
	url        string
	dir        string
	signingKey string
	startup    time.Duration
	client     *http.Client

	mu     sync.Mutex // guards cmd, stdin
	cmd    *exec.Cmd
	stdin  *os.File
	exited chan struct{}
}

// Start runs the backend with o and returns once it answers. It is stopped
// when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Need(t)
	project, err := projectDir()
	if err != nil {
		t.Fatal(err)
	}
	env, key, err := settings(o)
	if err != nil {
		t.Fatalf("djangorun: %v", err)
	}
	s := &Server{
		dir:        t.TempDir(),
		signingKey: key,
		client: &http.Client{
			Timeout: callTimeout,
			// Redirects are answers to look at (a path without its
			// trailing slash answers 301), never followed.
			CheckRedirect: func(_ *http.Request, _ []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	ready := filepath.Join(s.dir, "ready.json")
	env = append(env,
		"DJANGOAPP_DB="+filepath.Join(s.dir, "db.sqlite3"),
		"DJANGOAPP_READY_FILE="+ready,
		"DJANGOAPP_HOST=127.0.0.1",
		"DJANGOAPP_PORT=0",
		"DJANGOAPP_STDIN_EXIT=1",
	)
	began := time.Now()
	if err := s.start(bin, filepath.Join(project, "serve.py"), env); err != nil {
		t.Fatalf("djangorun: %v", err)
	}
	t.Cleanup(s.Stop)
	if err := s.waitReady(ready); err != nil {
		s.Stop()
		t.Fatalf("djangorun: %v; log:\n%s", err, s.Log())
	}
	s.startup = time.Since(began)
	return s
}

// settings turns o into the project's environment variables.
func settings(o Options) ([]string, string, error) {
	if o.AccessLifetime < 0 || o.RefreshLifetime < 0 {
		return nil, "", errors.New("negative token lifetime")
	}
	access, refresh := o.AccessLifetime, o.RefreshLifetime
	if access == 0 {
		access = DefaultAccessLifetime
	}
	if refresh == 0 {
		refresh = DefaultRefreshLifetime
	}
	key := o.SigningKey
	if key == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, "", err
		}
		key = hex.EncodeToString(b)
	}
	type user struct {
		Username string   `json:"username"`
		Password string   `json:"password"`
		Groups   []string `json:"groups"`
		Email    string   `json:"email,omitempty"`
		Staff    bool     `json:"is_staff"`
	}
	users := []user{}
	for _, u := range o.Users {
		if u.Username == "" {
			return nil, "", errors.New("a user without a username")
		}
		users = append(users, user{u.Username, u.Password, append([]string{}, u.Groups...), u.Email, u.Staff})
	}
	//nolint:gosec // G117: the test users' passwords go to the server in its environment, never to a log
	usersJSON, err := json.Marshal(users)
	if err != nil {
		return nil, "", err
	}
	for _, h := range o.AllowedHosts {
		if strings.ContainsAny(h, ", ") {
			return nil, "", fmt.Errorf("allowed host %q holds a comma or a space", h)
		}
	}
	env := append(Env(),
		"DJANGOAPP_SECRET_KEY="+key,
		"DJANGOAPP_SIGNING_KEY="+key,
		"DJANGOAPP_ACCESS_TOKEN_LIFETIME="+seconds(access),
		"DJANGOAPP_REFRESH_TOKEN_LIFETIME="+seconds(refresh),
		"DJANGOAPP_ROTATE_REFRESH_TOKENS="+boolEnv(o.Rotate),
		"DJANGOAPP_BLACKLIST_AFTER_ROTATION="+boolEnv(o.BlacklistAfterRotation),
		"DJANGOAPP_USERS="+string(usersJSON),
		"DJANGOAPP_ALLOWED_HOSTS="+strings.Join(o.AllowedHosts, ","),
	)
	return env, key, nil
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

func boolEnv(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// start runs serve.py with its output in django.log and its stdin on a
// pipe the test holds: when the test binary dies, the pipe closes and the
// server exits.
func (s *Server) start(bin, script string, env []string) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "django.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	//nolint:gosec // G204: the interpreter the developer chose and the project's own script
	cmd := exec.CommandContext(context.Background(), bin, script)
	cmd.Dir = s.dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, logf, logf
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.stdin, s.exited = cmd, w, exited
	s.mu.Unlock()
	return nil
}

// waitReady waits for the ready file, then for an answer from the server.
func (s *Server) waitReady(ready string) error {
	deadline := time.Now().Add(startWait)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("the Django server exited at start (%s)", s.cmd.ProcessState)
		default:
		}
		b, err := os.ReadFile(ready)
		if err == nil {
			var r struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(b, &r); err != nil || !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
				return fmt.Errorf("bad ready file %q", b)
			}
			s.url = r.URL
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Django server was not listening after %s", startWait)
		}
		time.Sleep(pollEvery)
	}
	for {
		resp, err := s.do(http.MethodGet, CountsPath, "", "", nil)
		if err == nil && resp.Status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Django server did not answer after %s: %v", startWait, err)
		}
		time.Sleep(pollEvery)
	}
}

// Stop ends the server: stdin is closed (it exits), SIGKILL after 3 s.
// Calls after the first do nothing; later requests are refused.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, stdin, exited := s.cmd, s.stdin, s.exited
	s.cmd, s.stdin = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = stdin.Close()
	select {
	case <-exited:
		return
	case <-time.After(stopWait):
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(stopWait):
	}
}

// URL is the server's base URL, http://127.0.0.1:<port>, without a
// trailing slash.
func (s *Server) URL() string { return s.url }

// SigningKey is the HS256 key the tokens are signed with.
func (s *Server) SigningKey() string { return s.signingKey }

// StartupTime is how long Start took from launching Python to the first
// answer (imports, migrations, users).
func (s *Server) StartupTime() time.Duration { return s.startup }

// Dir is the server's temporary directory (db.sqlite3, django.log).
func (s *Server) Dir() string { return s.dir }

// Log returns the end of the server's log (request lines, warnings,
// tracebacks; never a body).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "django.log"))
	if len(b) > maxLog {
		b = b[len(b)-maxLog:]
	}
	return string(b)
}

// Response is one answer of the server (its String hides the tokens).
type Response = testkit.BackendResponse

// Post sends body as JSON to path (no Authorization) and returns the
// answer; a transport error fails the test.
func (s *Server) Post(t testing.TB, path string, body interface{}) Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("djangorun: %v", err)
	}
	resp, err := s.do(http.MethodPost, path, "", "application/json", b)
	if err != nil {
		t.Fatalf("djangorun: POST %s: %v", path, err)
	}
	return resp
}

// Get sends GET path, with "Authorization: Bearer <bearer>" unless bearer
// is empty.
func (s *Server) Get(t testing.TB, path, bearer string) Response {
	t.Helper()
	auth := ""
	if bearer != "" {
		auth = "Bearer " + bearer
	}
	resp, err := s.do(http.MethodGet, path, auth, "", nil)
	if err != nil {
		t.Fatalf("djangorun: GET %s: %v", path, err)
	}
	return resp
}

// Do sends one request as given (method, path, Authorization header value,
// Content-Type and body; empty ones are left out).
func (s *Server) Do(t testing.TB, method, path, authorization, contentType string, body []byte) Response {
	t.Helper()
	resp, err := s.do(method, path, authorization, contentType, body)
	if err != nil {
		t.Fatalf("djangorun: %s %s: %v", method, path, err)
	}
	return resp
}

func (s *Server) do(method, path, authorization, contentType string, body []byte) (Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return Response{}, err
	}
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return testkit.Exchange(s.client, req, maxBody)
}

// Login posts the credentials to /api/token/ and returns the pair; any
// answer but 200 with both tokens fails the test.
func (s *Server) Login(t testing.TB, user, pass string) (access, refresh string) {
	t.Helper()
	r := s.Post(t, TokenPath, map[string]string{"username": user, "password": pass})
	access, _ = r.JSON["access"].(string)
	refresh, _ = r.JSON["refresh"].(string)
	if r.Status != http.StatusOK || access == "" || refresh == "" {
		t.Fatalf("djangorun: login as %q: %d, fields %v", user, r.Status, keys(r.JSON))
	}
	return access, refresh
}

func keys(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Counts returns the number of requests per path (every path but
// /_test/...) since the start or the last ResetCounts.
func (s *Server) Counts(t testing.TB) map[string]int {
	t.Helper()
	r := s.Get(t, CountsPath, "")
	counts := map[string]int{}
	if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &counts) != nil {
		t.Fatalf("djangorun: counts: %s", r)
	}
	return counts
}

// ResetCounts sets every count back to zero.
func (s *Server) ResetCounts(t testing.TB) {
	t.Helper()
	if r := s.Post(t, ResetPath, map[string]string{}); r.Status != http.StatusOK {
		t.Fatalf("djangorun: reset counts: %s", r)
	}
}

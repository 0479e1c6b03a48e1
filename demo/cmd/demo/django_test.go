package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// needDjango skips the test without Django's Python packages, or fails it
// when AUTHLAYER_REQUIRE_DJANGO=1.
func needDjango(t *testing.T) {
	t.Helper()
	python, err := devstack.FindDjangoPython("")
	if err == nil {
		_, err = devstack.DjangoVersion(context.Background(), python)
	}
	if err == nil {
		_, err = devstack.FindDjangoApp("../../..")
	}
	if err == nil {
		return
	}
	if os.Getenv(devstack.EnvRequireDjango) == "1" {
		t.Fatalf("%s=1 and %v", devstack.EnvRequireDjango, err)
	}
	t.Skipf("skipped: %v; %s=1 makes this a failure", err, devstack.EnvRequireDjango)
}

// syncLog is a log destination the stack's goroutines and the test share.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunDjangoDevHost: `go run ./cmd/demo -backend django -front
// devhost` (make demo BACKEND=django without a Traefik binary): the real
// Django backend behind the dev host, login, dashboard, role rule and
// logout through it, and Django stopped with the demo.
func TestRunDjangoDevHost(t *testing.T) {
	needDjango(t)
	runDjangoDemo(t, flags{listen: "127.0.0.1:0", front: "devhost"}, "front: dev host")
}

// TestRunDjangoTraefik: the same with a real Traefik in front (skipped
// without a binary unless AUTHLAYER_REQUIRE_TRAEFIK=1).
func TestRunDjangoTraefik(t *testing.T) {
	needDjango(t)
	bin := traefikrun.Binary(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	runDjangoDemo(t, flags{listen: fmt.Sprintf("127.0.0.1:%d", port), front: "traefik", traefikBin: bin}, "front: traefik binary at "+bin)
}

// djangoURL finds the Django backend's address in the demo's log.
var djangoURL = regexp.MustCompile(`auth backend: Django \S+ with REST framework and simplejwt \(.*\) on (http://127\.0\.0\.1:\d+):`)

func runDjangoDemo(t *testing.T, f flags, wantFront string) {
	t.Helper()
	args := []string{"-backend", "django"}
	parsed, err := parseFlags(args, io.Discard)
	if err != nil || !parsed.django {
		t.Fatalf("parseFlags(%q): django %v, %v", args, parsed.django, err)
	}
	f.django = true
	f.backend, f.app = defaultBackend, "127.0.0.1:0"
	f.compose, f.pluginRoot = "../../docker-compose.yml", "../../.."
	f.accessTTL, f.refreshTTL, f.reuseGrace = 20*time.Second, time.Hour, 10*time.Second

	logs := &syncLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frontc := make(chan string, 1)
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- run(ctx, f, log.New(logs, "", 0), func(u string) { frontc <- u }) }()
	var front string
	select {
	case front = <-frontc:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, logs.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("the stack did not start within 90s:\n%s", logs.String())
	}
	t.Logf("the Django demo served %s after %s", front, time.Since(began).Round(time.Millisecond))
	m := djangoURL.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("the log does not say where Django runs:\n%s", logs.String())
	}
	backend := m[1]
	if !strings.Contains(logs.String(), wantFront) {
		t.Errorf("the log does not say %q:\n%s", wantFront, logs.String())
	}

	walkDjangoDemo(t, front)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop within 20s of cancel")
	}
	// Django went with the demo.
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(backend + "/_test/counts"); err == nil {
		resp.Body.Close()
		t.Errorf("Django at %s still answers after the demo stopped", backend)
	}
}

// landing is where a request ended after its redirects.
type landing struct {
	StatusCode int
	URL        *url.URL
}

// walkDjangoDemo signs in and out through the front as a browser would.
func walkDjangoDemo(t *testing.T, front string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	frontURL, _ := url.Parse(front)
	// do sends req and returns where the redirects ended, the status and
	// the body.
	do := func(req *http.Request) (landing, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return landing{StatusCode: resp.StatusCode, URL: resp.Request.URL}, string(b)
	}
	get := func(path string, accept string) (landing, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, front+path, nil)
		req.Header.Set("Accept", accept)
		return do(req)
	}
	post := func(path string, form url.Values) (landing, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, front+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Origin", front) // CSRF is on: a browser's form says where it comes from
		return do(req)
	}
	const html = "text/html"
	tokens := func() []string {
		var out []string
		for _, c := range jar.Cookies(frontURL) {
			if c.Name == "userToken" || c.Name == "refreshToken" {
				out = append(out, c.Value)
			}
		}
		return out
	}
	noToken := func(what, body string) {
		t.Helper()
		for _, tok := range tokens() {
			if tok != "" && strings.Contains(body, tok) {
				t.Errorf("%s: the answer holds a token", what)
			}
		}
	}

	// No guests with Django: a visitor is anonymous.
	resp, body := get("/api/public/hello", "application/json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"visitor":"anonymous"`) {
		t.Errorf("GET /api/public/hello: %d %s, want 200 anonymous", resp.StatusCode, body)
	}
	resp, _ = get("/dashboard", html)
	if resp.URL.Path != "/login" || resp.URL.Query().Get("redirect") != "/dashboard" {
		t.Errorf("GET /dashboard signed out: ended at %s, want /login?redirect=/dashboard", resp.URL)
	}

	// A wrong password comes back to the login page with the message.
	resp, body = post("/auth/login", url.Values{"username": {"alice"}, "password": {"nope"}, "redirect": {"/dashboard"}})
	if resp.URL.Path != "/login" || !strings.Contains(body, "Wrong username or password.") {
		t.Errorf("login with a wrong password: ended at %s, want /login with the message", resp.URL)
	}

	// alice signs in with the form and lands on her dashboard: her
	// username (from the token's claims), the backend's validation.
	resp, body = post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}, "redirect": {"/dashboard"}})
	if resp.StatusCode != http.StatusOK || resp.URL.Path != "/dashboard" {
		t.Fatalf("login: ended at %s with %d, want alice's dashboard", resp.URL.Path, resp.StatusCode)
	}
	for _, want := range []string{"Signed in as <strong>alice</strong>", "validated by the backend", devstack.DjangoValidateCall, `data-claim="username"`, `data-claim="roles"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the dashboard after login does not show %q", want)
		}
	}
	if strings.Contains(body, "verified locally") {
		t.Error("the dashboard says verified locally: the Django demo has no local verification")
	}
	if len(tokens()) != 2 {
		t.Errorf("after login: %d token cookies, want userToken and refreshToken", len(tokens()))
	}
	noToken("the dashboard", body)

	// The session endpoint: alice, her groups as roles, no token.
	resp, body = get("/auth/session", "application/json")
	var info struct {
		Authenticated bool                   `json:"authenticated"`
		TokenType     string                 `json:"tokenType"`
		User          map[string]interface{} `json:"user"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || !info.Authenticated || info.TokenType != "access" ||
		info.User["username"] != "alice" || fmt.Sprint(info.User["roles"]) != "[user]" {
		t.Errorf("GET /auth/session: %d %s, want alice's session (token type access, roles [user])", resp.StatusCode, body)
	}
	noToken("the session endpoint", body)

	// The role rule reads the roles claim (Django groups): alice is no admin.
	resp, _ = get("/admin", html)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /admin as alice: %d, want 403", resp.StatusCode)
	}
	resp, body = get("/api/me", "application/json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"username":"alice"`) {
		t.Errorf("GET /api/me as alice: %d %s", resp.StatusCode, body)
	}

	// Log out: the cookies go, the dashboard sends to the login page.
	resp, _ = post("/auth/logout", url.Values{})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("logout: ended at %s with %d", resp.URL, resp.StatusCode)
	}
	if n := len(tokens()); n != 0 {
		t.Errorf("after logout: %d token cookies left", n)
	}
	resp, _ = get("/dashboard", html)
	if resp.URL.Path != "/login" {
		t.Errorf("GET /dashboard after logout: ended at %s, want /login", resp.URL)
	}

	// admin (the group admin) reaches /admin.
	resp, _ = post("/auth/login", url.Values{"username": {"admin"}, "password": {"admin"}, "redirect": {"/admin"}})
	if resp.StatusCode != http.StatusOK || resp.URL.Path != "/admin" {
		t.Errorf("login as admin: ended at %s with %d, want /admin", resp.URL.Path, resp.StatusCode)
	}
}

// TestParseFlagsBackendDjango: -backend django selects the Django backend
// (any case) and keeps the demo backend's address unset; with -cluster it
// is refused.
func TestParseFlagsBackendDjango(t *testing.T) {
	for _, args := range [][]string{{"-backend", "django"}, {"-backend=Django"}} {
		f, err := parseFlags(args, io.Discard)
		if err != nil || !f.django || f.backendSet || f.backend != defaultBackend {
			t.Errorf("parseFlags(%q) = django %v backendSet %v backend %q, %v", args, f.django, f.backendSet, f.backend, err)
		}
	}
	if f, err := parseFlags([]string{"-backend", "127.0.0.1:9011"}, io.Discard); err != nil || f.django || f.backend != "127.0.0.1:9011" {
		t.Errorf("-backend with an address: django %v backend %q, %v", f.django, f.backend, err)
	}
	if _, err := parseFlags([]string{"-cluster", "-backend", "django"}, io.Discard); err == nil {
		t.Error("-cluster -backend django: no error")
	}
}

// TestMakeDemoPassesBackend: `make demo BACKEND=django` runs the demo
// with -backend django, and a BACKEND only in the environment passes
// nothing.
func TestMakeDemoPassesBackend(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../../..", "demo", "BACKEND=django", "PORT=8081").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo BACKEND=django: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "./cmd/demo -port 8081 -backend django") {
		t.Errorf("make demo BACKEND=django PORT=8081 does not pass -backend django:\n%s", out)
	}
	cmd := exec.Command("make", "-s", "-n", "-C", "../../..", "demo")
	cmd.Env = append(os.Environ(), "BACKEND=postgres")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "-backend") {
		t.Errorf("make demo with BACKEND only in the environment passes a backend:\n%s", out)
	}
}

// TestFindDjangoAppWalksUp: the project is found from the repository's
// root, from the demo and from deeper down; $AUTHLAYER_DJANGOAPP_DIR wins.
func TestFindDjangoAppWalksUp(t *testing.T) {
	t.Setenv(devstack.EnvDjangoApp, "")
	want, err := devstack.FindDjangoApp("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, start := range []string{".", "../..", "../../app/static"} {
		got, err := devstack.FindDjangoApp(start)
		if err != nil || got != want {
			t.Errorf("FindDjangoApp(%q) = %q, %v; want %q", start, got, err, want)
		}
	}
	if _, err := devstack.FindDjangoApp(t.TempDir()); err == nil {
		t.Error("found a project above a temporary directory")
	}
	t.Setenv(devstack.EnvDjangoApp, t.TempDir())
	if _, err := devstack.FindDjangoApp("."); err == nil || !strings.Contains(err.Error(), devstack.EnvDjangoApp) {
		t.Errorf("a $%s without serve.py: %v", devstack.EnvDjangoApp, err)
	}
}

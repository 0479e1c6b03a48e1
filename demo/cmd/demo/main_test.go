package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestRunDevHost starts the whole stack as `go run ./cmd/demo -front
// devhost` does, on random loopback ports, serves one page, and stops it.
func TestRunDevHost(t *testing.T) {
	f := flags{
		listen: "127.0.0.1:0", backend: "127.0.0.1:0", app: "127.0.0.1:0",
		compose: "../../docker-compose.yml", pluginRoot: "../../..", front: "devhost",
		accessTTL: 20 * time.Second, refreshTTL: time.Hour, reuseGrace: 10 * time.Second,
	}
	var logs strings.Builder
	logger := log.New(&logs, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frontc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, f, logger, func(u string) { frontc <- u }) }()

	var front string
	select {
	case front = <-frontc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the stack did not start within 60s")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(front + "/api/public/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"visitor":"guest"`) {
		t.Errorf("GET /api/public/hello = %d %s, want 200 as a guest", resp.StatusCode, body)
	}
	loginShowsVerifiedLocally(t, front)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15s of cancel")
	}
	if !strings.Contains(logs.String(), "front: dev host: authlayer interpreted by Yaegi v0.16.1, -front devhost") {
		t.Errorf("the log does not say which front ran:\n%s", logs.String())
	}
}

func TestPickFront(t *testing.T) {
	if bin, err := pickFront(flags{front: "devhost"}); bin != "" || err != nil {
		t.Errorf("devhost: %q %v", bin, err)
	}
	if _, err := pickFront(flags{front: "nginx"}); err == nil {
		t.Error("unknown front: no error")
	}
	if bin, err := pickFront(flags{front: "traefik", traefikBin: "/opt/traefik"}); bin != "/opt/traefik" || err != nil {
		t.Errorf("explicit binary: %q %v", bin, err)
	}
	t.Setenv("TRAEFIK_BIN", "/opt/from-env/traefik")
	if bin, err := pickFront(flags{front: "auto"}); bin != "/opt/from-env/traefik" || err != nil {
		t.Errorf("TRAEFIK_BIN: %q %v", bin, err)
	}
	if bin, err := pickFront(flags{front: "auto", traefikBin: "/opt/traefik"}); bin != "/opt/traefik" || err != nil {
		t.Errorf("-traefik over TRAEFIK_BIN: %q %v", bin, err)
	}
	t.Setenv("TRAEFIK_BIN", "")
	t.Setenv("PATH", t.TempDir())
	if bin, err := pickFront(flags{front: "auto"}); bin != "" || err != nil {
		t.Errorf("auto without traefik on PATH: %q %v, want the dev host", bin, err)
	}
	if _, err := pickFront(flags{front: "traefik"}); err == nil {
		t.Error("-front traefik without a binary: no error")
	}
}

func TestBrowserURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080": "http://localhost:8080", ":8080": "http://localhost:8080",
		"[::1]:80": "http://localhost:80", "192.0.2.1:8080": "http://192.0.2.1:8080",
	} {
		if got := browserURL(in); got != want {
			t.Errorf("browserURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRunTraefik starts the whole stack as `go run ./cmd/demo -front
// traefik` does, with a real Traefik binary (TRAEFIK_BIN, PATH, or the
// build-traefik cache; skipped without one unless
// AUTHLAYER_REQUIRE_TRAEFIK=1), serves one page through it, and stops it.
func TestRunTraefik(t *testing.T) {
	bin := traefikrun.Binary(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	f := flags{
		listen: fmt.Sprintf("127.0.0.1:%d", port), backend: "127.0.0.1:0", app: "127.0.0.1:0",
		compose: "../../docker-compose.yml", pluginRoot: "../../..", front: "traefik", traefikBin: bin,
		accessTTL: 20 * time.Second, refreshTTL: time.Hour, reuseGrace: 10 * time.Second,
	}
	var logs strings.Builder
	logger := log.New(&logs, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	frontc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, f, logger, func(u string) { frontc <- u }) }()

	var front string
	select {
	case front = <-frontc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("the stack did not start within 90s")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(front + "/api/public/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"visitor":"guest"`) {
		t.Errorf("GET /api/public/hello through Traefik = %d %s, want 200 as a guest", resp.StatusCode, body)
	}
	loginShowsVerifiedLocally(t, front)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop within 20s of cancel")
	}
	if !strings.Contains(logs.String(), "front: traefik binary at "+bin) {
		t.Errorf("the log does not say which front ran:\n%s", logs.String())
	}
}

// loginShowsVerifiedLocally signs in as alice through authlayer's login
// endpoint on the front and checks that the dashboard says authlayer
// verified her token itself: the backend signs with the compose file's
// key and the middleware has its public half.
func loginShowsVerifiedLocally(t *testing.T, front string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	form := url.Values{"username": {"alice"}, "password": {"alice"}, "redirect": {"/dashboard"}}
	req, err := http.NewRequest(http.MethodPost, front+"/auth/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", front) // CSRF is on: a browser's form says where it comes from
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/dashboard" {
		t.Fatalf("login: ended at %s with %d, want alice's dashboard", resp.Request.URL.Path, resp.StatusCode)
	}
	if !strings.Contains(string(body), "Alice Martin") || !strings.Contains(string(body), "verified locally") {
		t.Errorf("the dashboard after login does not show Alice Martin's token as verified locally:\n%s", body)
	}
}

func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

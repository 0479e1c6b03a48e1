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
	"os"
	"os/exec"
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

// busyPort holds a loopback port for the test's duration and returns its
// address.
func busyPort(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestBusyFrontPortSaysSo: with the front's port taken, run stops at
// once, before starting anything, with a message naming the port and the
// way to choose another (make demo PORT=…), for both fronts.
func TestBusyFrontPortSaysSo(t *testing.T) {
	addr := busyPort(t)
	_, port, _ := net.SplitHostPort(addr)
	for _, front := range []string{"devhost", "traefik"} {
		t.Run(front, func(t *testing.T) {
			f := flags{
				listen: addr, backend: "127.0.0.1:0", app: "127.0.0.1:0",
				compose: "../../docker-compose.yml", pluginRoot: "../../..", front: front,
				// Never started: the port is checked first.
				traefikBin: "/nonexistent/traefik",
				accessTTL:  20 * time.Second,
				refreshTTL: time.Hour,
				reuseGrace: 10 * time.Second,
				backendSet: true,
				appSet:     true,
			}
			var logs strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := run(ctx, f, log.New(&logs, "", 0), func(string) { t.Error("the stack announced itself on a busy port") })
			if err == nil {
				t.Fatal("run on a busy port returned no error")
			}
			msg := err.Error()
			for _, want := range []string{"port " + port + " is already in use", "make demo PORT=", "-port "} {
				if !strings.Contains(msg, want) {
					t.Errorf("the error does not say %q:\n%s", want, msg)
				}
			}
			if strings.Contains(logs.String(), "front:") {
				t.Errorf("a front was started on a busy port:\n%s", logs.String())
			}
		})
	}
}

// TestBusyServicePorts: a busy default address of the backend or the app
// gives way to a free port (they are reached only through the front); one
// chosen with -backend or -app is an error naming the flag.
func TestBusyServicePorts(t *testing.T) {
	addr := busyPort(t)
	var logs strings.Builder
	logger := log.New(&logs, "", 0)
	ln, err := listenService(context.Background(), logger, "auth backend", "-backend", addr, false)
	if err != nil {
		t.Fatalf("a busy default address: %v", err)
	}
	got := ln.Addr().String()
	ln.Close()
	if got == addr {
		t.Fatalf("listened on the busy address %s", addr)
	}
	if !strings.Contains(logs.String(), addr+" is in use") || !strings.Contains(logs.String(), got) {
		t.Errorf("the fallback is not logged with both addresses:\n%s", logs.String())
	}
	_, err = listenService(context.Background(), logger, "app", "-app", addr, true)
	if err == nil || !strings.Contains(err.Error(), addr+" is already in use") || !strings.Contains(err.Error(), "-app") {
		t.Errorf("a busy chosen address: %v, want an error naming %s and -app", err, addr)
	}
}

func TestParseFlagsPort(t *testing.T) {
	for _, c := range []struct {
		args       []string
		listen     string
		backendSet bool
	}{
		{nil, "127.0.0.1:8080", false},
		{[]string{"-port", "8081"}, "127.0.0.1:8081", false},
		{[]string{"-listen", "0.0.0.0:9000", "-port", "8082"}, "0.0.0.0:8082", false},
		{[]string{"-listen", "127.0.0.1:8090"}, "127.0.0.1:8090", false},
		{[]string{"-backend", "127.0.0.1:9001"}, "127.0.0.1:8080", true},
	} {
		f, err := parseFlags(c.args, io.Discard)
		if err != nil || f.listen != c.listen || f.backendSet != c.backendSet {
			t.Errorf("parseFlags(%q) = listen %q backendSet %v, %v; want %q %v", c.args, f.listen, f.backendSet, err, c.listen, c.backendSet)
		}
	}
	for _, bad := range [][]string{{"-port", "70000"}, {"-port", "x"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

// TestMakeDemoPassesPort: `make demo PORT=8081` runs the demo with -port
// 8081, and plain `make demo` with no -port, even with a PORT in the
// environment (many shells and platforms set one for other programs).
func TestMakeDemoPassesPort(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../../..", "demo", "PORT=8081").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo PORT=8081: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "./cmd/demo -port 8081") {
		t.Errorf("make demo PORT=8081 does not pass -port 8081:\n%s", out)
	}
	cmd := exec.Command("make", "-s", "-n", "-C", "../../..", "demo")
	cmd.Env = append(os.Environ(), "PORT=3000")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "-port") {
		t.Errorf("make demo with PORT only in the environment passes a port:\n%s", out)
	}
}

package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"
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

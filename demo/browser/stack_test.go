package browser_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/demo/app"
	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Environment variables choosing the stack the walk-through runs against.
const (
	// envDemoURL points the test at an already running demo stack (for
	// example `make demo`: http://localhost:8080); nothing is started.
	envDemoURL = "AUTHLAYER_DEMO_URL"
	// envDemoAccessTTL is that stack's access-token lifetime (the demo
	// command's -access-ttl); default authbackend.DefaultAccessTTL.
	envDemoAccessTTL = "AUTHLAYER_DEMO_ACCESS_TTL"
)

// traefikServeTimeout bounds the wait for Traefik to serve the demo.
const traefikServeTimeout = 60 * time.Second

// demoStack returns the base URL of the stack to walk through, its access
// tokens' lifetime, its refresh.proactiveWindow (from the compose labels,
// which configure every way the demo runs), and what the front is:
//
//   - AUTHLAYER_DEMO_URL set: that running stack;
//   - a Traefik binary (TRAEFIK_BIN, traefik on PATH, or the one
//     ../shared/tools/build-traefik caches): the demo's backend and app
//     started here behind that Traefik, with authlayer as a local plugin
//     configured as `make demo` configures it;
//   - otherwise the dev host (authlayer interpreted by Yaegi as Traefik
//     does), or a failure when AUTHLAYER_REQUIRE_TRAEFIK=1.
func demoStack(t *testing.T, logs *logBuffer) (base string, ttl, window time.Duration, front string) {
	t.Helper()
	setup, err := devstack.LoadSetup(composePath, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if window, err = time.ParseDuration(setup.Option("refresh.proactiveWindow")); err != nil {
		t.Fatalf("%s: refresh.proactiveWindow: %v", composePath, err)
	}
	if u := strings.TrimRight(os.Getenv(envDemoURL), "/"); u != "" {
		ttl = authbackend.DefaultAccessTTL
		if v := os.Getenv(envDemoAccessTTL); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				t.Fatalf("%s=%q: want a duration such as 20s", envDemoAccessTTL, v)
			}
			ttl = d
		}
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(u + "/")
		if err != nil {
			t.Fatalf("%s=%s: the stack does not answer: %v", envDemoURL, u, err)
		}
		_ = resp.Body.Close()
		return u, ttl, window, "the running stack at " + u
	}
	if bin, source, _ := traefikrun.FindBinary(); bin != "" {
		t.Logf("Traefik binary from %s", source)
		return startStack(t, localAccessTTL, logs, traefikrun.Binary(t)), localAccessTTL, window, "Traefik (" + bin + ")"
	}
	if os.Getenv(traefikrun.EnvRequire) == "1" {
		traefikrun.Binary(t) // fails, saying why
	}
	return startStack(t, localAccessTTL, logs, ""), localAccessTTL, window, "the dev host (Yaegi)"
}

const (
	// composePath is the demo's compose file: its app labels configure the
	// middleware, as for `make demo`.
	composePath = "../docker-compose.yml"
	// pluginRoot is the plugin's source, interpreted by Yaegi.
	pluginRoot = "../.."
)

// logBuffer collects the stack's and the browser's log lines; the test
// prints them only when it fails (servers may still log after the test
// returns, when t.Log would panic).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startStack runs the demo as `make demo` does: the real auth backend
// (access tokens living accessTTL, signed with the compose file's key),
// the real app, and in front of them
// Traefik (traefikBin) with authlayer as a local plugin, or, when
// traefikBin is "", the dev host with authlayer interpreted by Yaegi; the
// middleware's options are the compose file's labels. Everything listens
// on its own random 127.0.0.1 port. It returns the front's base URL.
func startStack(t *testing.T, accessTTL time.Duration, logs *logBuffer, traefikBin string) string {
	t.Helper()
	// Reserve the backend's address first: the middleware's options point at it.
	backendSrv := httptest.NewUnstartedServer(nil)
	setup, err := devstack.LoadSetup(composePath, backendSrv.Listener.Addr().String())
	if err != nil {
		backendSrv.Close()
		t.Fatal(err)
	}
	if setup.SigningKey == nil {
		backendSrv.Close()
		t.Fatalf("%s: the authbackend service sets no %s", composePath, authbackend.EnvPrivateKey)
	}
	guestUser, guestPass := "", ""
	if setup.GuestEnabled {
		guestUser, guestPass = setup.GuestUsername, setup.GuestPassword
	}
	backend, err := authbackend.New(authbackend.Config{
		SigningKey: setup.SigningKey, Users: authbackend.DemoUsers(),
		GuestUsername: guestUser, GuestPassword: guestPass,
		AccessTTL:   accessTTL,
		SingleToken: setup.RefreshCookie == "",
		Logger:      log.New(logs, "authbackend: ", log.Lmicroseconds),
	})
	if err != nil {
		backendSrv.Close()
		t.Fatal(err)
	}
	backendSrv.Config.Handler = backend
	backendSrv.Start()
	t.Cleanup(backendSrv.Close)

	appHandler, err := app.New(app.Options{Logger: log.New(logs, "app: ", log.Lmicroseconds)})
	if err != nil {
		t.Fatal(err)
	}
	appSrv := httptest.NewServer(appHandler)
	t.Cleanup(appSrv.Close)

	start := time.Now()
	appURL, err := url.Parse(appSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if traefikBin != "" {
		front := startTraefik(t, traefikBin, setup.Options, appURL, logs)
		t.Logf("demo stack: front (Traefik %s, authlayer as a local plugin, serving after %s) %s, backend %s, app %s; access tokens live %s",
			traefikBin, time.Since(start).Round(time.Millisecond), front, backendSrv.URL, appSrv.URL, accessTTL)
		return front
	}
	factory, err := loader.Yaegi(pluginRoot)
	if err != nil {
		t.Fatalf("interpreting the plugin with Yaegi: %v", err)
	}
	host, err := devstack.NewDevHost(factory, setup.Options, appURL, log.New(logs, "devhost: ", log.Lmicroseconds))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(host)
	t.Cleanup(front.Close)
	t.Logf("demo stack: front (dev host, authlayer under Yaegi, loaded in %s) %s, backend %s, app %s; access tokens live %s",
		time.Since(start).Round(time.Millisecond), front.URL, backendSrv.URL, appSrv.URL, accessTTL)
	return front.URL
}

// startTraefik runs bin in front of the backend and the app with the
// demo's own Traefik configuration (devstack.WriteTraefikConfig, as `make
// demo` writes it) on a free loopback port, and returns its base URL once
// it serves the demo. Traefik is stopped when the test ends.
func startTraefik(t *testing.T, bin string, options map[string]interface{}, appURL *url.URL, logs *logBuffer) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	dirs, err := devstack.WriteTraefikConfig(t.TempDir(), listen, pluginRoot, options, appURL.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- devstack.RunTraefik(ctx, bin, dirs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Logf("Traefik: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Traefik did not stop within 15s")
		}
	})

	base := "http://" + listen
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(traefikServeTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("Traefik stopped before serving the demo: %v", err)
		default:
		}
		// Traefik answers 404 until the demo's routers are loaded.
		if resp, err := client.Get(base + "/api/public/hello"); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("Traefik front: GET /api/public/hello = %d %s", resp.StatusCode, body)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("Traefik did not serve the demo at %s within %s", base, traefikServeTimeout)
	return ""
}

package browser_test

import (
	"bytes"
	"crypto/rand"
	"log"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/demo/app"
	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
)

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

// startStack runs the demo as `make demo` does with the dev host: the real
// auth backend (access tokens living accessTTL), the real app, and in front
// of them authlayer interpreted by Yaegi with the compose file's labels, each
// on its own random 127.0.0.1 port. It returns the front's base URL.
func startStack(t *testing.T, accessTTL time.Duration, logs *logBuffer) string {
	t.Helper()
	// Reserve the backend's address first: the middleware's options point at it.
	backendSrv := httptest.NewUnstartedServer(nil)
	setup, err := devstack.LoadSetup(composePath, backendSrv.Listener.Addr().String())
	if err != nil {
		backendSrv.Close()
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		backendSrv.Close()
		t.Fatal(err)
	}
	guestUser, guestPass := "", ""
	if setup.GuestEnabled {
		guestUser, guestPass = setup.GuestUsername, setup.GuestPassword
	}
	backend, err := authbackend.New(authbackend.Config{
		Secret: secret, Users: authbackend.DemoUsers(),
		GuestUsername: guestUser, GuestPassword: guestPass,
		AccessTTL: accessTTL, SecureCookies: setup.SecureCookies,
		SingleToken: setup.RefreshCookie == "", RefreshCookie: setup.RefreshCookie,
		Logger: log.New(logs, "authbackend: ", log.Lmicroseconds),
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
	factory, err := loader.Yaegi(pluginRoot)
	if err != nil {
		t.Fatalf("interpreting the plugin with Yaegi: %v", err)
	}
	backendURL, err := url.Parse(backendSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	appURL, err := url.Parse(appSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, err := devstack.NewDevHost(factory, setup.Options, backendURL, appURL, log.New(logs, "devhost: ", log.Lmicroseconds))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(host)
	t.Cleanup(front.Close)
	t.Logf("demo stack: front (dev host, authlayer under Yaegi, loaded in %s) %s, backend %s, app %s; access tokens live %s",
		time.Since(start).Round(time.Millisecond), front.URL, backendSrv.URL, appSrv.URL, accessTTL)
	return front.URL
}

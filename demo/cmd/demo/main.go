// Command demo runs the whole authlayer demo on one machine, without
// Docker: the auth backend, the app, and in front of them either a traefik
// binary (-traefik, else $TRAEFIK_BIN, else traefik on PATH) or, failing
// that, a dev host where authlayer is interpreted by Yaegi v0.16.1 exactly
// as Traefik interprets it.
//
// The middleware's options come from docker-compose.yml's labels on the app
// service (with backend.url pointed at the local backend), so this run and
// `docker compose up` use one configuration.
//
//	cd demo && go run ./cmd/demo
//	open http://localhost:8080
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/authlayer/authlayer/demo/app"
	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
)

type flags struct {
	listen, backend, app  string
	compose, pluginRoot   string
	front, traefikBin     string
	accessTTL, refreshTTL time.Duration
	reuseGrace            time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the front (traefik or the dev host)")
	flag.StringVar(&f.backend, "backend", "127.0.0.1:9001", "address of the auth backend")
	flag.StringVar(&f.app, "app", "127.0.0.1:9002", "address of the app")
	flag.StringVar(&f.compose, "compose", "docker-compose.yml", "compose file whose app labels configure the middleware")
	flag.StringVar(&f.pluginRoot, "plugin", "..", "the plugin's source directory (the repository root)")
	flag.StringVar(&f.front, "front", "auto", `"auto" (traefik if there is one, else the dev host), "traefik" or "devhost"`)
	flag.StringVar(&f.traefikBin, "traefik", "", "traefik binary to use (default: $TRAEFIK_BIN, else traefik from PATH)")
	flag.DurationVar(&f.accessTTL, "access-ttl", authbackend.DefaultAccessTTL, "access token lifetime (short, to watch refreshes)")
	flag.DurationVar(&f.refreshTTL, "refresh-ttl", authbackend.DefaultRefreshTTL, "refresh token lifetime")
	flag.DurationVar(&f.reuseGrace, "reuse-grace", authbackend.DefaultReuseGrace, "backend grace window for a replayed refresh token")
	flag.Parse()

	logger := log.New(os.Stderr, "demo: ", log.LstdFlags)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f, logger, nil); err != nil {
		logger.Fatalf("error: %v", err)
	}
	logger.Print("stopped")
}

// run starts the stack and blocks until ctx is done or a part fails.
// ready, if not nil, is called with the front's base URL once it serves.
func run(ctx context.Context, f flags, logger *log.Logger, ready func(frontURL string)) error {
	traefikBin, err := pickFront(f)
	if err != nil {
		return err
	}
	stack := &servers{errc: make(chan error, 4)}
	defer stack.shutdown()

	// Listen first: the middleware's options need the backend's real address.
	backendLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.backend)
	if err != nil {
		return fmt.Errorf("auth backend: %w", err)
	}
	appLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.app)
	if err != nil {
		backendLn.Close()
		return fmt.Errorf("app: %w", err)
	}
	backendURL := &url.URL{Scheme: "http", Host: backendLn.Addr().String()}
	appURL := &url.URL{Scheme: "http", Host: appLn.Addr().String()}

	setup, err := devstack.LoadSetup(f.compose, backendURL.Host)
	if err != nil {
		backendLn.Close()
		appLn.Close()
		return fmt.Errorf("%w (run from the demo directory, or pass -compose and -plugin)", err)
	}
	backendHandler, appHandler, err := buildServices(f, setup)
	if err != nil {
		backendLn.Close()
		appLn.Close()
		return err
	}
	stack.serve(backendLn, backendHandler)
	stack.serve(appLn, appHandler)
	logger.Printf("auth backend on %s (EdDSA tokens, kid %s, access tokens live %s), app on %s", backendURL, authbackend.KeyID(setup.SigningKey.Public().(ed25519.PublicKey)), f.accessTTL, appURL)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var front string
	if traefikBin != "" {
		dir, err := os.MkdirTemp("", "authlayer-demo-traefik-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dirs, err := devstack.WriteTraefikConfig(dir, f.listen, f.pluginRoot, setup.Options, appURL.String())
		if err != nil {
			return err
		}
		logger.Printf("front: traefik binary at %s (working directory %s)", traefikBin, dir)
		traefikDone := make(chan struct{})
		defer func() { cancel(); <-traefikDone }()
		go func() {
			defer close(traefikDone)
			if err := devstack.RunTraefik(ctx, traefikBin, dirs, prefixWriter("traefik: ")); err != nil {
				stack.errc <- err
			}
		}()
		front = f.listen
		// Announce the front only once Traefik serves the demo (it loads
		// the plugin first).
		if err := waitServing(ctx, "http://"+front+"/", stack.errc); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting
			}
			return err
		}
	} else {
		why := "no traefik binary found"
		if f.front == "devhost" {
			why = "-front devhost"
		}
		logger.Printf("front: dev host: authlayer interpreted by Yaegi v0.16.1, %s (plugin source %s)", why, absPath(f.pluginRoot))
		start := time.Now()
		factory, err := loader.Yaegi(f.pluginRoot)
		if err != nil {
			return fmt.Errorf("interpreting the plugin: %w", err)
		}
		host, err := devstack.NewDevHost(factory, setup.Options, appURL, log.New(os.Stderr, "devhost: ", log.LstdFlags))
		if err != nil {
			return err
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", f.listen)
		if err != nil {
			return fmt.Errorf("dev host: %w", err)
		}
		stack.serve(ln, host)
		logger.Printf("plugin interpreted in %s", time.Since(start).Round(time.Millisecond))
		front = ln.Addr().String()
	}
	logger.Printf("open %s — sign in as alice/alice or admin/admin; Ctrl-C stops everything", browserURL(front))
	if ready != nil {
		ready("http://" + front)
	}

	select {
	case <-ctx.Done():
		logger.Print("shutting down")
		return nil
	case err := <-stack.errc:
		return err
	}
}

// buildServices makes the backend and the app; the backend signs with the
// compose file's key (the backend service's AUTH_JWT_PRIVATE_KEY, whose
// public half the labels give authlayer) and takes its guest credentials
// and token mode from the middleware's labels.
func buildServices(f flags, setup *devstack.Setup) (http.Handler, http.Handler, error) {
	if setup.SigningKey == nil {
		return nil, nil, fmt.Errorf("%s: services.%s sets no %s: the backend needs the signing key whose public half the labels give authlayer (jwt.publicKeys)",
			f.compose, devstack.BackendService, authbackend.EnvPrivateKey)
	}
	guestUser, guestPass := "", ""
	if setup.GuestEnabled {
		guestUser, guestPass = setup.GuestUsername, setup.GuestPassword
	}
	backend, err := authbackend.New(authbackend.Config{
		SigningKey: setup.SigningKey, Users: authbackend.DemoUsers(),
		GuestUsername: guestUser, GuestPassword: guestPass,
		AccessTTL: f.accessTTL, RefreshTTL: f.refreshTTL, ReuseGrace: f.reuseGrace,
		SingleToken: setup.RefreshCookie == "",
		Logger:      log.New(os.Stderr, "authbackend: ", log.LstdFlags),
	})
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(app.Options{Logger: log.New(os.Stderr, "app: ", log.LstdFlags)})
	if err != nil {
		return nil, nil, err
	}
	return backend, a, nil
}

// servers runs HTTP servers and shuts them all down together.
type servers struct {
	list []*http.Server
	errc chan error
}

func (s *servers) serve(ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.list = append(s.list, hs)
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.errc <- err
		}
	}()
}

func (s *servers) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range s.list {
		_ = hs.Shutdown(ctx)
	}
}

// pickFront returns the traefik binary to run, or "" for the dev host:
// -traefik, else $TRAEFIK_BIN, else traefik on PATH.
func pickFront(f flags) (string, error) {
	switch f.front {
	case "devhost":
		return "", nil
	case "auto", "traefik":
	default:
		return "", fmt.Errorf("-front %q: want auto, traefik or devhost", f.front)
	}
	bin := f.traefikBin
	if bin == "" {
		bin = os.Getenv("TRAEFIK_BIN")
	}
	if bin == "" {
		found, err := exec.LookPath("traefik")
		if err != nil {
			if f.front == "traefik" {
				return "", errors.New("-front traefik: no traefik binary on PATH (pass -traefik or set TRAEFIK_BIN)")
			}
			return "", nil
		}
		bin = found
	}
	return absPath(bin), nil
}

// serveTimeout bounds the wait for Traefik to serve the demo.
const serveTimeout = 60 * time.Second

// waitServing polls url until Traefik answers it with anything but its own
// 404 (no router yet) or a gateway error, a part of the stack fails
// (errc), ctx ends, or serveTimeout passes.
func waitServing(ctx context.Context, url string, errc chan error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(serveTimeout)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			errc <- err // run's select reports it too
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("traefik did not serve %s within %s", url, serveTimeout)
}

// browserURL is the address to open: loopback and wildcard hosts become
// localhost.
func browserURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "127.0.0.1" || host == "0.0.0.0" || host == "::1" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

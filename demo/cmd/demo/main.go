// Command demo runs the whole authlayer demo on one machine, without
// Docker: the auth backend, the app, and in front of them either a traefik
// binary found on PATH or, failing that, a dev host where authlayer is
// interpreted by Yaegi v0.16.1 exactly as Traefik interprets it.
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
	"crypto/rand"
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
	flag.StringVar(&f.front, "front", "auto", `"auto" (traefik if on PATH, else the dev host), "traefik" or "devhost"`)
	flag.StringVar(&f.traefikBin, "traefik", "", "traefik binary to use (default: traefik from PATH)")
	flag.DurationVar(&f.accessTTL, "access-ttl", authbackend.DefaultAccessTTL, "access token lifetime (short, to watch refreshes)")
	flag.DurationVar(&f.refreshTTL, "refresh-ttl", authbackend.DefaultRefreshTTL, "refresh token lifetime")
	flag.DurationVar(&f.reuseGrace, "reuse-grace", authbackend.DefaultReuseGrace, "backend grace window for a replayed refresh token")
	flag.Parse()

	logger := log.New(os.Stderr, "demo: ", log.LstdFlags)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f, logger); err != nil {
		logger.Fatalf("error: %v", err)
	}
	logger.Print("stopped")
}

func run(ctx context.Context, f flags, logger *log.Logger) error {
	setup, err := devstack.LoadSetup(f.compose, f.backend)
	if err != nil {
		return fmt.Errorf("%w (run from the demo directory, or pass -compose and -plugin)", err)
	}
	traefikBin, err := pickFront(f)
	if err != nil {
		return err
	}

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	guestUser, guestPass := "", ""
	if setup.GuestEnabled {
		guestUser, guestPass = setup.GuestUsername, setup.GuestPassword
	}
	backendHandler, err := authbackend.New(authbackend.Config{
		Secret: secret, Users: authbackend.DemoUsers(),
		GuestUsername: guestUser, GuestPassword: guestPass,
		AccessTTL: f.accessTTL, RefreshTTL: f.refreshTTL, ReuseGrace: f.reuseGrace,
		SecureCookies: setup.SecureCookies, SingleToken: setup.RefreshCookie == "",
		Logger: log.New(os.Stderr, "authbackend: ", log.LstdFlags),
	})
	if err != nil {
		return err
	}
	appHandler, err := app.New(app.Options{Logger: log.New(os.Stderr, "app: ", log.LstdFlags)})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var servers []*http.Server
	serve := func(addr string, h http.Handler) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, hs)
		go func() {
			if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		return nil
	}
	defer func() {
		shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		for _, hs := range servers {
			_ = hs.Shutdown(shutdownCtx)
		}
	}()
	if err := serve(f.backend, backendHandler); err != nil {
		return fmt.Errorf("auth backend: %w", err)
	}
	if err := serve(f.app, appHandler); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	backendURL := &url.URL{Scheme: "http", Host: f.backend}
	appURL := &url.URL{Scheme: "http", Host: f.app}
	logger.Printf("auth backend on %s (access tokens live %s), app on %s", backendURL, f.accessTTL, appURL)

	if traefikBin != "" {
		dir, err := os.MkdirTemp("", "authlayer-demo-traefik-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dirs, err := devstack.WriteTraefikConfig(dir, f.listen, f.pluginRoot, setup.Options, backendURL.String(), appURL.String())
		if err != nil {
			return err
		}
		logger.Printf("front: traefik binary at %s (working directory %s)", traefikBin, dir)
		announce(logger, f.listen)
		go func() { errc <- devstack.RunTraefik(ctx, traefikBin, dirs, prefixWriter("traefik: ")) }()
	} else {
		logger.Printf("front: dev host: authlayer interpreted by Yaegi v0.16.1, no traefik binary found (loading %s)", absPath(f.pluginRoot))
		start := time.Now()
		factory, err := loader.Yaegi(f.pluginRoot)
		if err != nil {
			return fmt.Errorf("interpreting the plugin: %w", err)
		}
		host, err := devstack.NewDevHost(factory, setup.Options, backendURL, appURL, log.New(os.Stderr, "devhost: ", log.LstdFlags))
		if err != nil {
			return err
		}
		if err := serve(f.listen, host); err != nil {
			return fmt.Errorf("dev host: %w", err)
		}
		logger.Printf("plugin interpreted in %s", time.Since(start).Round(time.Millisecond))
		announce(logger, f.listen)
	}

	select {
	case <-ctx.Done():
		logger.Print("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}

// pickFront returns the traefik binary to run, or "" for the dev host.
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
		found, err := exec.LookPath("traefik")
		if err != nil {
			if f.front == "traefik" {
				return "", errors.New("-front traefik: no traefik binary on PATH (pass -traefik)")
			}
			return "", nil
		}
		bin = found
	}
	return absPath(bin), nil
}

func announce(logger *log.Logger, listen string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return
	}
	if host == "" || host == "127.0.0.1" || host == "0.0.0.0" || host == "::1" || host == "::" {
		host = "localhost"
	}
	logger.Printf("open http://%s — sign in as alice/alice or admin/admin; Ctrl-C stops everything", net.JoinHostPort(host, port))
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

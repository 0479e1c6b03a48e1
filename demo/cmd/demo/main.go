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
//	cd demo && go run ./cmd/demo      # or `make demo` from the repository root
//	open http://localhost:8080
//
// -port (`make demo PORT=8081`) moves the front to another port; a port in
// use is reported with the way to pick another.
//
// -cluster (`make demo-cluster`) runs authlayer's cluster mode instead: a
// Redis, two replicas sharing it and a round-robin front (cluster.go).
//
// -backend django (`make demo BACKEND=django`) puts a real Django REST
// framework + simplejwt backend (the repository's test/djangoapp, run by
// /usr/bin/python3) in place of the demo's auth backend, and configures
// the middleware with backend.preset django-simplejwt (django.go).
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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
	// cluster runs two replicas sharing a Redis (redisBin, or
	// redis-server from PATH) behind a round-robin front.
	cluster  bool
	redisBin string
	// backendSet and appSet say -backend and -app were given: a busy
	// default address falls back to a free port, a chosen one is an error.
	backendSet, appSet bool
	// django is -backend django: the real Django backend, on a free
	// loopback port, instead of the demo's.
	django bool
}

// Default addresses. Only the front's is the user's business: the backend
// and the app are reached through it.
const (
	defaultHost    = "127.0.0.1"
	defaultPort    = 8080
	defaultBackend = "127.0.0.1:9001"
	defaultApp     = "127.0.0.1:9002"
)

func main() {
	f, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "demo: ", log.LstdFlags)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.cluster {
		err = runCluster(ctx, f, logger, nil)
	} else {
		err = run(ctx, f, logger, nil)
	}
	if err != nil {
		logger.Fatalf("error: %v", err)
	}
	logger.Print("stopped")
}

// parseFlags reads the command line. -port replaces the port of -listen
// (`make demo PORT=8081` passes it).
func parseFlags(args []string, output io.Writer) (flags, error) {
	var f flags
	port := 0
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&f.listen, "listen", net.JoinHostPort(defaultHost, strconv.Itoa(defaultPort)), "address of the front (traefik or the dev host)")
	fs.IntVar(&port, "port", 0, "port of the front, on -listen's host (default: -listen's port, 8080)")
	fs.StringVar(&f.backend, "backend", defaultBackend, `address of the demo's auth backend (if the default is busy, a free port), or "django": a real Django REST framework + simplejwt backend (`+devstack.DjangoAppDir+`, run by `+devstack.DebianPython+`) on a free loopback port, with backend.preset `+devstack.DjangoPreset)
	fs.StringVar(&f.app, "app", defaultApp, "address of the app (if the default is busy, a free port)")
	fs.StringVar(&f.compose, "compose", "", "compose file whose app labels configure the middleware (default docker-compose.yml, with -cluster docker-compose.cluster.yml)")
	fs.StringVar(&f.pluginRoot, "plugin", "..", "the plugin's source directory (the repository root)")
	fs.StringVar(&f.front, "front", "auto", `"auto" (traefik if there is one, else the dev host), "traefik" or "devhost"`)
	fs.StringVar(&f.traefikBin, "traefik", "", "traefik binary to use (default: $TRAEFIK_BIN, else traefik from PATH; with -cluster, else the build-traefik cache)")
	fs.DurationVar(&f.accessTTL, "access-ttl", authbackend.DefaultAccessTTL, "access token lifetime (short, to watch refreshes)")
	fs.DurationVar(&f.refreshTTL, "refresh-ttl", authbackend.DefaultRefreshTTL, "refresh token lifetime")
	fs.DurationVar(&f.reuseGrace, "reuse-grace", authbackend.DefaultReuseGrace, "backend grace window for a replayed refresh token")
	fs.BoolVar(&f.cluster, "cluster", false, "cluster mode: a Redis, two authlayer replicas sharing it, and a round-robin front on -listen (make demo-cluster)")
	fs.StringVar(&f.redisBin, "redis-server", "", "with -cluster: the redis-server to run (default: redis-server from PATH, else "+devstack.DebianRedis+")")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.compose == "" {
		f.compose = "docker-compose.yml"
		if f.cluster {
			f.compose = "docker-compose.cluster.yml"
		}
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintln(output, err)
		return f, err
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "backend":
			f.backendSet = true
		case "app":
			f.appSet = true
		}
	})
	if strings.EqualFold(f.backend, backendDjango) {
		f.django, f.backendSet, f.backend = true, false, defaultBackend
		if f.cluster {
			err := errors.New("-backend django runs the single-replica demo: leave out -cluster")
			fmt.Fprintln(output, err)
			return f, err
		}
	}
	if port != 0 {
		if port < 1 || port > 65535 {
			err := fmt.Errorf("-port %d: want 1 to 65535", port)
			fmt.Fprintln(output, err)
			return f, err
		}
		host, _, err := net.SplitHostPort(f.listen)
		if err != nil {
			err = fmt.Errorf("-listen %q: %w", f.listen, err)
			fmt.Fprintln(output, err)
			return f, err
		}
		f.listen = net.JoinHostPort(host, strconv.Itoa(port))
	}
	return f, nil
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

	// The front's port first: it is the one a user chooses, and the one
	// most likely taken (an earlier demo still running). Traefik binds it
	// itself, so for Traefik it is only checked, and let go just before.
	frontLn, err := listenFront(ctx, f.listen, false)
	if err != nil {
		return err
	}
	frontOpen := true
	defer func() {
		if frontOpen {
			frontLn.Close()
		}
	}()

	// Then the backend and the app: the middleware's options need the
	// backend's real address. The Django backend listens on a port of
	// its choosing and is stopped after the front (deferred first).
	var backendLn net.Listener
	var backendURL *url.URL
	if f.django {
		dj, stopDjango, err := startDjango(ctx, f, logger)
		if err != nil {
			return err
		}
		defer stopDjango()
		if backendURL, err = url.Parse(dj.URL); err != nil {
			return err
		}
		go func() {
			<-dj.Exited()
			select {
			case stack.errc <- errors.New("the Django backend exited (its log, above, says why)"):
			default:
			}
		}()
	} else {
		if backendLn, err = listenService(ctx, logger, "auth backend", "-backend", f.backend, f.backendSet); err != nil {
			return err
		}
		backendURL = &url.URL{Scheme: "http", Host: backendLn.Addr().String()}
	}
	closeBackend := func() {
		if backendLn != nil {
			backendLn.Close()
		}
	}
	appLn, err := listenService(ctx, logger, "app", "-app", f.app, f.appSet)
	if err != nil {
		closeBackend()
		return err
	}
	appURL := &url.URL{Scheme: "http", Host: appLn.Addr().String()}

	setup, err := devstack.LoadSetup(f.compose, backendURL.Host)
	if err == nil && f.django {
		setup, err = setup.ForDjango()
	}
	if err != nil {
		closeBackend()
		appLn.Close()
		return fmt.Errorf("%w (run from the demo directory, or pass -compose and -plugin)", err)
	}
	backendHandler, appHandler, err := buildServices(f, setup)
	if err != nil {
		closeBackend()
		appLn.Close()
		return err
	}
	if f.django {
		logger.Printf("app on %s; authlayer asks the Django backend (backend.preset %s)", appURL, devstack.DjangoPreset)
	} else {
		stack.serve(backendLn, backendHandler)
		logger.Printf("auth backend on %s (EdDSA tokens, kid %s, access tokens live %s), app on %s", backendURL, authbackend.KeyID(setup.SigningKey.Public().(ed25519.PublicKey)), f.accessTTL, appURL)
	}
	stack.serve(appLn, appHandler)

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
		frontLn.Close() // Traefik binds it
		frontOpen = false
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
		stack.serve(frontLn, host) // the server closes it
		frontOpen = false
		logger.Printf("plugin interpreted in %s", time.Since(start).Round(time.Millisecond))
		front = frontLn.Addr().String()
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

// listenFront listens on the front's address; a port in use is said in
// words, with the way to pick another (for the cluster demo, `make
// demo-cluster PORT=`).
func listenFront(ctx context.Context, addr string, cluster bool) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("front on %s: %w", addr, err)
	}
	host, port, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, fmt.Errorf("front on %s: %w", addr, err)
	}
	other := "another port"
	n, _ := strconv.Atoi(port)
	if free := freePortAbove(ctx, host, n); free != 0 {
		other = strconv.Itoa(free)
	}
	target, flag := "demo", ""
	if cluster {
		target, flag = "demo-cluster", " -cluster"
	}
	return nil, fmt.Errorf("port %s is already in use (%s): another program listens there, perhaps an earlier demo "+
		"(`ss -ltnp 'sport = :%s'` shows which). Stop it, or run the demo on a free port: "+
		"make %s PORT=%s (or go run ./cmd/demo%s -port %s)", port, addr, port, target, other, flag, other)
}

// freePortAbove returns the first port after port on host that can be
// listened on now (it may be taken again by the time it is used), or 0.
func freePortAbove(ctx context.Context, host string, port int) int {
	for p := port + 1; p <= port+20 && p <= 65535; p++ {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p
		}
	}
	return 0
}

// listenService listens for the auth backend or the app. They are reached
// only through the front, so a default address in use gives way to a free
// port; an address given with its flag must be free.
func listenService(ctx context.Context, logger *log.Logger, what, flagName, addr string, chosen bool) (net.Listener, error) {
	lc := &net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s on %s: %w", what, addr, err)
	}
	if chosen {
		return nil, fmt.Errorf("%s: %s is already in use by another program: stop it, or give %s another address (%s 127.0.0.1:0 takes any free port)", what, addr, flagName, flagName)
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		return nil, fmt.Errorf("%s on %s: %w", what, addr, err)
	}
	ln, err2 := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, fmt.Errorf("%s on %s: %w", what, addr, err)
	}
	logger.Printf("%s: %s is in use by another program; using %s instead (only the front reaches it)", what, addr, ln.Addr())
	return ln, nil
}

// buildServices makes the backend and the app; the backend signs with the
// compose file's key (the backend service's AUTH_JWT_PRIVATE_KEY, whose
// public half the labels give authlayer) and takes its guest credentials
// and token mode from the middleware's labels. With -backend django there
// is no backend to make (nil): Django runs on its own.
func buildServices(f flags, setup *devstack.Setup) (http.Handler, http.Handler, error) {
	if f.django {
		a, err := app.New(app.Options{Logger: log.New(os.Stderr, "app: ", log.LstdFlags), ValidateCall: devstack.DjangoValidateCall})
		return nil, a, err
	}
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

// Command authbackend runs the demo auth service.
//
// Every flag has an environment variable (shown in -help); the signing
// secret is read only from AUTH_JWT_SECRET, never from a flag, so that it
// does not show in the process list. Without it a random secret is used and
// tokens die with the process.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/authlayer/authlayer/demo/authbackend"
)

func main() {
	if err := run(); err != nil {
		log.Fatalf("authbackend: %v", err)
	}
}

func run() error {
	var (
		addr          = flag.String("addr", env("AUTH_ADDR", ":9001"), "listen address [AUTH_ADDR]")
		accessTTL     = flag.Duration("access-ttl", envDuration("AUTH_ACCESS_TTL", authbackend.DefaultAccessTTL), "user access token lifetime [AUTH_ACCESS_TTL]")
		refreshTTL    = flag.Duration("refresh-ttl", envDuration("AUTH_REFRESH_TTL", authbackend.DefaultRefreshTTL), "refresh token lifetime [AUTH_REFRESH_TTL]")
		guestTTL      = flag.Duration("guest-ttl", envDuration("AUTH_GUEST_TTL", authbackend.DefaultGuestTTL), "guest token lifetime [AUTH_GUEST_TTL]")
		reuseGrace    = flag.Duration("reuse-grace", envDuration("AUTH_REUSE_GRACE", authbackend.DefaultReuseGrace), "grace window for a replayed refresh token [AUTH_REUSE_GRACE]")
		guestUser     = flag.String("guest-username", env("AUTH_GUEST_USERNAME", ""), "guest credentials username; empty disables guests [AUTH_GUEST_USERNAME]")
		guestPass     = flag.String("guest-password", env("AUTH_GUEST_PASSWORD", ""), "guest credentials password [AUTH_GUEST_PASSWORD]")
		secureCookies = flag.Bool("secure-cookies", envBool("AUTH_SECURE_COOKIES", false), "set the Secure attribute on cookies (https only) [AUTH_SECURE_COOKIES]")
		singleToken   = flag.Bool("single-token", envBool("AUTH_SINGLE_TOKEN", false), "no refresh cookie: the expired access token is the refresh credential [AUTH_SINGLE_TOKEN]")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "authbackend: ", log.LstdFlags)

	secret := []byte(os.Getenv("AUTH_JWT_SECRET"))
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		logger.Print("AUTH_JWT_SECRET not set: using a random secret (tokens die with this process)")
	}
	srv, err := authbackend.New(authbackend.Config{
		Secret: secret, Users: authbackend.DemoUsers(),
		GuestUsername: *guestUser, GuestPassword: *guestPass,
		AccessTTL: *accessTTL, RefreshTTL: *refreshTTL, GuestTTL: *guestTTL, ReuseGrace: *reuseGrace,
		SecureCookies: *secureCookies, SingleToken: *singleToken,
		Logger: logger,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Addr: *addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Printf("listening on %s (access tokens live %s, refresh tokens %s)", *addr, *accessTTL, *refreshTTL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "authbackend: %s: %v\n", name, err)
		os.Exit(2)
	}
	return d
}

func envBool(name string, def bool) bool {
	v, ok := os.LookupEnv(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "authbackend: %s: %v\n", name, err)
		os.Exit(2)
	}
	return b
}

// Command authbackend runs the demo auth service.
//
// Every flag has an environment variable (shown in -help). The Ed25519
// signing key is read only from the environment, never from a flag, so
// that it does not show in the process list: AUTH_JWT_PRIVATE_KEY (a
// PKCS #8 PEM, with newlines or \n) or AUTH_JWT_PRIVATE_KEY_FILE (a file
// holding one). Without either a random key is used: tokens die with the process,
// and authlayer can verify them only once given the public key the log
// prints. -public-key prints the configured key's public half as
// authlayer's jwt.publicKeys takes it, and exits.
package main

import (
	"context"
	"crypto/ed25519"
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
		addr        = flag.String("addr", env("AUTH_ADDR", ":9001"), "listen address [AUTH_ADDR]")
		accessTTL   = flag.Duration("access-ttl", envDuration("AUTH_ACCESS_TTL", authbackend.DefaultAccessTTL), "user access token lifetime [AUTH_ACCESS_TTL]")
		refreshTTL  = flag.Duration("refresh-ttl", envDuration("AUTH_REFRESH_TTL", authbackend.DefaultRefreshTTL), "refresh token lifetime [AUTH_REFRESH_TTL]")
		guestTTL    = flag.Duration("guest-ttl", envDuration("AUTH_GUEST_TTL", authbackend.DefaultGuestTTL), "guest token lifetime [AUTH_GUEST_TTL]")
		reuseGrace  = flag.Duration("reuse-grace", envDuration("AUTH_REUSE_GRACE", authbackend.DefaultReuseGrace), "grace window for a replayed refresh token [AUTH_REUSE_GRACE]")
		guestUser   = flag.String("guest-username", env("AUTH_GUEST_USERNAME", ""), "guest credentials username; empty disables guests [AUTH_GUEST_USERNAME]")
		guestPass   = flag.String("guest-password", env("AUTH_GUEST_PASSWORD", ""), "guest credentials password [AUTH_GUEST_PASSWORD]")
		singleToken = flag.Bool("single-token", envBool("AUTH_SINGLE_TOKEN", false), "no refresh tokens: the expired access token is the refresh credential [AUTH_SINGLE_TOKEN]")
		printPublic = flag.Bool("public-key", false, "print the signing key's public half (PEM with its kid, and as one line for a label) for authlayer's jwt.publicKeys, and exit")
	)
	flag.Parse()
	logger := log.New(os.Stderr, "authbackend: ", log.LstdFlags)
	if _, ok := os.LookupEnv("AUTH_SECURE_COOKIES"); ok {
		// Earlier versions set the cookies themselves; authlayer does now.
		logger.Print("AUTH_SECURE_COOKIES is no longer read: the backend sets no cookies; authlayer sets them (cookies.secure)")
	}

	key, configured, err := signingKey()
	if err != nil {
		return err
	}
	pub, _ := key.Public().(ed25519.PublicKey)
	kid := authbackend.KeyID(pub)
	pubPEM, err := authbackend.PublicKeyPEM(pub, kid)
	if err != nil {
		return err
	}
	if *printPublic {
		if !configured {
			return errors.New("-public-key: no key configured (set AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE)")
		}
		fmt.Printf("%s\n# one line, for a Docker label:\n%s\n", pubPEM, authbackend.OneLine(pubPEM))
		return nil
	}
	if !configured {
		// The public key is no secret: printing it is how this key can be
		// given to authlayer (jwt.publicKeys).
		logger.Printf("no AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE: signing with a random Ed25519 key (tokens die with this process); authlayer verifies them only with this public key in jwt.publicKeys: %s", authbackend.OneLine(pubPEM))
	}
	srv, err := authbackend.New(authbackend.Config{
		SigningKey: key, Users: authbackend.DemoUsers(),
		GuestUsername: *guestUser, GuestPassword: *guestPass,
		AccessTTL: *accessTTL, RefreshTTL: *refreshTTL, GuestTTL: *guestTTL, ReuseGrace: *reuseGrace,
		SingleToken: *singleToken,
		Logger:      logger,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Addr: *addr, Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Printf("listening on %s (EdDSA tokens, kid %s; access tokens live %s, refresh tokens %s)", *addr, kid, *accessTTL, *refreshTTL)
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

// signingKey reads the Ed25519 private key from AUTH_JWT_PRIVATE_KEY or
// the file AUTH_JWT_PRIVATE_KEY_FILE names; without either it makes a
// random one (configured false). Errors never quote the key.
func signingKey() (key ed25519.PrivateKey, configured bool, err error) {
	inline, file := os.Getenv(authbackend.EnvPrivateKey), os.Getenv(authbackend.EnvPrivateKeyFile)
	switch {
	case inline != "" && file != "":
		return nil, false, errors.New("set AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE, not both")
	case inline != "":
		key, err = authbackend.ParsePrivateKey(inline)
		if err != nil {
			return nil, false, fmt.Errorf("AUTH_JWT_PRIVATE_KEY: %w", err)
		}
		return key, true, nil
	case file != "":
		data, err := os.ReadFile(file) //nolint:gosec // G304: reading the key file the operator named is the point
		if err != nil {
			return nil, false, fmt.Errorf("AUTH_JWT_PRIVATE_KEY_FILE: %w", err)
		}
		key, err = authbackend.ParsePrivateKey(string(data))
		if err != nil {
			return nil, false, fmt.Errorf("AUTH_JWT_PRIVATE_KEY_FILE %s: %w", file, err)
		}
		return key, true, nil
	case os.Getenv("AUTH_JWT_SECRET") != "":
		// The HS256 secret of earlier versions: ignoring it silently would
		// sign with a random key authlayer cannot verify.
		return nil, false, errors.New("AUTH_JWT_SECRET is no longer read: tokens are signed with Ed25519; set AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE")
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	return key, false, err
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

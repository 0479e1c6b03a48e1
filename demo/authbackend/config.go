// Package authbackend is the demo's auth service: it issues and verifies
// JWTs signed with Ed25519 (EdDSA) and speaks the backend contract
// authlayer expects (GET /auth/me, POST /auth/refresh, POST /auth/guest,
// and, for authlayer's own login and logout endpoints, POST /auth/login and
// POST /auth/logout). Only authlayer talks to it, never a browser: it sets
// no cookie, and its answers carry the tokens authlayer keeps in HttpOnly
// cookies. Because the signature is public-key, authlayer can verify the
// access tokens itself with the public key (jwt.publicKeys) and need not
// ask /auth/me at all.
//
// Everything lives in memory: users come from Config, and the refresh-token
// bookkeeping (rotation, reuse detection, revoked families) is lost on
// restart. It is a demo service, not a product.
package authbackend

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log"
	"time"
)

// User is one account the backend knows.
type User struct {
	// ID is the stable user id, sent as the token subject and as data.id.
	ID string
	// Username and Password are what the login form takes. Passwords are
	// kept in clear because these are demo accounts shown on the login page.
	Username string
	Password string
	Name     string
	Email    string
	// Role is sent as data.role ("user", "admin") and in the access
	// token's roles claim.
	Role string
}

// DemoUsers returns the two demo accounts: alice/alice (role "user") and
// admin/admin (role "admin").
func DemoUsers() []User {
	return []User{
		{ID: "u-alice", Username: "alice", Password: "alice", Name: "Alice Martin", Email: "alice@example.test", Role: "user"},
		{ID: "u-admin", Username: "admin", Password: "admin", Name: "Ada Admin", Email: "admin@example.test", Role: "admin"},
	}
}

// Config configures a Server. Zero durations and empty names take the
// defaults written beside each field.
type Config struct {
	// SigningKey is the Ed25519 private key every token is signed with
	// (EdDSA). Required. Its public half is what authlayer's
	// jwt.publicKeys must hold; tokens name it in their "kid" header
	// (KeyID).
	SigningKey ed25519.PrivateKey
	// Issuer is the tokens' iss claim, checked on every parse. Default
	// "authlayer-demo".
	Issuer string
	// Users are the accounts that can log in.
	Users []User
	// GuestUsername and GuestPassword are the credentials POST /auth/guest
	// accepts. An empty GuestUsername disables the endpoint (404).
	GuestUsername string
	GuestPassword string
	// AccessTTL is the user access token's lifetime. Short on purpose so
	// that refreshes can be watched. Default 20s.
	AccessTTL time.Duration
	// RefreshTTL is the refresh token's lifetime; in single-token mode it is
	// also how long after issue an expired access token may be refreshed.
	// Default 1h.
	RefreshTTL time.Duration
	// GuestTTL is the guest token's lifetime. Default 1h.
	GuestTTL time.Duration
	// ReuseGrace is how long an already-used refresh credential keeps
	// returning the pair it was exchanged for (concurrent tabs, a proxy's
	// retry). Past it, a replay is reuse: 409 and the family is revoked.
	// Default 10s; a negative value means no grace at all.
	ReuseGrace time.Duration
	// SingleToken turns off refresh tokens: login and refresh answers carry
	// an access token only, and the (expired) access token is the refresh
	// credential (authlayer without cookies.refresh). Default false
	// (dual-token mode).
	SingleToken bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per security-relevant event; never a token.
	// Default: no logging.
	Logger *log.Logger
}

// Defaults of Config.
const (
	DefaultIssuer     = "authlayer-demo"
	DefaultAccessTTL  = 20 * time.Second
	DefaultRefreshTTL = time.Hour
	DefaultGuestTTL   = time.Hour
	DefaultReuseGrace = 10 * time.Second
)

// Environment variables of the authbackend command that carry the signing
// key (a PKCS #8 PEM, see ParsePrivateKey), read by the demo's local runner
// from the compose file too.
const (
	EnvPrivateKey     = "AUTH_JWT_PRIVATE_KEY"
	EnvPrivateKeyFile = "AUTH_JWT_PRIVATE_KEY_FILE"
)

// Audiences (the aud claim). Access tokens (users' and guests') are for
// the app, which authlayer checks (jwt.audience); refresh tokens are for
// this backend only, so that authlayer does not take one moved into the
// user cookie for a session, valid signature and all.
const (
	AccessAudience  = "authlayer-demo-app"
	RefreshAudience = "authlayer-demo-refresh"
)

// withDefaults returns a copy of c with every zero field defaulted, or an
// error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.SigningKey) != ed25519.PrivateKeySize {
		return c, errors.New("authbackend: signing key: want an Ed25519 private key")
	}
	// The key is seed || public key: a public half that does not belong to
	// the seed would make tokens nobody can verify.
	if pub := ed25519.NewKeyFromSeed(c.SigningKey.Seed()).Public().(ed25519.PublicKey); !bytes.Equal(pub, c.SigningKey[ed25519.SeedSize:]) {
		return c, errors.New("authbackend: signing key: its public half does not match its seed")
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.GuestTTL == 0 {
		c.GuestTTL = DefaultGuestTTL
	}
	if c.ReuseGrace == 0 {
		c.ReuseGrace = DefaultReuseGrace
	}
	if c.ReuseGrace < 0 {
		c.ReuseGrace = 0
	}
	if c.AccessTTL < 0 || c.RefreshTTL < 0 || c.GuestTTL < 0 {
		return c, errors.New("authbackend: token lifetimes must be positive")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	seen := make(map[string]bool, len(c.Users))
	for _, u := range c.Users {
		if u.ID == "" || u.Username == "" {
			return c, errors.New("authbackend: users: every user needs an id and a username")
		}
		if seen[u.Username] || seen["id:"+u.ID] {
			return c, errors.New("authbackend: users: duplicate username or id " + u.Username)
		}
		seen[u.Username], seen["id:"+u.ID] = true, true
	}
	return c, nil
}

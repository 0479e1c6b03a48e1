package authbackend

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token kinds (the "knd" claim). An access token is what /auth/me accepts;
// a refresh token is only ever accepted by /auth/refresh.
const (
	kindAccess  = "access"
	kindRefresh = "refresh"
)

// Token types (the "type" claim of access tokens, sent back as data.type).
const (
	typeUser  = "user"
	typeGuest = "guest"
)

// claims is the payload of every token the backend issues. An access
// token carries the user (authlayer forwards its claims to the app in
// X-Auth-User when it verifies the token itself); a refresh token only the
// subject, the family and the sign-in time.
type claims struct {
	Kind     string   `json:"knd"`
	Type     string   `json:"type,omitempty"`
	Family   string   `json:"fam,omitempty"`
	Username string   `json:"username,omitempty"`
	Name     string   `json:"name,omitempty"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	// AuthTime is when the user signed in (OpenID Connect's auth_time):
	// set at login, carried unchanged by every refresh of that login, so a
	// token whose iat is later came from a refresh at iat.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	jwt.RegisteredClaims
}

// tokenPair is what a login or a refresh hands out.
type tokenPair struct {
	Access        string
	AccessExpires time.Time
	Refresh       string // empty in single-token mode
}

var (
	errTokenInvalid = errors.New("token invalid")
	errTokenExpired = errors.New("token expired")
)

// randomID returns 16 random bytes in hex.
func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms; if it does, no
		// token id can be trusted to be unique.
		panic("authbackend: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// sign signs c with the server's Ed25519 key (EdDSA), naming the key in
// the "kid" header.
func (s *Server) sign(c *claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = s.kid
	return t.SignedString(s.cfg.SigningKey)
}

// registered fills the standard claims for a token for audience living ttl
// from now.
func (s *Server) registered(subject, audience string, now time.Time, ttl time.Duration) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer:    s.cfg.Issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{audience},
		ID:        randomID(),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
}

// issuePair issues an access token for u in the given family and, in
// dual-token mode, a refresh token of the same family; both carry the
// time the user signed in (authTime).
func (s *Server) issuePair(u User, family string, authTime time.Time) (tokenPair, error) {
	now := s.cfg.Now()
	access := &claims{
		Kind: kindAccess, Type: typeUser, Family: family,
		Username: u.Username, Name: u.Name, Email: u.Email, Roles: rolesOf(u),
		AuthTime:         jwt.NewNumericDate(authTime),
		RegisteredClaims: s.registered(u.ID, AccessAudience, now, s.cfg.AccessTTL),
	}
	var pair tokenPair
	var err error
	if pair.Access, err = s.sign(access); err != nil {
		return tokenPair{}, err
	}
	pair.AccessExpires = access.ExpiresAt.Time
	if s.cfg.SingleToken {
		return pair, nil
	}
	refresh := &claims{
		Kind: kindRefresh, Family: family,
		AuthTime:         jwt.NewNumericDate(authTime),
		RegisteredClaims: s.registered(u.ID, RefreshAudience, now, s.cfg.RefreshTTL),
	}
	if pair.Refresh, err = s.sign(refresh); err != nil {
		return tokenPair{}, err
	}
	return pair, nil
}

// issueGuest issues a guest access token with a fresh guest id.
func (s *Server) issueGuest() (string, *claims, error) {
	c := &claims{
		Kind: kindAccess, Type: typeGuest, Name: "Guest", Roles: []string{"guest"},
		RegisteredClaims: s.registered("guest-"+randomID()[:12], AccessAudience, s.cfg.Now(), s.cfg.GuestTTL),
	}
	tok, err := s.sign(c)
	return tok, c, err
}

// rolesOf is the roles claim of u's access tokens.
func rolesOf(u User) []string {
	if u.Role == "" {
		return nil
	}
	return []string{u.Role}
}

// audienceOf is the aud a token of kind must carry.
func audienceOf(kind string) string {
	if kind == kindRefresh {
		return RefreshAudience
	}
	return AccessAudience
}

// parse verifies the token's signature (EdDSA with the server's key, named
// by its kid), issuer, audience and kind, and returns its claims. Time
// claims are checked against the server's clock: an expired but otherwise
// good token returns its claims with errTokenExpired, so callers that
// accept expired credentials (refresh, logout) can.
func (s *Server) parse(token string) (*claims, error) {
	c := &claims{}
	// Claims are validated below, by hand, so that "expired" can be told
	// apart from every other failure; the signature is always verified.
	_, err := jwt.ParseWithClaims(token, c, func(t *jwt.Token) (interface{}, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, errTokenInvalid
		}
		return s.publicKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithoutClaimsValidation(),
	)
	if err != nil {
		return nil, errTokenInvalid
	}
	now := s.cfg.Now()
	switch {
	case c.Issuer != s.cfg.Issuer, c.ID == "", c.Subject == "", c.ExpiresAt == nil, c.IssuedAt == nil:
		return nil, errTokenInvalid
	case c.Kind != kindAccess && c.Kind != kindRefresh:
		return nil, errTokenInvalid
	case len(c.Audience) != 1 || c.Audience[0] != audienceOf(c.Kind):
		return nil, errTokenInvalid
	case c.NotBefore != nil && now.Before(c.NotBefore.Time):
		return nil, errTokenInvalid
	case !now.Before(c.ExpiresAt.Time):
		return c, errTokenExpired
	}
	return c, nil
}

package authlayer

import (
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// jwt.* compiled: the mode, the allowed algorithms, the keys, the claim
// checks and the claim paths.

type jwtMode int

const (
	jwtModeLocal      jwtMode = iota // the backend never validates
	jwtModeRevalidate                // the backend confirms valid tokens every interval
	jwtModeFallback                  // the backend validates what cannot be checked here
)

type jwtSettings struct {
	mode           jwtMode
	revalidate     time.Duration
	algorithms     map[string]bool
	secret         []byte
	keys           []*jwtKey // configured (jwt.publicKeys)
	jwksURL        string
	jwksMinRefresh time.Duration
	jwksMaxAge     time.Duration
	issuer         string
	audience       []string
	leeway         time.Duration
	user           jsonpath.Path // empty: the whole claims object
	userID         jsonpath.Path
	tokenType      jsonpath.Path
	roles          jsonpath.Path
	warnedKidless  atomic.Bool // jwtverify.go: warnKidlessKeys logged
}

var jwtModes = map[string]jwtMode{"local": jwtModeLocal, "revalidate": jwtModeRevalidate, "fallback": jwtModeFallback}

// compileJWT leaves s.jwt nil when jwt.enabled is false.
func compileJWT(c *Config, s *settings) error {
	cfg := c.JWT
	if !cfg.Enabled {
		return nil
	}
	j := &jwtSettings{
		secret:    []byte(cfg.Secret),
		issuer:    strings.TrimSpace(cfg.Issuer),
		audience:  trimAll(cfg.Audience),
		user:      jsonpath.Parse(cfg.UserClaim),
		userID:    jsonpath.Parse(cfg.UserIDClaim),
		tokenType: jsonpath.Parse(cfg.TokenTypeClaim),
		roles:     jsonpath.Parse(cfg.RolesClaim),
	}
	mode, ok := jwtModes[strings.ToLower(strings.TrimSpace(cfg.Mode))]
	if !ok {
		return optionError("jwt.mode", "%q is not one of local, revalidate, fallback", cfg.Mode)
	}
	j.mode = mode
	steps := []func(JWTConfig, *jwtSettings) error{compileJWTDurations, compileJWTKeys, compileJWTAlgorithms}
	for _, step := range steps {
		if err := step(cfg, j); err != nil {
			return err
		}
	}
	if len(j.tokenType) == 0 && s.guest.enabled {
		return optionError("jwt.tokenTypeClaim", "must be set when guest.enabled is true: without it a guest's token would count as a user's")
	}
	if len(j.tokenType) == 0 && len(s.allowed) == 0 {
		return optionError("routes.allowedTokenTypes", "must be set when jwt.tokenTypeClaim is empty: without a token type every token would count as a logged-in user")
	}
	s.jwt = j
	return nil
}

func compileJWTDurations(cfg JWTConfig, j *jwtSettings) error {
	var err error
	if j.revalidate, err = positiveDuration("jwt.revalidateInterval", cfg.RevalidateInterval); err != nil {
		return err
	}
	if j.jwksMinRefresh, err = parseDuration("jwt.jwksMinRefreshInterval", cfg.JWKSMinRefreshInterval); err != nil {
		return err
	}
	if j.jwksMaxAge, err = positiveDuration("jwt.jwksMaxAge", cfg.JWKSMaxAge); err != nil {
		return err
	}
	if j.leeway, err = parseDuration("jwt.leeway", cfg.Leeway); err != nil {
		return err
	}
	if j.leeway > 5*time.Minute {
		return optionError("jwt.leeway", "must be at most 5m, got %s", cfg.Leeway)
	}
	return nil
}

func compileJWTKeys(cfg JWTConfig, j *jwtSettings) error {
	keys, err := parsePublicKeys(cfg.PublicKeys)
	if err != nil {
		return err
	}
	j.keys = keys
	if raw := strings.TrimSpace(cfg.JWKSURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return optionError("jwt.jwksUrl", "must be an absolute http(s) URL")
		}
		j.jwksURL = raw
	}
	if len(j.secret) == 0 && len(j.keys) == 0 && j.jwksURL == "" {
		return optionError("jwt.secret", "jwt.secret, jwt.publicKeys or jwt.jwksUrl is required when jwt.enabled is true")
	}
	return nil
}

// compileJWTAlgorithms checks the allow-list against the keys, or derives
// it from them: HS with a secret long enough for the hash, RS/PS with an
// RSA key, ES with a key on the algorithm's curve, EdDSA with an Ed25519
// key, and every asymmetric algorithm with a JWKS.
func compileJWTAlgorithms(cfg JWTConfig, j *jwtSettings) error {
	j.algorithms = map[string]bool{}
	for _, name := range trimAll(cfg.Algorithms) {
		if strings.EqualFold(name, "none") {
			return optionError("jwt.algorithms", "\"none\" is never accepted")
		}
		a, ok := jwtAlgorithms[name]
		if !ok {
			return optionError("jwt.algorithms", "%q is not one of %s", name, strings.Join(jwtAlgorithmNames(), ", "))
		}
		if a.family == familyHMAC && len(j.secret) < a.minSecret {
			return optionError("jwt.secret", "%s needs a secret of at least %d bytes", name, a.minSecret)
		}
		j.algorithms[name] = true
	}
	if len(j.algorithms) > 0 {
		return nil
	}
	if len(j.secret) > 0 && len(j.secret) < 32 {
		return optionError("jwt.secret", "must be at least 32 bytes")
	}
	for name, a := range jwtAlgorithms {
		if jwtAlgorithmUsable(j, name, a) {
			j.algorithms[name] = true
		}
	}
	return nil
}

func jwtAlgorithmUsable(j *jwtSettings, name string, a jwtAlgorithm) bool {
	if a.family == familyHMAC {
		return len(j.secret) >= a.minSecret
	}
	if j.jwksURL != "" {
		return true
	}
	for _, key := range j.keys {
		if keyFits(key, name, a) {
			return true
		}
	}
	return false
}

func jwtAlgorithmNames() []string {
	names := make([]string, 0, len(jwtAlgorithms))
	for name := range jwtAlgorithms {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

package jwt

import (
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// jwt.* compiled: the mode, the allowed algorithms, the keys, the claim
// checks and the claim paths. Errors name the option, as the root's
// other compile steps do.

// Options are the jwt.* options, as the root's JWTConfig holds them, and
// the longest token the caller can hand over (MaxTokenBytes: the longest
// cookie, the root's maxCookieBytes; required), checked before any
// decoding.
type Options struct {
	Enabled                bool
	Mode                   string
	RevalidateInterval     string
	Algorithms             []string
	Secret                 string
	PublicKeys             []string
	JWKSURL                string
	JWKSMinRefreshInterval string
	JWKSMaxAge             string
	Issuer                 string
	Audience               []string
	Leeway                 string
	UserClaim              string
	UserIDClaim            string
	TokenTypeClaim         string
	RolesClaim             string

	MaxTokenBytes int
}

// Mode is jwt.mode: what the backend is still asked (the root's jwtflow.go
// applies it).
type Mode int

const (
	ModeLocal      Mode = iota // the backend never validates
	ModeRevalidate             // the backend confirms valid tokens every interval
	ModeFallback               // the backend validates what cannot be checked here
)

// Settings are Options checked and compiled once; nil when jwt.enabled is
// false. The exported fields are what the root's token flow reads; the
// rest only Verify and NewKeySet do. Safe for concurrent use.
type Settings struct {
	Mode       Mode
	Revalidate time.Duration // jwt.revalidateInterval
	Leeway     time.Duration // the clock skew allowed for exp and nbf
	JWKSURL    string        // "": no JWKS
	User       jsonpath.Path // empty: the whole claims object
	UserID     jsonpath.Path
	TokenType  jsonpath.Path // empty: the root decides (every token a user's)
	Roles      jsonpath.Path
	// Flat: the user is the whole claims object and the other claims
	// are top-level names (the defaults): the identity is read with one
	// map index per claim, by these names ("" for a claim not read).
	Flat                                 bool
	UserIDName, TokenTypeName, RolesName string

	algorithms     map[string]bool
	secret         []byte
	keys           []*pubKey // configured (jwt.publicKeys)
	jwksMinRefresh time.Duration
	jwksMaxAge     time.Duration
	issuer         string
	audience       []string
	audienceSet    map[string]bool // audience, for claimsProblem's look-ups
	maxTokenBytes  int
	warnedKidless  atomic.Bool // verify.go: warnKidlessKeys logged
	// staticFits remembers, without a JWKS, the configured keys that fit
	// an algorithm and kid ("alg kid" → []*pubKey): the keys never
	// change. Only non-empty answers are kept, so a kid matching no key
	// (anyone can send one) adds nothing: at most one entry per algorithm
	// and configured kid, plus one per algorithm for tokens without a kid.
	staticFits sync.Map
}

var modes = map[string]Mode{"local": ModeLocal, "revalidate": ModeRevalidate, "fallback": ModeFallback}

var errMaxTokenBytes = errors.New("authlayer: jwt: Options lacks MaxTokenBytes")

// Compile checks o and compiles it; nil, nil when jwt.enabled is false.
// The checks that involve other option groups (jwt.tokenTypeClaim against
// guests and routes.allowedTokenTypes) are the caller's.
func Compile(o Options) (*Settings, error) {
	if !o.Enabled {
		return nil, nil
	}
	if o.MaxTokenBytes <= 0 {
		return nil, errMaxTokenBytes
	}
	j := &Settings{
		secret:        []byte(o.Secret),
		issuer:        strings.TrimSpace(o.Issuer),
		audience:      opts.TrimAll(o.Audience),
		User:          jsonpath.Parse(o.UserClaim),
		UserID:        jsonpath.Parse(o.UserIDClaim),
		TokenType:     jsonpath.Parse(o.TokenTypeClaim),
		Roles:         jsonpath.Parse(o.RolesClaim),
		maxTokenBytes: o.MaxTokenBytes,
	}
	j.Flat = len(j.User) == 0 && len(j.UserID) == 1 && len(j.TokenType) <= 1 && len(j.Roles) <= 1
	if j.Flat {
		// One assignment each: Yaegi v0.16.1 drops values of a multiple
		// assignment that mixes calls (CONTRIBUTING.md).
		j.UserIDName = j.UserID[0]
		j.TokenTypeName = topName(j.TokenType)
		j.RolesName = topName(j.Roles)
	}
	j.audienceSet = map[string]bool{}
	for _, aud := range j.audience {
		j.audienceSet[aud] = true
	}
	mode, ok := modes[strings.ToLower(strings.TrimSpace(o.Mode))]
	if !ok {
		return nil, opts.Error("jwt.mode", "%q is not one of local, revalidate, fallback", o.Mode)
	}
	j.Mode = mode
	steps := []func(Options, *Settings) error{compileDurations, compileKeys, compileAlgorithms}
	for _, step := range steps {
		if err := step(o, j); err != nil {
			return nil, err
		}
	}
	return j, nil
}

func compileDurations(cfg Options, j *Settings) error {
	var err error
	if j.Revalidate, err = opts.PositiveDuration("jwt.revalidateInterval", cfg.RevalidateInterval); err != nil {
		return err
	}
	if j.jwksMinRefresh, err = opts.Duration("jwt.jwksMinRefreshInterval", cfg.JWKSMinRefreshInterval); err != nil {
		return err
	}
	if j.jwksMaxAge, err = opts.PositiveDuration("jwt.jwksMaxAge", cfg.JWKSMaxAge); err != nil {
		return err
	}
	if j.Leeway, err = opts.Duration("jwt.leeway", cfg.Leeway); err != nil {
		return err
	}
	if j.Leeway > 5*time.Minute {
		return opts.Error("jwt.leeway", "must be at most 5m, got %s", cfg.Leeway)
	}
	return nil
}

func compileKeys(cfg Options, j *Settings) error {
	keys, err := parsePublicKeys(cfg.PublicKeys)
	if err != nil {
		return err
	}
	j.keys = keys
	if raw := strings.TrimSpace(cfg.JWKSURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return opts.Error("jwt.jwksUrl", "must be an absolute http(s) URL")
		}
		j.JWKSURL = raw
	}
	if len(j.secret) == 0 && len(j.keys) == 0 && j.JWKSURL == "" {
		return opts.Error("jwt.secret", "jwt.secret, jwt.publicKeys or jwt.jwksUrl is required when jwt.enabled is true")
	}
	return nil
}

// compileAlgorithms checks the allow-list against the keys, or derives
// it from them: HS with a secret long enough for the hash, RS/PS with an
// RSA key, ES with a key on the algorithm's curve, EdDSA with an Ed25519
// key, and every asymmetric algorithm with a JWKS.
func compileAlgorithms(cfg Options, j *Settings) error {
	j.algorithms = map[string]bool{}
	for _, name := range opts.TrimAll(cfg.Algorithms) {
		if strings.EqualFold(name, "none") {
			return opts.Error("jwt.algorithms", "\"none\" is never accepted")
		}
		a, ok := algorithms[name]
		if !ok {
			return opts.Error("jwt.algorithms", "%q is not one of %s", name, strings.Join(algorithmNames(), ", "))
		}
		if a.family == familyHMAC && len(j.secret) < a.minSecret {
			return opts.Error("jwt.secret", "%s needs a secret of at least %d bytes", name, a.minSecret)
		}
		j.algorithms[name] = true
	}
	if len(j.algorithms) > 0 {
		return nil
	}
	if len(j.secret) > 0 && len(j.secret) < 32 {
		return opts.Error("jwt.secret", "must be at least 32 bytes")
	}
	for name, a := range algorithms {
		if algorithmUsable(j, name, a) {
			j.algorithms[name] = true
		}
	}
	return nil
}

func algorithmUsable(j *Settings, name string, a algorithm) bool {
	if a.family == familyHMAC {
		return len(j.secret) >= a.minSecret
	}
	if j.JWKSURL != "" {
		return true
	}
	for _, key := range j.keys {
		if keyFits(key, name, a) {
			return true
		}
	}
	return false
}

func algorithmNames() []string {
	names := make([]string, 0, len(algorithms))
	for name := range algorithms {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// topName is a path of at most one name as that name.
func topName(p jsonpath.Path) string {
	if len(p) == 0 {
		return ""
	}
	return p[0]
}

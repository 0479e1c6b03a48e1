package benchtraefik

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/jwtkit"
)

// JWTAlgorithms are the algorithms whose local verification the
// benchmarks measure, one route each.
var JWTAlgorithms = []string{"HS256", "RS256", "ES256", "EdDSA"}

// JWTIssuer and JWTAudience are the iss and aud of the benchmark tokens,
// which their jwt options require (as a deployment would).
const (
	JWTIssuer   = "https://issuer.bench.test"
	JWTAudience = "authlayer-bench"
)

// JWTCase is one algorithm's local verification: a token of user 1 signed
// with jwtkit (go-jose) and the jwt options that verify it.
type JWTCase struct {
	Alg   string // "HS256", …
	Name  string // "hs256", …: the route's suffix
	Token string
	// Key is what verifies Token: jwtkit.Secret for HS256, else the
	// public key's PEM, with a "kid" header the token names.
	Key string
}

// JWTCases signs one token per algorithm in JWTAlgorithms. Every token
// has the claims of a typical access token (sub "1", type "user", roles,
// iss, aud, iat, exp in an hour, an email): 295 bytes with HS256, 365
// with ES256 and EdDSA, 621 with RS256.
func JWTCases(t testing.TB) []JWTCase {
	t.Helper()
	keys := jwtkit.Generate(t)
	var out []JWTCase
	for _, alg := range JWTAlgorithms {
		name := strings.ToLower(alg)
		claims := jwtkit.Std("1", "user", "user").With(jwtkit.Claims{
			"iss": JWTIssuer, "aud": JWTAudience, "email": "ada@example.com",
		})
		c := JWTCase{Alg: alg, Name: name}
		if strings.HasPrefix(alg, "HS") {
			c.Token, c.Key = jwtkit.Sign(t, alg, keys.Signer(alg), "", claims), jwtkit.Secret
		} else {
			kid := "bench-" + name
			priv := keys.Signer(alg)
			c.Token, c.Key = jwtkit.Sign(t, alg, priv, kid, claims), jwtkit.PEM(t, jwtkit.Public(priv), kid)
		}
		out = append(out, c)
	}
	return out
}

// Options is the plugin's jwt block for c (jwt.mode local, the default).
func (c JWTCase) Options() map[string]interface{} {
	o := map[string]interface{}{
		"enabled":    "true",
		"algorithms": []interface{}{c.Alg},
		"issuer":     JWTIssuer,
		"audience":   []interface{}{JWTAudience},
	}
	if strings.HasPrefix(c.Alg, "HS") {
		o["secret"] = c.Key
	} else {
		o["publicKeys"] = []interface{}{c.Key}
	}
	return o
}

// HasLocalJWT reports whether the plugin copy in dir verifies tokens
// locally (it has jwt*.go sources): a baseline copy without it gets no
// twin of the jwt routes.
func HasLocalJWT(dir string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "jwt*.go"))
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			return true
		}
	}
	return false
}

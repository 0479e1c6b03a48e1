// This file is added to the plugin's package with steps.go when the step
// benchmark (../../steps_test.go) interprets it: the steps of a local JWT
// verification (jwt.enabled), per algorithm. It calls the plugin's
// unexported jwt functions: when they change, update it to match (the
// benchmark then skips these steps only, saying so).

package authlayer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// benchJWT is one algorithm's prepared state.
type benchJWT struct {
	verify, cached *middleware // cache.ttl 0s; the default cache
	req            *http.Request
	token          string
	parts          jwsParts
	claims         map[string]interface{}
	kid            string
}

var benchJWTs = map[string]*benchJWT{}

// BenchJWTSetup builds two middlewares verifying alg's tokens locally
// (jwt.mode local), one with cache.ttl 0s (every request verified) and
// one with the default cache (verified once), from the key (the HMAC
// secret, or a public key's PEM), and warms the second with token.
func BenchJWTSetup(backend, alg, key, issuer, audience, token string) {
	build := func(ttl string, name string) *middleware {
		c := CreateConfig()
		c.Backend.URL = backend
		if ttl != "" {
			c.Cache.TTL = ttl
		}
		c.JWT.Enabled = true
		c.JWT.Algorithms = []string{alg}
		c.JWT.Issuer = issuer
		c.JWT.Audience = []string{audience}
		if jwtAlgorithms[alg].family == familyHMAC {
			c.JWT.Secret = key
		} else {
			c.JWT.PublicKeys = []string{key}
		}
		return benchBuild(c, name)
	}
	b := &benchJWT{verify: build("0s", "jwt-"+alg+"@steps"), cached: build("", "jwt-"+alg+"-cached@steps"), token: token}
	b.req = benchRequest("theme=dark; userToken=" + token)
	// Twice: the first request with a cookie header remembers its session.
	b.cached.ServeHTTP(httptest.NewRecorder(), benchRequest("theme=dark; userToken="+token))
	b.cached.ServeHTTP(httptest.NewRecorder(), benchRequest("theme=dark; userToken="+token))
	var ok bool
	if b.parts, ok = splitJWS(token); !ok {
		panic("jwt steps: the token does not split")
	}
	if b.kid, ok = jwtKid(b.parts.header); !ok {
		panic("jwt steps: bad kid")
	}
	if b.claims, ok = decodeStrictObject(b.parts.payload); !ok {
		panic("jwt steps: bad claims")
	}
	if check := jwtVerify(b.verify.s.jwt, b.verify.state.jwks, token, time.Now().Add(time.Minute)); check.verdict != jwtGood {
		panic("jwt steps: the token does not verify: " + check.reason)
	}
	benchJWTs[alg] = b
}

// BenchJWTHandlers returns alg's two handlers and a request never served,
// to clone for each call from compiled code.
func BenchJWTHandlers(alg string) (verify, cached http.Handler, req *http.Request) {
	b := benchJWTs[alg]
	return b.verify, b.cached, b.req
}

// BenchJWTVerify is the whole local verification (jwtVerify): split,
// header, algorithm, key, signature, claims decoded and checked.
func BenchJWTVerify(alg string, n int) {
	b := benchJWTs[alg]
	j, jw, tok := b.verify.s.jwt, b.verify.state.jwks, b.token
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		jwtVerify(j, jw, tok, deadline)
	}
}

// BenchJWTSplit splits the token and decodes its three segments and its
// header (splitJWS).
func BenchJWTSplit(alg string, n int) {
	tok := benchJWTs[alg].token
	for i := 0; i < n; i++ {
		splitJWS(tok)
	}
}

// BenchJWTSegments checks and decodes the token's three base64url
// segments (decodeSegment), the part of splitJWS that grows with the
// token's length.
func BenchJWTSegments(alg string, n int) {
	tok := benchJWTs[alg].token
	first := strings.IndexByte(tok, '.')
	second := first + 1 + strings.IndexByte(tok[first+1:], '.')
	h, p, sig := tok[:first], tok[first+1:second], tok[second+1:]
	for i := 0; i < n; i++ {
		decodeSegment(h)
		decodeSegment(p)
		decodeSegment(sig)
	}
}

// BenchJWTSignature finds the key and checks the signature
// (jwtSignatureVerdict).
func BenchJWTSignature(alg string, n int) {
	b := benchJWTs[alg]
	j, jw, p, a, kid := b.verify.s.jwt, b.verify.state.jwks, b.parts, jwtAlgorithms[alg], b.kid
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		jwtSignatureVerdict(j, jw, p, alg, a, kid, deadline)
	}
}

// BenchJWTClaims decodes the claims strictly (decodeStrictObject: the
// duplicate-key walk, then the decoding).
func BenchJWTClaims(alg string, n int) {
	payload := benchJWTs[alg].parts.payload
	for i := 0; i < n; i++ {
		decodeStrictObject(payload)
	}
}

// BenchJWTUniqueKeys is the duplicate-key walk alone (uniqueKeys).
func BenchJWTUniqueKeys(alg string, n int) {
	payload := benchJWTs[alg].parts.payload
	for i := 0; i < n; i++ {
		uniqueKeys(payload)
	}
}

// BenchJWTDecodeJSON is the claims' decoding alone (jsonpath.Decode).
func BenchJWTDecodeJSON(alg string, n int) {
	payload := benchJWTs[alg].parts.payload
	for i := 0; i < n; i++ {
		jsonpath.Decode(payload)
	}
}

// BenchJWTClaimsCheck checks exp, nbf, iss and aud (jwtClaimsProblem).
func BenchJWTClaimsCheck(alg string, n int) {
	b := benchJWTs[alg]
	j, claims := b.verify.s.jwt, b.claims
	for i := 0; i < n; i++ {
		jwtClaimsProblem(j, claims, time.Now())
	}
}

// BenchJWTIdentity builds the identity from the claims as the flow does
// (claimsIdentity: the claim paths, the signed claims JSON
// base64-encoded as the user object).
func BenchJWTIdentity(alg string, n int) {
	b := benchJWTs[alg]
	j, claims, payload, tok := b.verify.s.jwt, b.claims, b.parts.payload, b.token
	for i := 0; i < n; i++ {
		claimsIdentity(j, claims, payload, tok)
	}
}

// BenchJWTAuthenticate is the token flow with local verification and
// nothing cached (cache.ttl 0s): cookie, cache key, verification,
// identity.
func BenchJWTAuthenticate(alg string, n int) {
	b := benchJWTs[alg]
	m, req := b.verify, b.req
	route := routeFor(m.routes, req.URL.Path, req.URL.RawPath)
	for i := 0; i < n; i++ {
		authenticate(m, req, route, nil)
	}
}

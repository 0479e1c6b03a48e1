// This file is added to the plugin's package with steps.go when the step
// benchmark (../../steps_test.go) interprets it: the steps of a local JWT
// verification (jwt.enabled), per algorithm. The steps inside
// internal/jwt are internal/jwt/steps.go's, added to that package; this
// file calls them and the root's unexported functions: when either
// changes, update it to match (the benchmark then skips these steps only,
// saying so).

package authlayer

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jwt"
)

// benchJWT is one algorithm's prepared state.
type benchJWT struct {
	verify, cached *middleware // cache.ttl 0s; the default cache
	req            *http.Request
	token          string
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
		if strings.HasPrefix(alg, "HS") {
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
	jwt.BenchPrepare(alg, b.verify.s.jwt, b.verify.state.jwks, token)
	benchJWTs[alg] = b
}

// BenchJWTHandlers returns alg's two handlers and a request never served,
// to clone for each call from compiled code.
func BenchJWTHandlers(alg string) (verify, cached http.Handler, req *http.Request) {
	b := benchJWTs[alg]
	return b.verify, b.cached, b.req
}

// BenchJWTVerify is the whole local verification as the token flow calls
// it (jwt.Verify): split, header, algorithm, key, signature, claims
// decoded and checked.
func BenchJWTVerify(alg string, n int) {
	b := benchJWTs[alg]
	j, jw, tok := b.verify.s.jwt, b.verify.state.jwks, b.token
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		jwt.Verify(j, jw, tok, deadline)
	}
}

// The steps inside jwt.Verify (internal/jwt/steps.go).

func BenchJWTSegments(alg string, n int)    { jwt.BenchSegments(alg, n) }
func BenchJWTSignature(alg string, n int)   { jwt.BenchSignature(alg, n) }
func BenchJWTClaims(alg string, n int)      { jwt.BenchStrictClaims(alg, n) }
func BenchJWTUniqueKeys(alg string, n int)  { jwt.BenchUniqueKeys(alg, n) }
func BenchJWTDecodeJSON(alg string, n int)  { jwt.BenchDecodeJSON(alg, n) }
func BenchJWTClaimsCheck(alg string, n int) { jwt.BenchClaimsCheck(alg, n) }

// BenchJWTIdentity builds the identity from the claims as the flow does
// (claimsIdentity: the claim paths, the signed claims JSON
// base64-encoded as the user object).
func BenchJWTIdentity(alg string, n int) {
	b := benchJWTs[alg]
	j, tok := b.verify.s.jwt, b.token
	claims, payload := jwt.BenchParsed(alg)
	exp, _ := jwt.ClaimTime(claims, "exp")
	check := jwt.Result{Verdict: jwt.Good, Claims: claims, Payload: payload, Exp: exp.Unix()}
	for i := 0; i < n; i++ {
		claimsIdentity(j, check, tok)
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

// The pieces of the uncached flow around the verification.

func benchJWTFlow(alg string) *flow {
	b := benchJWTs[alg]
	m, req := b.verify, b.req
	route := routeFor(m.routes, req.URL.Path, req.URL.RawPath)
	return &flow{m: m, s: m.s, state: m.state, req: req, route: route, deadline: time.Now().Add(time.Hour)}
}

// BenchJWTSlow is authenticateMiss: the cookies, the cache, the cascade.
func BenchJWTSlow(alg string, n int) {
	f := benchJWTFlow(alg)
	for i := 0; i < n; i++ {
		authenticateMiss(f.m, f.req, f.route)
	}
}

// BenchJWTCookiesRead is cookiesRead.
func BenchJWTCookiesRead(alg string, n int) {
	f := benchJWTFlow(alg)
	for i := 0; i < n; i++ {
		cookiesRead(&f.s.cookies, f.req)
	}
}

// BenchJWTFlowValidate is flowValidate: key, marks, verification, identity.
func BenchJWTFlowValidate(alg string, n int) {
	f := benchJWTFlow(alg)
	tok := benchJWTs[alg].token
	for i := 0; i < n; i++ {
		flowValidate(f, tok, true)
	}
}

// BenchJWTFlowSession is flowSession with the cookies read once.
func BenchJWTFlowSession(alg string, n int) {
	f := benchJWTFlow(alg)
	carried := cookiesRead(&f.s.cookies, f.req)
	for i := 0; i < n; i++ {
		flowSession(f, carried)
	}
}

// BenchJWTLocal is flowValidateLocal: verification, identity, caching.
func BenchJWTLocal(alg string, n int) {
	f := benchJWTFlow(alg)
	tok := benchJWTs[alg].token
	key := cache.Key(tok)
	for i := 0; i < n; i++ {
		flowValidateLocal(f, f.s.jwt, key, tok, true)
	}
}

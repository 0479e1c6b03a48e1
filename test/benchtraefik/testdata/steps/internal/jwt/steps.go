// This file is added to the plugin's internal/jwt package when the step
// benchmark (../../../../steps_test.go) interprets it with jwtsteps.go:
// the steps inside a local JWT verification, per algorithm, which call
// the package's unexported functions. When they change, update it to
// match (the benchmark then skips the JWT steps only, saying so).

package jwt

import (
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// benchToken is one algorithm's token, prepared.
type benchToken struct {
	j      *Settings
	jw     *KeySet
	token  string
	parts  jwsParts
	claims map[string]interface{}
	kid    string
}

var benchTokens = map[string]*benchToken{}

// BenchPrepare splits and checks alg's token as Verify does with j and
// jw, for the steps below; it panics when the token does not verify.
func BenchPrepare(alg string, j *Settings, jw *KeySet, token string) {
	b := &benchToken{j: j, jw: jw, token: token}
	var ok bool
	var problem string
	if b.parts, problem = splitJWS(token); problem != "" {
		panic("jwt steps: the token does not split: " + problem)
	}
	b.kid = b.parts.header.kid
	if b.claims, ok = decodeStrictObject(b.parts.payload); !ok {
		panic("jwt steps: bad claims")
	}
	if r := Verify(j, jw, token, time.Now().Add(time.Minute)); r.Verdict != Good {
		panic("jwt steps: the token does not verify: " + r.Reason)
	}
	benchTokens[alg] = b
}

// BenchParsed is alg's claims and their JSON as signed.
func BenchParsed(alg string) (map[string]interface{}, []byte) {
	b := benchTokens[alg]
	return b.claims, b.parts.payload
}

// BenchSplit splits the token, decodes its three segments and checks its
// header (splitJWS: a remembered header after the first verification).
func BenchSplit(alg string, n int) {
	b := benchTokens[alg]
	tok := b.token
	for i := 0; i < n; i++ {
		splitJWS(tok)
	}
}

// BenchSegments checks and decodes the token's three base64url segments
// (DecodeSegment), the part of splitJWS that grows with the token's
// length.
func BenchSegments(alg string, n int) {
	tok := benchTokens[alg].token
	first := strings.IndexByte(tok, '.')
	second := first + 1 + strings.IndexByte(tok[first+1:], '.')
	h, p, sig := tok[:first], tok[first+1:second], tok[second+1:]
	for i := 0; i < n; i++ {
		DecodeSegment(h)
		DecodeSegment(p)
		DecodeSegment(sig)
	}
}

// BenchSignature finds the key and checks the signature
// (signatureVerdict).
func BenchSignature(alg string, n int) {
	b := benchTokens[alg]
	j, jw, p, a, kid := b.j, b.jw, b.parts, algorithms[alg], b.kid
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		signatureVerdict(j, jw, p, alg, a, kid, deadline)
	}
}

// BenchStrictClaims decodes the claims strictly (decodeStrictObject: the
// duplicate-key walk, then the decoding).
func BenchStrictClaims(alg string, n int) {
	payload := benchTokens[alg].parts.payload
	for i := 0; i < n; i++ {
		decodeStrictObject(payload)
	}
}

// BenchUniqueKeys is the duplicate-key walk alone (uniqueKeys).
func BenchUniqueKeys(alg string, n int) {
	payload := benchTokens[alg].parts.payload
	for i := 0; i < n; i++ {
		uniqueKeys(payload)
	}
}

// BenchDecodeJSON is the claims' decoding alone (jsonpath.Decode).
func BenchDecodeJSON(alg string, n int) {
	payload := benchTokens[alg].parts.payload
	for i := 0; i < n; i++ {
		jsonpath.Decode(payload)
	}
}

// BenchClaimsCheck checks exp, nbf, iss and aud (claimsProblem).
func BenchClaimsCheck(alg string, n int) {
	b := benchTokens[alg]
	j, claims := b.j, b.claims
	for i := 0; i < n; i++ {
		claimsProblem(j, claims, time.Now())
	}
}

// This file is added to the plugin's internal/jwt package when the step
// benchmark (../../../../steps_test.go) interprets it with jwtsteps.go:
// the steps inside a local JWT verification, per algorithm, which call
// the package's unexported functions. When they change, update it to
// match (the benchmark then skips the JWT steps only, saying so).

package jwt

import (
	"crypto/hmac"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// benchToken is one algorithm's token, prepared.
type benchToken struct {
	j         *Settings
	jw        *KeySet
	token     string
	signed    string
	payload   []byte
	signature []byte
	header    *checkedHeader
	claims    map[string]interface{}
}

var benchTokens = map[string]*benchToken{}

// BenchPrepare splits and checks alg's token as Verify does with j and
// jw, for the steps below; it panics when the token does not verify.
func BenchPrepare(alg string, j *Settings, jw *KeySet, token string) {
	b := &benchToken{j: j, jw: jw, token: token}
	if r := Verify(j, jw, token, time.Now().Add(time.Minute)); r.Verdict != Good {
		panic("jwt steps: the token does not verify: " + r.Reason)
	}
	seg := strings.Split(token, ".")
	v, _ := headerMemo.Load(seg[0]) // remembered by Verify
	b.header = v.(*checkedHeader)
	b.signed = seg[0] + "." + seg[1]
	b.payload, _ = DecodeSegment(seg[1])
	b.signature, _ = DecodeSegment(seg[2])
	var ok bool
	if b.claims, ok = decodeStrictObject(b.payload); !ok {
		panic("jwt steps: bad claims")
	}
	benchTokens[alg] = b
}

// BenchParsed is alg's claims and their JSON as signed.
func BenchParsed(alg string) (map[string]interface{}, []byte) {
	b := benchTokens[alg]
	return b.claims, b.payload
}

// BenchSegments checks and decodes the token's three base64url segments
// (DecodeSegment), the part of Verify's reading that grows with the
// token's length.
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

// BenchSignature finds the key and checks the signature (for HS, the
// statements Verify runs inline; asymmetricVerdict for the others).
func BenchSignature(alg string, n int) {
	b := benchTokens[alg]
	j, jw, h, signed, sig := b.j, b.jw, b.header, b.signed, b.signature
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < n; i++ {
		if h.hmacHash != nil {
			mac := hmac.New(h.hmacHash, j.secret)
			mac.Write([]byte(signed))
			hmac.Equal(mac.Sum(nil), sig)
		} else {
			asymmetricVerdict(j, jw, signed, sig, h, deadline)
		}
	}
}

// BenchStrictClaims decodes the claims strictly (decodeStrictObject: the
// duplicate-key walk, then the decoding).
func BenchStrictClaims(alg string, n int) {
	payload := benchTokens[alg].payload
	for i := 0; i < n; i++ {
		decodeStrictObject(payload)
	}
}

// BenchUniqueKeys is the duplicate-key walk alone (uniqueKeys).
func BenchUniqueKeys(alg string, n int) {
	payload := benchTokens[alg].payload
	for i := 0; i < n; i++ {
		uniqueKeys(payload)
	}
}

// BenchDecodeJSON is the claims' decoding alone (jsonpath.Decode).
func BenchDecodeJSON(alg string, n int) {
	payload := benchTokens[alg].payload
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

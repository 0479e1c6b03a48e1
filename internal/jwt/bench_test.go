package jwt

import (
	"testing"
	"time"
)

// Benchmarks of a local verification with nothing cached, compiled (go
// test -bench) and interpreted (scripts/yaegi-test.sh ./internal/jwt
// -bench . -run '^$'), on a typical access token's claims (those of
// test/jwtkit's benchmark tokens).

func benchClaims() string {
	return `{"sub":"u-1","type":"user","roles":["reader","writer"],"iss":"https://issuer.test","aud":"app","email":"u-1@example.test","iat":` +
		itoa(time.Now().Unix()) + `,"exp":` + itoa(time.Now().Add(time.Hour).Unix()) + `}`
}

func itoa(n int64) string {
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

func benchVerify(b *testing.B, alg string) {
	j := testSettings(b, func(o *Options) { o.Issuer, o.Audience = "https://issuer.test", []string{"app"} })
	token := makeJWT(b, headerJSON(alg, kidOf[alg]), benchClaims(), alg, keyFor(b, alg))
	deadline := time.Now().Add(time.Hour)
	if r := Verify(j, nil, token, deadline); r.Verdict != Good {
		b.Fatalf("the token does not verify: %s", r.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Verify(j, nil, token, deadline)
	}
}

func BenchmarkVerifyHS256(b *testing.B) { benchVerify(b, "HS256") }
func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, "RS256") }
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, "ES256") }

// BenchmarkStrictClaims is the claims' strict decoding alone.
func BenchmarkStrictClaims(b *testing.B) {
	raw := []byte(benchClaims())
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := decodeStrictObject(raw); !ok {
			b.Fatal("refused")
		}
	}
}

// BenchmarkClaimsCheck checks exp, nbf, iss and aud.
func BenchmarkClaimsCheck(b *testing.B) {
	j := testSettings(b, func(o *Options) { o.Issuer, o.Audience = "https://issuer.test", []string{"other", "app"} })
	claims, ok := decodeStrictObject([]byte(benchClaims()))
	if !ok {
		b.Fatal("refused")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, reason := claimsProblem(j, claims, time.Now()); reason != "" {
			b.Fatal("refused")
		}
	}
}

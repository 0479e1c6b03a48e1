package authlayer

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jwtTestSettings compiles a configuration with jwt on and the test keys
// (PEM, kids "rsa", "p256", "p384", "p521", "ed") plus the HMAC secret.
func jwtTestSettings(t testing.TB, mutate func(*JWTConfig)) *jwtSettings {
	t.Helper()
	k := keysForTest(t)
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	c.JWT.Enabled = true
	c.JWT.Secret = testSecret
	c.JWT.PublicKeys = []string{
		publicPEM(t, &k.rsa.PublicKey, "rsa"),
		publicPEM(t, &k.p256.PublicKey, "p256"),
		publicPEM(t, &k.p384.PublicKey, "p384"),
		publicPEM(t, &k.p521.PublicKey, "p521"),
		publicPEM(t, k.edPub, "ed"),
	}
	if mutate != nil {
		mutate(&c.JWT)
	}
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	return s.jwt
}

var kidOf = map[string]string{
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"ES256": "p256", "ES384": "p384", "ES512": "p521", "EdDSA": "ed",
}

func verifyToken(j *jwtSettings, token string) jwtCheck {
	return jwtVerify(j, nil, token, time.Now().Add(time.Second))
}

func wantVerdict(t *testing.T, got jwtCheck, want jwtVerdict, wantReason string) {
	t.Helper()
	if got.verdict != want || (wantReason != "" && got.reason != wantReason) {
		t.Errorf("verdict %d (%s), want %d (%s)", got.verdict, got.reason, want, wantReason)
	}
}

// TestJWTEveryAlgorithm: each family verifies its own tokens and refuses
// a changed signature, a changed payload and an expired token.
func TestJWTEveryAlgorithm(t *testing.T) {
	j := jwtTestSettings(t, nil)
	for _, alg := range jwtAlgorithmNames() {
		t.Run(alg, func(t *testing.T) {
			key := keyFor(t, alg)
			good := makeJWT(t, headerJSON(alg, kidOf[alg]), claimsJSON(t, nil), alg, key)
			check := verifyToken(j, good)
			wantVerdict(t, check, jwtGood, "")
			if check.claims["sub"] != "u-1" {
				t.Errorf("claims: %v", check.claims)
			}
			noKid := makeJWT(t, headerJSON(alg, ""), claimsJSON(t, nil), alg, key)
			wantVerdict(t, verifyToken(j, noKid), jwtGood, "")

			parts := strings.Split(good, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)/2] ^= 1
			wantVerdict(t, verifyToken(j, parts[0]+"."+parts[1]+"."+b64url(sig)), jwtBad, "signature")
			other := b64url([]byte(claimsJSON(t, map[string]interface{}{"sub": "admin"})))
			wantVerdict(t, verifyToken(j, parts[0]+"."+other+"."+parts[2]), jwtBad, "signature")

			expired := makeJWT(t, headerJSON(alg, kidOf[alg]), claimsJSON(t, map[string]interface{}{"exp": time.Now().Add(-time.Hour).Unix()}), alg, key)
			wantVerdict(t, verifyToken(j, expired), jwtBad, "expired")
		})
	}
}

// TestJWTNoneNeverAccepted: "none" in any spelling, with or without a
// signature, and even when the configuration lists it.
func TestJWTNoneNeverAccepted(t *testing.T) {
	j := jwtTestSettings(t, nil)
	claims := b64url([]byte(claimsJSON(t, nil)))
	for _, alg := range []string{"none", "None", "NONE", ""} {
		h := b64url([]byte(`{"alg":"` + alg + `"}`))
		wantVerdict(t, verifyToken(j, h+"."+claims+"."), jwtBad, "")
		wantVerdict(t, verifyToken(j, h+"."+claims+".c2ln"), jwtBad, "")
	}
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	c.JWT.Enabled, c.JWT.Secret, c.JWT.Algorithms = true, testSecret, []string{"HS256", "none"}
	if _, err := compileSettings(c); err == nil || !strings.Contains(err.Error(), "jwt.algorithms") {
		t.Errorf("algorithms with none: got %v, want an error naming jwt.algorithms", err)
	}
}

// TestJWTKeyConfusion: every way of checking a signature with the wrong
// kind of key is refused.
func TestJWTKeyConfusion(t *testing.T) {
	k := keysForTest(t)
	j := jwtTestSettings(t, nil)
	rsaPEM := publicPEM(t, &k.rsa.PublicKey, "")
	claims := claimsJSON(t, nil)
	cases := []struct {
		desc  string
		token string
	}{
		{"HS256 signed with the RSA public key's PEM as secret", makeJWT(t, headerJSON("HS256", ""), claims, "HS256", []byte(rsaPEM))},
		{"HS256 with a kid naming the RSA key", makeJWT(t, headerJSON("HS256", "rsa"), claims, "HS256", []byte(rsaPEM))},
		{"ES256 header, RSA signature", makeJWT(t, headerJSON("ES256", ""), claims, "RS256", k.rsa)},
		{"PS256 header, RS256 signature", makeJWT(t, headerJSON("PS256", "rsa"), claims, "RS256", k.rsa)},
		{"RS256 header, PSS signature", makeJWT(t, headerJSON("RS256", "rsa"), claims, "PS256", k.rsa)},
		{"ES384 signed on P-256", makeJWT(t, headerJSON("ES384", ""), claims, "ES384", k.p256)},
		{"ES256 with a kid naming the P-384 key", makeJWT(t, headerJSON("ES256", "p384"), claims, "ES256", k.p256)},
		{"EdDSA with a kid naming the RSA key", makeJWT(t, headerJSON("EdDSA", "rsa"), claims, "EdDSA", k.ed)},
		{"RS256 with a kid naming the Ed25519 key", makeJWT(t, headerJSON("RS256", "ed"), claims, "RS256", k.rsa)},
		{"RS256 signed by another RSA key", makeJWT(t, headerJSON("RS256", "rsa"), claims, "RS256", k.rsa2)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantVerdict(t, verifyToken(j, tc.token), jwtBad, "")
		})
	}
}

// TestJWTEmbeddedKeysIgnored: a token carrying its own key (jwk, jku,
// x5u, x5c) and signed by it is refused: only configured keys count.
func TestJWTEmbeddedKeysIgnored(t *testing.T) {
	k := keysForTest(t)
	j := jwtTestSettings(t, nil)
	jwk, _ := json.Marshal(jwkJSON(t, &k.rsa2.PublicKey, "attacker", "RS256"))
	header := `{"alg":"RS256","jwk":` + string(jwk) + `,"jku":"http://127.0.0.1:1/keys","x5u":"http://127.0.0.1:1/cert","x5c":["AAAA"]}`
	token := makeJWT(t, header, claimsJSON(t, nil), "RS256", k.rsa2)
	wantVerdict(t, verifyToken(j, token), jwtBad, "signature")
}

// TestJWTMalformedTokens: structure is checked before any key.
func TestJWTMalformedTokens(t *testing.T) {
	j := jwtTestSettings(t, nil)
	good := makeJWT(t, headerJSON("HS256", ""), claimsJSON(t, nil), "HS256", []byte(testSecret))
	parts := strings.Split(good, ".")
	signWithSecret := func(header, claims string) string {
		return makeJWT(t, header, claims, "HS256", []byte(testSecret))
	}
	// A segment whose last character carries non-zero unused bits: the
	// same bytes, another spelling.
	sig := parts[2]
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	nonCanonical := sig[:len(sig)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
	cases := []struct{ desc, token string }{
		{"extra segment", good + ".e30"},
		{"five segments (JWE)", good + ".e30.e30"},
		{"two segments", parts[0] + "." + parts[1]},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+"},
		{"line break inside", parts[0] + "." + parts[1][:4] + "\n" + parts[1][4:] + "." + parts[2]},
		{"non-canonical trailing bits", parts[0] + "." + parts[1] + "." + nonCanonical},
		{"duplicate alg in header", signWithSecret(`{"alg":"HS256","alg":"HS256"}`, claimsJSON(t, nil))},
		{"duplicate sub in claims", signWithSecret(headerJSON("HS256", ""), `{"sub":"u-1","sub":"admin","exp":9999999999}`)},
		{"duplicate key nested in claims", signWithSecret(headerJSON("HS256", ""), `{"sub":"u-1","exp":9999999999,"data":{"role":"a","role":"admin"}}`)},
		{"crit header", signWithSecret(`{"alg":"HS256","crit":["exp"],"exp":1}`, claimsJSON(t, nil))},
		{"header not an object", signWithSecret(`["HS256"]`, claimsJSON(t, nil))},
		{"claims not an object", signWithSecret(headerJSON("HS256", ""), `"u-1"`)},
		{"trailing data after claims", signWithSecret(headerJSON("HS256", ""), claimsJSON(t, nil)+`{}`)},
		{"kid not a string", signWithSecret(`{"alg":"HS256","kid":7}`, claimsJSON(t, nil))},
		{"over the size cap", signWithSecret(headerJSON("HS256", ""), claimsJSON(t, map[string]interface{}{"pad": strings.Repeat("x", maxJWTBytes)}))},
		{"empty", ""},
		{"dots only", ".."},
		{"claims nested beyond the depth bound", signWithSecret(headerJSON("HS256", ""), `{"sub":"u-1","exp":9999999999,"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantVerdict(t, verifyToken(j, tc.token), jwtBad, "")
		})
	}
	if nonCanonical == sig {
		t.Fatal("the non-canonical spelling equals the original")
	}
}

// TestJWTClaims: exp required, nbf and leeway, issuer and audience.
func TestJWTClaims(t *testing.T) {
	j := jwtTestSettings(t, func(c *JWTConfig) {
		c.Issuer, c.Audience, c.Leeway = "https://issuer.test", []string{"app", "other"}, "30s"
	})
	now := time.Now()
	base := map[string]interface{}{"iss": "https://issuer.test", "aud": "app"}
	with := func(extra map[string]interface{}) string {
		c := map[string]interface{}{}
		for k, v := range base {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		return makeJWT(t, headerJSON("EdDSA", "ed"), claimsJSON(t, c), "EdDSA", keyFor(t, "EdDSA"))
	}
	cases := []struct {
		desc   string
		token  string
		want   jwtVerdict
		reason string
	}{
		{"valid", with(nil), jwtGood, ""},
		{"audience in a list", with(map[string]interface{}{"aud": []string{"x", "other"}}), jwtGood, ""},
		{"expired 10s ago: within leeway", with(map[string]interface{}{"exp": now.Add(-10 * time.Second).Unix()}), jwtGood, ""},
		{"expired 2m ago", with(map[string]interface{}{"exp": now.Add(-2 * time.Minute).Unix()}), jwtBad, "expired"},
		{"no exp", with(map[string]interface{}{"exp": nil}), jwtBad, "no-exp"},
		{"exp a string", with(map[string]interface{}{"exp": "9999999999"}), jwtBad, "no-exp"},
		{"nbf in 10s: within leeway", with(map[string]interface{}{"nbf": now.Add(10 * time.Second).Unix()}), jwtGood, ""},
		{"nbf in 2m: not yet valid", with(map[string]interface{}{"nbf": now.Add(2 * time.Minute).Unix()}), jwtBad, "not-yet-valid"},
		{"nbf not a number", with(map[string]interface{}{"nbf": "soon"}), jwtBad, "malformed"},
		{"wrong issuer", with(map[string]interface{}{"iss": "https://evil.test"}), jwtBad, "issuer"},
		{"no issuer", with(map[string]interface{}{"iss": nil}), jwtBad, "issuer"},
		{"wrong audience", with(map[string]interface{}{"aud": "evil"}), jwtBad, "audience"},
		{"audience list without ours", with(map[string]interface{}{"aud": []string{"a", "b"}}), jwtBad, "audience"},
		{"no audience", with(map[string]interface{}{"aud": nil}), jwtBad, "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantVerdict(t, verifyToken(j, tc.token), tc.want, tc.reason)
		})
	}
}

// TestJWTModesForUncheckableTokens: an unknown kid, or an algorithm the
// allow-list leaves out, cannot be checked here (fallback sends it to the
// backend); without any key of its family either.
func TestJWTUncheckableTokens(t *testing.T) {
	k := keysForTest(t)
	j := jwtTestSettings(t, func(c *JWTConfig) { c.Algorithms = []string{"EdDSA", "RS256"} })
	claims := claimsJSON(t, nil)
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", ""), claims, "HS256", []byte(testSecret))), jwtUncheckable, "algorithm")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", "p256"), claims, "ES256", k.p256)), jwtUncheckable, "algorithm")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rotated"), claims, "RS256", k.rsa2)), jwtUncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rsa"), claims, "RS256", k.rsa)), jwtGood, "")

	onlyEd := jwtTestSettings(t, func(c *JWTConfig) {
		c.Secret, c.PublicKeys = "", []string{publicPEM(t, k.edPub, "")}
	})
	if onlyEd.algorithms["RS256"] || onlyEd.algorithms["HS256"] || !onlyEd.algorithms["EdDSA"] {
		t.Errorf("algorithms derived from one Ed25519 key: %v", onlyEd.algorithms)
	}
	wantVerdict(t, verifyToken(onlyEd, makeJWT(t, headerJSON("RS256", ""), claims, "RS256", k.rsa)), jwtUncheckable, "")
}

// TestJWTKidNamesItsKey: a token that names a kid is checked only by the
// key with that kid: a key without a kid checks only tokens without one
// (it once verified tokens naming any kid). The HMAC secret checks HS
// tokens whatever their kid, unless the kid names a public key. The first
// token turned away that a kid-less key would have fitted is logged once,
// without the kid.
func TestJWTKidNamesItsKey(t *testing.T) {
	k := keysForTest(t)
	j := jwtTestSettings(t, func(c *JWTConfig) {
		c.PublicKeys = []string{publicPEM(t, &k.rsa.PublicKey, ""), publicPEM(t, &k.p256.PublicKey, "p256")}
	})
	claims := claimsJSON(t, nil)
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)

	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", ""), claims, "RS256", k.rsa)), jwtGood, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "kid-of-another-key"), claims, "RS256", k.rsa)), jwtUncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rotated-away"), claims, "RS256", k.rsa)), jwtUncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "p256"), claims, "RS256", k.rsa)), jwtBad, "kid-mismatch")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", "p256"), claims, "ES256", k.p256)), jwtGood, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", ""), claims, "ES256", k.p256)), jwtGood, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", "hmac-1"), claims, "HS256", []byte(testSecret))), jwtGood, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", "p256"), claims, "HS256", []byte(testSecret))), jwtBad, "kid-mismatch")

	logged := buf.String()
	if n := strings.Count(logged, "jwt.publicKeys"); n != 1 || !strings.Contains(logged, "without a kid") {
		t.Errorf("log after two tokens naming an unknown kid that the kid-less key fits: %q, want one line naming jwt.publicKeys", logged)
	}
	if strings.Contains(logged, "kid-of-another-key") || strings.Contains(logged, "rotated-away") {
		t.Errorf("the log holds a token's kid: %q", logged)
	}

	// Without a kid-less key, an unknown kid logs nothing.
	buf.Reset()
	named := jwtTestSettings(t, nil)
	wantVerdict(t, verifyToken(named, makeJWT(t, headerJSON("RS256", "unknown"), claims, "RS256", k.rsa)), jwtUncheckable, "unknown-key")
	if buf.Len() != 0 {
		t.Errorf("logged with every key named: %q", buf.String())
	}
}

// TestJWTOptionErrors: each bad jwt option is named.
func TestJWTOptionErrors(t *testing.T) {
	k := keysForTest(t)
	priv, _ := json.Marshal(map[string]interface{}{"kty": "OKP", "crv": "Ed25519", "x": b64url(k.edPub), "d": b64url(k.ed.Seed())})
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := []struct {
		desc   string
		mutate func(*Config)
		option string
	}{
		{"no key at all", func(c *Config) { c.JWT.Secret = "" }, "jwt.secret"},
		{"short secret", func(c *Config) { c.JWT.Secret = "short" }, "jwt.secret"},
		{"HS512 with a 32-byte secret", func(c *Config) { c.JWT.Secret, c.JWT.Algorithms = testSecret[:32], []string{"HS512"} }, "jwt.secret"},
		{"unknown algorithm", func(c *Config) { c.JWT.Algorithms = []string{"RS1"} }, "jwt.algorithms"},
		{"bad mode", func(c *Config) { c.JWT.Mode = "trust-me" }, "jwt.mode"},
		{"bad PEM", func(c *Config) {
			c.JWT.PublicKeys = []string{"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}
		}, "jwt.publicKeys"},
		{"private key JWK", func(c *Config) { c.JWT.PublicKeys = []string{string(priv)} }, "jwt.publicKeys"},
		{"symmetric JWK", func(c *Config) { c.JWT.PublicKeys = []string{`{"kty":"oct","k":"c2VjcmV0"}`} }, "jwt.publicKeys"},
		{"short RSA key", func(c *Config) { c.JWT.PublicKeys = []string{publicPEM(t, &short.PublicKey, "")} }, "jwt.publicKeys"},
		{"relative JWKS URL", func(c *Config) { c.JWT.JWKSURL = "/keys" }, "jwt.jwksUrl"},
		{"bad leeway", func(c *Config) { c.JWT.Leeway = "soon" }, "jwt.leeway"},
		{"zero revalidate interval", func(c *Config) { c.JWT.RevalidateInterval = "0s" }, "jwt.revalidateInterval"},
		{"no type claim with guests", func(c *Config) {
			c.JWT.TokenTypeClaim = ""
			c.Guest = GuestConfig{Enabled: true, Username: "g", Password: "p"}
		}, "jwt.tokenTypeClaim"},
		{"no type claim, no allowed types", func(c *Config) { c.JWT.TokenTypeClaim = "" }, "routes.allowedTokenTypes"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := CreateConfig()
			c.Backend.URL = "http://127.0.0.1:1"
			c.JWT.Enabled, c.JWT.Secret = true, testSecret
			tc.mutate(c)
			_, err := compileSettings(c)
			if err == nil || !strings.Contains(err.Error(), tc.option) {
				t.Fatalf("got %v, want an error naming %s", err, tc.option)
			}
			if strings.Contains(err.Error(), testSecret[:16]) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestJWTKeyFormats: PEM with a kid header, a PEM written on one line with
// \n escapes, a certificate-free JWK and a JWKS all load.
func TestJWTKeyFormats(t *testing.T) {
	k := keysForTest(t)
	jwks, _ := json.Marshal(map[string]interface{}{"keys": []interface{}{
		jwkJSON(t, &k.rsa.PublicKey, "r1", "RS256"), jwkJSON(t, &k.p384.PublicKey, "e1", ""), jwkJSON(t, k.edPub, "d1", "EdDSA"),
	}})
	one, _ := json.Marshal(jwkJSON(t, &k.p256.PublicKey, "single", "ES256"))
	escaped := strings.ReplaceAll(publicPEM(t, &k.rsa2.PublicKey, "flat"), "\n", `\n`)
	keys, err := parsePublicKeys([]string{string(jwks), string(one), escaped})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, key := range keys {
		got[key.kid] = key.family + "/" + key.curve + "/" + key.alg
	}
	want := map[string]string{"r1": "RSA//RS256", "e1": "EC/P-384/", "d1": "OKP/Ed25519/EdDSA", "single": "EC/P-256/ES256", "flat": "RSA//"}
	for kid, w := range want {
		if got[kid] != w {
			t.Errorf("key %s: got %q, want %q", kid, got[kid], w)
		}
	}
	// A JWK whose alg is RS256 never checks PS256.
	j := jwtTestSettings(t, func(c *JWTConfig) { c.PublicKeys, c.Secret = []string{string(jwks)}, "" })
	if j.algorithms["PS256"] || !j.algorithms["RS256"] || !j.algorithms["ES384"] || j.algorithms["ES256"] {
		t.Errorf("algorithms derived from the JWKS: %v", j.algorithms)
	}
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("PS256", "r1"), claimsJSON(t, nil), "PS256", k.rsa)), jwtUncheckable, "algorithm")
	j = jwtTestSettings(t, func(c *JWTConfig) {
		c.PublicKeys, c.Secret, c.Algorithms = []string{string(jwks)}, "", []string{"RS256", "PS256"}
	})
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("PS256", "r1"), claimsJSON(t, nil), "PS256", k.rsa)), jwtBad, "kid-mismatch")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "r1"), claimsJSON(t, nil), "RS256", k.rsa)), jwtGood, "")
	// An EC point off its curve is refused.
	bad := jwkJSON(t, &k.p256.PublicKey, "off", "")
	bad["y"] = bad["x"]
	raw, _ := json.Marshal(bad)
	if _, err := parsePublicKeys([]string{string(raw)}); err == nil {
		t.Error("a point off the curve was accepted")
	}
}

// FuzzJWTRespellings: whatever a fuzzer makes of valid tokens (one per
// family), only the exact original verifies: no other spelling of a
// signed token (padding, alphabet, trailing bits, whitespace, segments)
// and no mutation of its content is accepted, and nothing panics.
func FuzzJWTRespellings(f *testing.F) {
	j := jwtTestSettings(f, nil)
	originals := map[string]bool{}
	for _, alg := range []string{"HS256", "RS256", "PS384", "ES256", "ES512", "EdDSA"} {
		tok := makeJWT(f, headerJSON(alg, kidOf[alg]), claimsJSON(f, nil), alg, keyFor(f, alg))
		originals[tok] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) {
		check := verifyToken(j, token)
		if check.verdict == jwtGood && !originals[token] {
			t.Fatalf("a token other than the originals verified: %q", token)
		}
		if originals[token] && check.verdict != jwtGood {
			t.Fatalf("an original token did not verify: %d (%s)", check.verdict, check.reason)
		}
	})
}

// TestJWTHeaderMemo: only headers of tokens that verified are remembered,
// at most maxHeaderMemo of them, and a remembered header decides exactly
// as a fresh parse does.
func TestJWTHeaderMemo(t *testing.T) {
	j := jwtTestSettings(t, nil)
	forged := makeJWT(t, `{"alg":"HS256","junk":"never-verified"}`, claimsJSON(t, nil), "HS256", []byte("another secret, 32 bytes or more!"))
	wantVerdict(t, verifyToken(j, forged), jwtBad, "signature")
	if _, ok := headerMemo.Load(strings.Split(forged, ".")[0]); ok {
		t.Error("the header of a forged token was remembered")
	}
	for i := 0; i < maxHeaderMemo+10; i++ {
		tok := makeJWT(t, `{"alg":"HS256","n":`+strconv.Itoa(i)+`}`, claimsJSON(t, nil), "HS256", []byte(testSecret))
		wantVerdict(t, verifyToken(j, tok), jwtGood, "")
		wantVerdict(t, verifyToken(j, tok), jwtGood, "")
	}
	count := 0
	headerMemo.Range(func(_, _ interface{}) bool { count++; return true })
	if count > maxHeaderMemo {
		t.Errorf("header memo holds %d entries, bound %d", count, maxHeaderMemo)
	}
	// A remembered header with another signature or payload still fails.
	good := makeJWT(t, headerJSON("HS256", ""), claimsJSON(t, nil), "HS256", []byte(testSecret))
	wantVerdict(t, verifyToken(j, good), jwtGood, "")
	parts := strings.Split(good, ".")
	wantVerdict(t, verifyToken(j, parts[0]+"."+b64url([]byte(claimsJSON(t, map[string]interface{}{"sub": "admin"})))+"."+parts[2]), jwtBad, "signature")
}

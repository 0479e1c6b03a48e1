package jwt

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

// defaultOptions are jwt.* as the root's CreateConfig sets them, turned
// on, with the HMAC secret.
func defaultOptions() Options {
	return Options{
		Enabled: true, Mode: "local", RevalidateInterval: "60s",
		JWKSMinRefreshInterval: "30s", JWKSMaxAge: "1h", Leeway: "30s",
		UserIDClaim: "sub", TokenTypeClaim: "type", RolesClaim: "roles",
		Secret: testSecret, MaxTokenBytes: 4096,
	}
}

// testSettings compiles the default options with the test keys (PEM,
// kids "rsa", "p256", "p384", "p521", "ed") and the HMAC secret.
func testSettings(t testing.TB, mutate func(*Options)) *Settings {
	t.Helper()
	k := keysForTest(t)
	o := defaultOptions()
	o.PublicKeys = []string{
		publicPEM(t, &k.rsa.PublicKey, "rsa"),
		publicPEM(t, &k.p256.PublicKey, "p256"),
		publicPEM(t, &k.p384.PublicKey, "p384"),
		publicPEM(t, &k.p521.PublicKey, "p521"),
		publicPEM(t, k.edPub, "ed"),
	}
	if mutate != nil {
		mutate(&o)
	}
	j, err := Compile(o)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var kidOf = map[string]string{
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"ES256": "p256", "ES384": "p384", "ES512": "p521", "EdDSA": "ed",
}

func verifyToken(j *Settings, token string) Result {
	return Verify(j, nil, token, time.Now().Add(time.Second))
}

func wantVerdict(t *testing.T, got Result, want Verdict, wantReason string) {
	t.Helper()
	// A good verdict has no reason, and carries the claims, their JSON
	// and exp.
	good := want != Good || (got.Reason == "" && got.Claims != nil && got.Payload != nil && got.Exp > 0)
	if got.Verdict != want || (wantReason != "" && got.Reason != wantReason) || !good {
		t.Errorf("verdict %d (%s), want %d (%s)", got.Verdict, got.Reason, want, wantReason)
	}
}

// TestEveryAlgorithm: each family verifies its own tokens and refuses
// a changed signature, a changed payload and an expired token.
func TestEveryAlgorithm(t *testing.T) {
	j := testSettings(t, nil)
	for _, alg := range algorithmNames() {
		t.Run(alg, func(t *testing.T) {
			key := keyFor(t, alg)
			good := makeJWT(t, headerJSON(alg, kidOf[alg]), claimsJSON(t, nil), alg, key)
			check := verifyToken(j, good)
			wantVerdict(t, check, Good, "")
			if check.Claims["sub"] != "u-1" {
				t.Errorf("claims: %v", check.Claims)
			}
			noKid := makeJWT(t, headerJSON(alg, ""), claimsJSON(t, nil), alg, key)
			wantVerdict(t, verifyToken(j, noKid), Good, "")

			parts := strings.Split(good, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[len(sig)/2] ^= 1
			wantVerdict(t, verifyToken(j, parts[0]+"."+parts[1]+"."+b64url(sig)), Bad, "signature")
			other := b64url([]byte(claimsJSON(t, map[string]interface{}{"sub": "admin"})))
			wantVerdict(t, verifyToken(j, parts[0]+"."+other+"."+parts[2]), Bad, "signature")

			expired := makeJWT(t, headerJSON(alg, kidOf[alg]), claimsJSON(t, map[string]interface{}{"exp": time.Now().Add(-time.Hour).Unix()}), alg, key)
			wantVerdict(t, verifyToken(j, expired), Bad, "expired")
		})
	}
}

// TestNoneNeverAccepted: "none" in any spelling, with or without a
// signature, and even when the configuration lists it.
func TestNoneNeverAccepted(t *testing.T) {
	j := testSettings(t, nil)
	claims := b64url([]byte(claimsJSON(t, nil)))
	for _, alg := range []string{"none", "None", "NONE", ""} {
		h := b64url([]byte(`{"alg":"` + alg + `"}`))
		wantVerdict(t, verifyToken(j, h+"."+claims+"."), Bad, "")
		wantVerdict(t, verifyToken(j, h+"."+claims+".c2ln"), Bad, "")
	}
	o := defaultOptions()
	o.Algorithms = []string{"HS256", "none"}
	if _, err := Compile(o); err == nil || !strings.Contains(err.Error(), "jwt.algorithms") {
		t.Errorf("algorithms with none: got %v, want an error naming jwt.algorithms", err)
	}
}

// TestKeyConfusion: every way of checking a signature with the wrong
// kind of key is refused.
func TestKeyConfusion(t *testing.T) {
	k := keysForTest(t)
	j := testSettings(t, nil)
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
			wantVerdict(t, verifyToken(j, tc.token), Bad, "")
		})
	}
}

// TestEmbeddedKeysIgnored: a token carrying its own key (jwk, jku,
// x5u, x5c) and signed by it is refused: only configured keys count.
func TestEmbeddedKeysIgnored(t *testing.T) {
	k := keysForTest(t)
	j := testSettings(t, nil)
	jwk, _ := json.Marshal(jwkJSON(t, &k.rsa2.PublicKey, "attacker", "RS256"))
	header := `{"alg":"RS256","jwk":` + string(jwk) + `,"jku":"http://127.0.0.1:1/keys","x5u":"http://127.0.0.1:1/cert","x5c":["AAAA"]}`
	token := makeJWT(t, header, claimsJSON(t, nil), "RS256", k.rsa2)
	wantVerdict(t, verifyToken(j, token), Bad, "signature")
}

// TestMalformedTokens: structure is checked before any key.
func TestMalformedTokens(t *testing.T) {
	j := testSettings(t, nil)
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
		{"over the size cap", signWithSecret(headerJSON("HS256", ""), claimsJSON(t, map[string]interface{}{"pad": strings.Repeat("x", defaultOptions().MaxTokenBytes)}))},
		{"empty", ""},
		{"dots only", ".."},
		{"claims nested beyond the depth bound", signWithSecret(headerJSON("HS256", ""), `{"sub":"u-1","exp":9999999999,"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantVerdict(t, verifyToken(j, tc.token), Bad, "")
		})
	}
	if nonCanonical == sig {
		t.Fatal("the non-canonical spelling equals the original")
	}
}

// TestClaims: exp required, nbf and leeway, issuer and audience.
func TestClaims(t *testing.T) {
	j := testSettings(t, func(c *Options) {
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
		want   Verdict
		reason string
	}{
		{"valid", with(nil), Good, ""},
		{"audience in a list", with(map[string]interface{}{"aud": []string{"x", "other"}}), Good, ""},
		{"expired 10s ago: within leeway", with(map[string]interface{}{"exp": now.Add(-10 * time.Second).Unix()}), Good, ""},
		{"expired 2m ago", with(map[string]interface{}{"exp": now.Add(-2 * time.Minute).Unix()}), Bad, "expired"},
		{"no exp", with(map[string]interface{}{"exp": nil}), Bad, "no-exp"},
		{"exp a string", with(map[string]interface{}{"exp": "9999999999"}), Bad, "no-exp"},
		{"nbf in 10s: within leeway", with(map[string]interface{}{"nbf": now.Add(10 * time.Second).Unix()}), Good, ""},
		{"nbf in 2m: not yet valid", with(map[string]interface{}{"nbf": now.Add(2 * time.Minute).Unix()}), Bad, "not-yet-valid"},
		{"nbf not a number", with(map[string]interface{}{"nbf": "soon"}), Bad, "malformed"},
		{"wrong issuer", with(map[string]interface{}{"iss": "https://evil.test"}), Bad, "issuer"},
		{"no issuer", with(map[string]interface{}{"iss": nil}), Bad, "issuer"},
		{"wrong audience", with(map[string]interface{}{"aud": "evil"}), Bad, "audience"},
		{"audience list without ours", with(map[string]interface{}{"aud": []string{"a", "b"}}), Bad, "audience"},
		{"no audience", with(map[string]interface{}{"aud": nil}), Bad, "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantVerdict(t, verifyToken(j, tc.token), tc.want, tc.reason)
		})
	}
}

// TestUncheckableTokens: an unknown kid, or an algorithm the
// allow-list leaves out, cannot be checked here (fallback sends it to the
// backend); without any key of its family either.
func TestUncheckableTokens(t *testing.T) {
	k := keysForTest(t)
	j := testSettings(t, func(c *Options) { c.Algorithms = []string{"EdDSA", "RS256"} })
	claims := claimsJSON(t, nil)
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", ""), claims, "HS256", []byte(testSecret))), Uncheckable, "algorithm")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", "p256"), claims, "ES256", k.p256)), Uncheckable, "algorithm")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rotated"), claims, "RS256", k.rsa2)), Uncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rsa"), claims, "RS256", k.rsa)), Good, "")

	onlyEd := testSettings(t, func(c *Options) {
		c.Secret, c.PublicKeys = "", []string{publicPEM(t, k.edPub, "")}
	})
	if onlyEd.algorithms["RS256"] || onlyEd.algorithms["HS256"] || !onlyEd.algorithms["EdDSA"] {
		t.Errorf("algorithms derived from one Ed25519 key: %v", onlyEd.algorithms)
	}
	wantVerdict(t, verifyToken(onlyEd, makeJWT(t, headerJSON("RS256", ""), claims, "RS256", k.rsa)), Uncheckable, "")
}

// TestKidNamesItsKey: a token that names a kid is checked only by the
// key with that kid: a key without a kid checks only tokens without one
// (it once verified tokens naming any kid). The HMAC secret checks HS
// tokens whatever their kid, unless the kid names a public key. The first
// token turned away that a kid-less key would have fitted is logged once,
// without the kid.
func TestKidNamesItsKey(t *testing.T) {
	k := keysForTest(t)
	j := testSettings(t, func(c *Options) {
		c.PublicKeys = []string{publicPEM(t, &k.rsa.PublicKey, ""), publicPEM(t, &k.p256.PublicKey, "p256")}
	})
	claims := claimsJSON(t, nil)
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)

	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", ""), claims, "RS256", k.rsa)), Good, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "kid-of-another-key"), claims, "RS256", k.rsa)), Uncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rotated-away"), claims, "RS256", k.rsa)), Uncheckable, "unknown-key")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "p256"), claims, "RS256", k.rsa)), Bad, "kid-mismatch")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", "p256"), claims, "ES256", k.p256)), Good, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", ""), claims, "ES256", k.p256)), Good, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", "hmac-1"), claims, "HS256", []byte(testSecret))), Good, "")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("HS256", "p256"), claims, "HS256", []byte(testSecret))), Bad, "kid-mismatch")

	logged := buf.String()
	if n := strings.Count(logged, "jwt.publicKeys"); n != 1 || !strings.Contains(logged, "without a kid") {
		t.Errorf("log after two tokens naming an unknown kid that the kid-less key fits: %q, want one line naming jwt.publicKeys", logged)
	}
	if strings.Contains(logged, "kid-of-another-key") || strings.Contains(logged, "rotated-away") {
		t.Errorf("the log holds a token's kid: %q", logged)
	}

	// Without a kid-less key, an unknown kid logs nothing.
	buf.Reset()
	named := testSettings(t, nil)
	wantVerdict(t, verifyToken(named, makeJWT(t, headerJSON("RS256", "unknown"), claims, "RS256", k.rsa)), Uncheckable, "unknown-key")
	if buf.Len() != 0 {
		t.Errorf("logged with every key named: %q", buf.String())
	}
}

// TestOptionErrors: each bad jwt option is named.
func TestOptionErrors(t *testing.T) {
	k := keysForTest(t)
	priv, _ := json.Marshal(map[string]interface{}{"kty": "OKP", "crv": "Ed25519", "x": b64url(k.edPub), "d": b64url(k.ed.Seed())})
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := []struct {
		desc   string
		mutate func(*Options)
		option string
	}{
		{"no key at all", func(o *Options) { o.Secret = "" }, "jwt.secret"},
		{"short secret", func(o *Options) { o.Secret = "short" }, "jwt.secret"},
		{"HS512 with a 32-byte secret", func(o *Options) { o.Secret, o.Algorithms = testSecret[:32], []string{"HS512"} }, "jwt.secret"},
		{"unknown algorithm", func(o *Options) { o.Algorithms = []string{"RS1"} }, "jwt.algorithms"},
		{"bad mode", func(o *Options) { o.Mode = "trust-me" }, "jwt.mode"},
		{"bad PEM", func(o *Options) {
			o.PublicKeys = []string{"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}
		}, "jwt.publicKeys"},
		{"private key JWK", func(o *Options) { o.PublicKeys = []string{string(priv)} }, "jwt.publicKeys"},
		{"symmetric JWK", func(o *Options) { o.PublicKeys = []string{`{"kty":"oct","k":"c2VjcmV0"}`} }, "jwt.publicKeys"},
		{"short RSA key", func(o *Options) { o.PublicKeys = []string{publicPEM(t, &short.PublicKey, "")} }, "jwt.publicKeys"},
		{"relative JWKS URL", func(o *Options) { o.JWKSURL = "/keys" }, "jwt.jwksUrl"},
		{"bad leeway", func(o *Options) { o.Leeway = "soon" }, "jwt.leeway"},
		{"leeway over 5m", func(o *Options) { o.Leeway = "6m" }, "jwt.leeway"},
		{"negative leeway", func(o *Options) { o.Leeway = "-1s" }, "jwt.leeway"},
		{"zero revalidate interval", func(o *Options) { o.RevalidateInterval = "0s" }, "jwt.revalidateInterval"},
		{"zero JWKS max age", func(o *Options) { o.JWKSMaxAge = "0s" }, "jwt.jwksMaxAge"},
		{"bad JWKS refresh interval", func(o *Options) { o.JWKSMinRefreshInterval = "often" }, "jwt.jwksMinRefreshInterval"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			o := defaultOptions()
			tc.mutate(&o)
			j, err := Compile(o)
			if err == nil || !strings.Contains(err.Error(), "authlayer: "+tc.option+": ") || j != nil {
				t.Fatalf("got %v, want an error naming %s", err, tc.option)
			}
			if strings.Contains(err.Error(), testSecret[:16]) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestTokenSizeCap: a token longer than Options.MaxTokenBytes is refused
// before any decoding, however good; one of exactly that length is read.
func TestTokenSizeCap(t *testing.T) {
	tok := makeJWT(t, headerJSON("HS256", ""), claimsJSON(t, nil), "HS256", []byte(testSecret))
	exact := testSettings(t, func(o *Options) { o.MaxTokenBytes = len(tok) })
	wantVerdict(t, verifyToken(exact, tok), Good, "")
	short := testSettings(t, func(o *Options) { o.MaxTokenBytes = len(tok) - 1 })
	wantVerdict(t, verifyToken(short, tok), Bad, "malformed")
}

// TestCompileOffAndIncomplete: jwt.enabled false compiles to nil, whatever
// the rest says; Options without MaxTokenBytes is refused rather than
// accepting tokens of any length.
func TestCompileOffAndIncomplete(t *testing.T) {
	off := defaultOptions()
	off.Enabled, off.Mode = false, "trust-me"
	if j, err := Compile(off); j != nil || err != nil {
		t.Errorf("jwt.enabled false: got %v, %v; want nil, nil", j, err)
	}
	o := defaultOptions()
	o.MaxTokenBytes = 0
	if j, err := Compile(o); j != nil || err != errMaxTokenBytes {
		t.Errorf("no MaxTokenBytes: got %v, %v; want %v", j, err, errMaxTokenBytes)
	}
}

// TestKeyFormats: PEM with a kid header, a PEM written on one line with
// \n escapes, a certificate-free JWK and a JWKS all load.
func TestKeyFormats(t *testing.T) {
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
	j := testSettings(t, func(c *Options) { c.PublicKeys, c.Secret = []string{string(jwks)}, "" })
	if j.algorithms["PS256"] || !j.algorithms["RS256"] || !j.algorithms["ES384"] || j.algorithms["ES256"] {
		t.Errorf("algorithms derived from the JWKS: %v", j.algorithms)
	}
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("PS256", "r1"), claimsJSON(t, nil), "PS256", k.rsa)), Uncheckable, "algorithm")
	j = testSettings(t, func(c *Options) {
		c.PublicKeys, c.Secret, c.Algorithms = []string{string(jwks)}, "", []string{"RS256", "PS256"}
	})
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("PS256", "r1"), claimsJSON(t, nil), "PS256", k.rsa)), Bad, "kid-mismatch")
	wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "r1"), claimsJSON(t, nil), "RS256", k.rsa)), Good, "")
	// An EC point off its curve is refused.
	bad := jwkJSON(t, &k.p256.PublicKey, "off", "")
	bad["y"] = bad["x"]
	raw, _ := json.Marshal(bad)
	if _, err := parsePublicKeys([]string{string(raw)}); err == nil {
		t.Error("a point off the curve was accepted")
	}
}

// respellingAlgs are the algorithms of the respelling property's seeds:
// one token per family.
var respellingAlgs = []string{"HS256", "RS256", "PS384", "ES256", "ES512", "EdDSA"}

// respellingSeeds signs one token per algorithm of respellingAlgs.
func respellingSeeds(t testing.TB) map[string]bool {
	originals := map[string]bool{}
	for _, alg := range respellingAlgs {
		originals[makeJWT(t, headerJSON(alg, kidOf[alg]), claimsJSON(t, nil), alg, keyFor(t, alg))] = true
	}
	return originals
}

// FuzzRespellings: whatever a fuzzer makes of valid tokens (one per
// family), only the exact original verifies: no other spelling of a
// signed token (padding, alphabet, trailing bits, whitespace, segments)
// and no mutation of its content is accepted, and nothing panics.
func FuzzRespellings(f *testing.F) {
	j := testSettings(f, nil)
	originals := respellingSeeds(f)
	for tok := range originals {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) { checkRespelling(t, j, originals, token) })
}

func checkRespelling(t *testing.T, j *Settings, originals map[string]bool, token string) {
	check := verifyToken(j, token)
	if check.Verdict == Good && !originals[token] {
		t.Fatalf("a token other than the originals verified: %q", token)
	}
	if originals[token] && check.Verdict != Good {
		t.Fatalf("an original token did not verify: %d (%s)", check.Verdict, check.Reason)
	}
}

// TestRespellingSeeds runs the respelling property over its seeds and
// the usual respellings of each, in a plain test, so the Yaegi CLI (which
// skips Fuzz functions) checks it too.
func TestRespellingSeeds(t *testing.T) {
	j := testSettings(t, nil)
	originals := respellingSeeds(t)
	for tok := range originals {
		checkRespelling(t, j, originals, tok)
		parts := strings.Split(tok, ".")
		for _, other := range []string{
			tok + "=", parts[0] + "=." + parts[1] + "." + parts[2], " " + tok, tok + "\n", tok + ".",
			parts[0] + "." + parts[1] + "\r\n." + parts[2], tok[:len(tok)-1],
			strings.NewReplacer("-", "+", "_", "/").Replace(tok), parts[0] + "." + parts[1] + ".." + parts[2],
		} {
			checkRespelling(t, j, originals, other)
		}
	}
}

// TestHeaderMemo: only headers of tokens that verified are remembered,
// at most maxHeaderMemo of them, and a remembered header decides exactly
// as a fresh parse does.
func TestHeaderMemo(t *testing.T) {
	j := testSettings(t, nil)
	forged := makeJWT(t, `{"alg":"HS256","junk":"never-verified"}`, claimsJSON(t, nil), "HS256", []byte("another secret, 32 bytes or more!"))
	wantVerdict(t, verifyToken(j, forged), Bad, "signature")
	if _, ok := headerMemo.Load(strings.Split(forged, ".")[0]); ok {
		t.Error("the header of a forged token was remembered")
	}
	for i := 0; i < maxHeaderMemo+10; i++ {
		tok := makeJWT(t, `{"alg":"HS256","n":`+strconv.Itoa(i)+`}`, claimsJSON(t, nil), "HS256", []byte(testSecret))
		wantVerdict(t, verifyToken(j, tok), Good, "")
		wantVerdict(t, verifyToken(j, tok), Good, "")
	}
	count := 0
	headerMemo.Range(func(_, _ interface{}) bool { count++; return true })
	if count > maxHeaderMemo {
		t.Errorf("header memo holds %d entries, bound %d", count, maxHeaderMemo)
	}
	// A remembered header with another signature or payload still fails.
	good := makeJWT(t, headerJSON("HS256", ""), claimsJSON(t, nil), "HS256", []byte(testSecret))
	wantVerdict(t, verifyToken(j, good), Good, "")
	parts := strings.Split(good, ".")
	wantVerdict(t, verifyToken(j, parts[0]+"."+b64url([]byte(claimsJSON(t, map[string]interface{}{"sub": "admin"})))+"."+parts[2]), Bad, "signature")
}

// TestStaticFitsBounded: the remembered key choices (Settings.staticFits)
// give the same verdicts on every later token, and kids that match no
// configured key, however many, are never remembered.
func TestStaticFitsBounded(t *testing.T) {
	k := keysForTest(t)
	j := testSettings(t, nil)
	claims := claimsJSON(t, nil)
	for round := 0; round < 2; round++ { // the second round answers from the memo
		wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rsa"), claims, "RS256", k.rsa)), Good, "")
		wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "rsa"), claims, "RS256", k.rsa2)), Bad, "signature")
		wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "ed"), claims, "RS256", k.rsa)), Bad, "kid-mismatch")
		wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("ES256", "p256"), claims, "ES256", k.p256)), Good, "")
	}
	for i := 0; i < 200; i++ {
		wantVerdict(t, verifyToken(j, makeJWT(t, headerJSON("RS256", "junk-"+strconv.Itoa(i)), claims, "RS256", k.rsa)), Uncheckable, "unknown-key")
	}
	count := 0
	j.staticFits.Range(func(_, _ interface{}) bool { count++; return true })
	if count != 2 {
		t.Errorf("staticFits holds %d entries after 200 unknown kids, want 2 (RS256 rsa, ES256 p256)", count)
	}
}

// TestNonStringKidIsMalformed: a kid that is not a string makes the
// header malformed, whether or not its algorithm is allowed here (the
// header's own checks come before the allow-list).
func TestNonStringKidIsMalformed(t *testing.T) {
	k := keysForTest(t)
	claims := claimsJSON(t, nil)
	onlyHS := testSettings(t, func(c *Options) { c.Algorithms = []string{"HS256"} })
	wantVerdict(t, verifyToken(onlyHS, makeJWT(t, `{"alg":"RS256","kid":42}`, claims, "RS256", k.rsa)), Bad, "malformed")
	wantVerdict(t, verifyToken(onlyHS, makeJWT(t, `{"alg":"HS256","kid":["a"]}`, claims, "HS256", []byte(testSecret))), Bad, "malformed")
	wantVerdict(t, verifyToken(onlyHS, makeJWT(t, `{"alg":"RS256","kid":"rsa"}`, claims, "RS256", k.rsa)), Uncheckable, "algorithm")
}

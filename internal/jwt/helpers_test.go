package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"sync"
	"testing"
	"time"
)

// Keys generated for the tests, and a signer for every algorithm.

type testKeys struct {
	rsa   *rsa.PrivateKey
	rsa2  *rsa.PrivateKey // a second RSA key: signs with another kid
	p256  *ecdsa.PrivateKey
	p384  *ecdsa.PrivateKey
	p521  *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	edPub ed25519.PublicKey
}

var (
	testKeysOnce sync.Once
	testKeySet   *testKeys
)

func keysForTest(t testing.TB) *testKeys {
	t.Helper()
	testKeysOnce.Do(func() {
		k := &testKeys{}
		k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
		k.rsa2, _ = rsa.GenerateKey(rand.Reader, 2048)
		k.p256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.p384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		k.p521, _ = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		k.edPub, k.ed, _ = ed25519.GenerateKey(rand.Reader)
		testKeySet = k
	})
	if testKeySet == nil || testKeySet.rsa == nil || testKeySet.p521 == nil || testKeySet.ed == nil {
		t.Fatal("test keys not generated")
	}
	return testKeySet
}

const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" // 64 bytes

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signWith signs msg as alg with the matching test key (key may override
// it: an RSA key for an ES token, for confusion tests).
func signWith(t testing.TB, alg string, key interface{}, msg []byte) []byte {
	t.Helper()
	a := algorithms[alg]
	switch k := key.(type) {
	case []byte:
		var mac hash.Hash
		switch a.hash {
		case crypto.SHA384:
			mac = hmac.New(sha512.New384, k)
		case crypto.SHA512:
			mac = hmac.New(sha512.New, k)
		default:
			mac = hmac.New(sha256.New, k)
		}
		mac.Write(msg)
		return mac.Sum(nil)
	case *rsa.PrivateKey:
		var sig []byte
		var err error
		if a.pss {
			sig, err = rsa.SignPSS(rand.Reader, k, a.hash, digestOf(a.hash, string(msg)), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, a.hash, digestOf(a.hash, string(msg)))
		}
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		r, s, err := ecdsa.Sign(rand.Reader, k, digestOf(a.hash, string(msg)))
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out
	case ed25519.PrivateKey:
		return ed25519.Sign(k, msg)
	}
	t.Fatalf("no signer for %T", key)
	return nil
}

// keyFor is the test key that signs alg.
func keyFor(t testing.TB, alg string) interface{} {
	k := keysForTest(t)
	switch alg[:2] {
	case "HS":
		return []byte(testSecret)
	case "RS", "PS":
		return k.rsa
	case "Ed":
		return k.ed
	}
	switch alg {
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	}
	return k.p256
}

// makeJWT builds header.claims.signature from raw JSON parts.
func makeJWT(t testing.TB, header, claims string, alg string, key interface{}) string {
	t.Helper()
	signed := b64url([]byte(header)) + "." + b64url([]byte(claims))
	return signed + "." + b64url(signWith(t, alg, key, []byte(signed)))
}

// claimsJSON marshals claims with an exp an hour ahead unless given.
func claimsJSON(t testing.TB, claims map[string]interface{}) string {
	t.Helper()
	c := map[string]interface{}{"sub": "u-1", "type": "user", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func headerJSON(alg, kid string) string {
	h := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	raw, _ := json.Marshal(h)
	return string(raw)
}

func publicPEM(t testing.TB, pub interface{}, kid string) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if kid != "" {
		block.Headers = map[string]string{"kid": kid}
	}
	return string(pem.EncodeToMemory(block))
}

// jwkJSON is the public JWK of a test key.
func jwkJSON(t testing.TB, pub interface{}, kid, alg string) map[string]interface{} {
	t.Helper()
	j := map[string]interface{}{"kid": kid}
	if alg != "" {
		j["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j["kty"], j["n"], j["e"] = "RSA", b64url(k.N.Bytes()), b64url(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		x, y := make([]byte, size), make([]byte, size)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		j["kty"], j["crv"], j["x"], j["y"] = "EC", k.Curve.Params().Name, b64url(x), b64url(y)
	case ed25519.PublicKey:
		j["kty"], j["crv"], j["x"] = "OKP", "Ed25519", b64url(k)
	default:
		t.Fatalf("no JWK for %T", pub)
	}
	return j
}

// Package jwtkit signs test tokens and publishes test keys with go-jose,
// an implementation independent of the plugin's own: a token the plugin
// accepts here was made the way issuers make them, not the way the plugin
// reads them.
package jwtkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // registers the hashes SignRaw uses
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Secret is an HMAC key long enough for HS512.
const Secret = "jwtkit-secret-0123456789abcdef-0123456789abcdef-0123456789abcdef"

// Keys is one private key per family, generated once per test binary.
type Keys struct {
	RSA   *rsa.PrivateKey
	RSA2  *rsa.PrivateKey // another RSA key: a rotated or foreign one
	P256  *ecdsa.PrivateKey
	P384  *ecdsa.PrivateKey
	P521  *ecdsa.PrivateKey
	Ed    ed25519.PrivateKey
	EdPub ed25519.PublicKey
}

var (
	once sync.Once
	keys *Keys
)

// Generate returns the shared test keys.
func Generate(t testing.TB) *Keys {
	t.Helper()
	once.Do(func() {
		k := &Keys{}
		var err [7]error
		k.RSA, err[0] = rsa.GenerateKey(rand.Reader, 2048)
		k.RSA2, err[1] = rsa.GenerateKey(rand.Reader, 2048)
		k.P256, err[2] = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.P384, err[3] = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		k.P521, err[4] = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		k.EdPub, k.Ed, err[5] = ed25519.GenerateKey(rand.Reader)
		for _, e := range err {
			if e != nil {
				return
			}
		}
		keys = k
	})
	if keys == nil {
		t.Fatal("jwtkit: key generation failed")
	}
	return keys
}

// Signer is the private key for alg among k (the HMAC secret for HS*).
func (k *Keys) Signer(alg string) interface{} {
	switch alg {
	case "HS256", "HS384", "HS512":
		return []byte(Secret)
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return k.RSA
	case "ES256":
		return k.P256
	case "ES384":
		return k.P384
	case "ES512":
		return k.P521
	}
	return k.Ed
}

// Public is the public half of a private key.
func Public(priv interface{}) interface{} {
	if s, ok := priv.(crypto.Signer); ok {
		return s.Public()
	}
	return priv
}

// Claims is a token's payload; Std fills the usual claims around it.
type Claims map[string]interface{}

// Std is a user's claims: sub, type, roles, exp in an hour, iat now.
func Std(sub, typ string, roles ...string) Claims {
	c := Claims{"sub": sub, "type": typ, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	if len(roles) > 0 {
		c["roles"] = roles
	}
	return c
}

// With returns a copy of c with extra claims (a nil value removes one).
func (c Claims) With(extra Claims) Claims {
	out := Claims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range extra {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// Sign makes a compact JWS of claims with alg, key and (when not "") kid.
func Sign(t testing.TB, alg string, key interface{}, kid string, claims Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		t.Fatalf("jwtkit: signer %s: %v", alg, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("jwtkit: sign %s: %v", alg, err)
	}
	token, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// PEM is the PKIX PEM of a public key, with a "kid" header when kid is
// not "".
func PEM(t testing.TB, pub interface{}, kid string) string {
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

// JWK is one public key as published in a JWKS.
type JWK struct {
	Pub interface{}
	Kid string
	Alg string
}

// JWKS marshals a key set.
func JWKS(t testing.TB, set ...JWK) []byte {
	t.Helper()
	var out jose.JSONWebKeySet
	for _, k := range set {
		out.Keys = append(out.Keys, jose.JSONWebKey{Key: k.Pub, KeyID: k.Kid, Algorithm: k.Alg, Use: "sig"})
	}
	raw, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Issuer serves a JWKS on loopback and counts its fetches; its keys and
// its health can change while tests run.
type Issuer struct {
	Server  *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	body    []byte
	status  int
	delay   time.Duration
}

// NewIssuer serves set at Issuer.URL().
func NewIssuer(t testing.TB, set ...JWK) *Issuer {
	t.Helper()
	is := &Issuer{body: JWKS(t, set...), status: http.StatusOK}
	is.Server = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.Server.Close)
	return is
}

func (is *Issuer) serve(w http.ResponseWriter, _ *http.Request) {
	is.fetches.Add(1)
	is.mu.Lock()
	body, status, delay := is.body, is.status, is.delay
	is.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// URL is the JWKS's address.
func (is *Issuer) URL() string { return is.Server.URL + "/.well-known/jwks.json" }

// Fetches counts the requests served so far.
func (is *Issuer) Fetches() int { return int(is.fetches.Load()) }

// Publish replaces the key set (a rotation).
func (is *Issuer) Publish(t testing.TB, set ...JWK) {
	raw := JWKS(t, set...)
	is.mu.Lock()
	is.body, is.status = raw, http.StatusOK
	is.mu.Unlock()
}

// Fail makes every fetch answer status with an HTML body (an outage).
func (is *Issuer) Fail(status int) {
	is.mu.Lock()
	is.body, is.status = []byte("<html>down</html>"), status
	is.mu.Unlock()
}

// Delay holds every answer for d.
func (is *Issuer) Delay(d time.Duration) {
	is.mu.Lock()
	is.delay = d
	is.mu.Unlock()
}

// Segment is base64url without padding, as JWS segments are written.
func Segment(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// SignRaw signs a header written by hand (duplicate keys, jku, an alg
// that does not fit the key: what an attacker sends) over claims, with
// signAlg's hash and scheme and key, using the standard library.
func SignRaw(t testing.TB, signAlg string, key interface{}, header string, claims Claims) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return SignJSON(t, signAlg, key, header, string(payload))
}

// SignJSON is SignRaw with the payload written by hand too (a duplicate
// claim).
func SignJSON(t testing.TB, signAlg string, key interface{}, header, payload string) string {
	t.Helper()
	var err error
	signed := Segment([]byte(header)) + "." + Segment([]byte(payload))
	h := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}[signAlg[len(signAlg)-3:]]
	var sig []byte
	switch k := key.(type) {
	case []byte:
		mac := hmac.New(h.New, k)
		mac.Write([]byte(signed))
		sig = mac.Sum(nil)
	case *rsa.PrivateKey:
		d := digest(h, signed)
		if strings.HasPrefix(signAlg, "PS") {
			sig, err = rsa.SignPSS(rand.Reader, k, h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d)
		}
	case *ecdsa.PrivateKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digest(h, signed))
		if err == nil {
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(signed))
	default:
		t.Fatalf("jwtkit: no raw signer for %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + Segment(sig)
}

func digest(h crypto.Hash, msg string) []byte {
	d := h.New()
	d.Write([]byte(msg))
	return d.Sum(nil)
}

// Data is c as the app receives it in X-Auth-User: the claims as JSON
// decodes them (numbers as float64).
func (c Claims) Data(t testing.TB) map[string]interface{} {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

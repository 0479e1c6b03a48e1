package jwt

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"math/big"
	"strings"
)

// Verification keys: PEM and JWK parsing, and which key may check which
// algorithm. A key is bound to its type (and, for EC, its curve) and, when
// it says so, to one algorithm: an RSA key never checks an ES or HS
// signature, a P-256 key never an ES384 one, and no public key is ever used
// as an HMAC secret (HMAC uses jwt.secret alone).

// Key families, as in a JWK's kty.
const (
	familyHMAC = "oct"
	familyRSA  = "RSA"
	familyEC   = "EC"
	familyOKP  = "OKP"
)

// minRSABits refuses keys too short to trust.
const minRSABits = 2048

// pubKey is one public key.
type pubKey struct {
	kid    string
	family string
	curve  string // EC: P-256, P-384, P-521; OKP: Ed25519
	alg    string // the only algorithm it checks, when the key says so
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
}

// keyFits reports whether key may check a signature made with alg.
func keyFits(key *pubKey, alg string, a algorithm) bool {
	if key.family != a.family || (key.alg != "" && key.alg != alg) {
		return false
	}
	return a.curve == "" || key.curve == a.curve
}

// parsePublicKeys reads jwt.publicKeys: each entry PEM (one or more
// blocks), a JWK, or a JWKS.
func parsePublicKeys(entries []string) ([]*pubKey, error) {
	var keys []*pubKey
	for i, entry := range entries {
		entry = strings.TrimSpace(strings.ReplaceAll(entry, `\n`, "\n"))
		var got []*pubKey
		var err error
		if strings.HasPrefix(entry, "{") {
			got, err = parseJSONKeys([]byte(entry))
		} else {
			got, err = parsePEMKeys([]byte(entry))
		}
		if err != nil {
			return nil, opts.Error("jwt.publicKeys", "entry %d: %v", i+1, err)
		}
		keys = append(keys, got...)
	}
	return keys, nil
}

func parsePEMKeys(raw []byte) ([]*pubKey, error) {
	var keys []*pubKey
	for {
		block, rest := pem.Decode(raw)
		if block == nil {
			break
		}
		key, err := pemKey(block)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
		raw = rest
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found (expected -----BEGIN PUBLIC KEY-----, a JWK or a JWKS)")
	}
	return keys, nil
}

func pemKey(block *pem.Block) (*pubKey, error) {
	var pub interface{}
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, errors.New("a private key: give the public key only")
		}
		return nil, errors.New("unsupported PEM block " + block.Type)
	}
	if err != nil {
		return nil, errors.New("unreadable " + block.Type)
	}
	key, err := publicKey(pub)
	if err != nil {
		return nil, err
	}
	key.kid = strings.TrimSpace(block.Headers["kid"])
	return key, nil
}

// publicKey wraps a parsed key, refusing short RSA keys.
func publicKey(pub interface{}) (*pubKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, errors.New("RSA key shorter than 2048 bits")
		}
		return &pubKey{family: familyRSA, rsa: k}, nil
	case *ecdsa.PublicKey:
		return &pubKey{family: familyEC, curve: k.Curve.Params().Name, ec: k}, nil
	case ed25519.PublicKey:
		return &pubKey{family: familyOKP, curve: "Ed25519", ed: k}, nil
	}
	return nil, errors.New("unsupported key type (RSA, EC P-256/384/521 and Ed25519 are)")
}

// webKey is one JSON Web Key (JWK)'s fields that matter here.
type webKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// parseJSONKeys reads a configured JWK or JWKS; every key must be usable.
func parseJSONKeys(raw []byte) ([]*pubKey, error) {
	var set struct {
		Keys []webKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, errors.New("not a JWK or JWKS")
	}
	if set.Keys == nil {
		var one webKey
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, errors.New("not a JWK or JWKS")
		}
		set.Keys = []webKey{one}
	}
	var keys []*pubKey
	for _, doc := range set.Keys {
		key, err := keyOfJWK(doc)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// keyOfJWK reads one JWK. Symmetric keys (kty "oct") and private keys are
// refused: a key published by an issuer is never an HMAC secret.
func keyOfJWK(doc webKey) (*pubKey, error) {
	if doc.D != "" {
		return nil, errors.New("JWK " + doc.Kid + " holds a private key")
	}
	if doc.Use != "" && doc.Use != "sig" {
		return nil, errors.New("JWK " + doc.Kid + " is not for signatures")
	}
	if doc.Alg != "" {
		a, ok := algorithms[doc.Alg]
		if !ok || a.family != doc.Kty {
			return nil, errors.New("JWK " + doc.Kid + ": algorithm " + doc.Alg + " does not fit key type " + doc.Kty)
		}
	}
	var key *pubKey
	var err error
	switch doc.Kty {
	case familyRSA:
		key, err = rsaOfJWK(doc)
	case familyEC:
		key, err = ecOfJWK(doc)
	case familyOKP:
		key, err = okpOfJWK(doc)
	default:
		err = errors.New("JWK " + doc.Kid + ": key type " + doc.Kty + " is not supported (RSA, EC, OKP are; symmetric keys never are)")
	}
	if err != nil {
		return nil, err
	}
	key.kid, key.alg = doc.Kid, doc.Alg
	return key, nil
}

func rsaOfJWK(doc webKey) (*pubKey, error) {
	n, errN := b64Field(doc.N)
	e, errE := b64Field(doc.E)
	if errN != nil || errE != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("JWK " + doc.Kid + ": bad RSA modulus or exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("JWK " + doc.Kid + ": bad RSA exponent")
	}
	return publicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp})
}

// ecOfJWK reads an EC key, checking that the point lies on its curve.
func ecOfJWK(doc webKey) (*pubKey, error) {
	var curve elliptic.Curve
	var check ecdh.Curve
	switch doc.Crv {
	case "P-256":
		curve, check = elliptic.P256(), ecdh.P256()
	case "P-384":
		curve, check = elliptic.P384(), ecdh.P384()
	case "P-521":
		curve, check = elliptic.P521(), ecdh.P521()
	default:
		return nil, errors.New("JWK " + doc.Kid + ": curve " + doc.Crv + " is not supported")
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := b64Field(doc.X)
	y, errY := b64Field(doc.Y)
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, errors.New("JWK " + doc.Kid + ": bad EC coordinates")
	}
	point := append(append([]byte{4}, x...), y...)
	if _, err := check.NewPublicKey(point); err != nil {
		return nil, errors.New("JWK " + doc.Kid + ": point not on curve " + doc.Crv)
	}
	pub := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	return &pubKey{family: familyEC, curve: doc.Crv, ec: pub}, nil
}

func okpOfJWK(doc webKey) (*pubKey, error) {
	x, err := b64Field(doc.X)
	if doc.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("JWK " + doc.Kid + ": only Ed25519 OKP keys are supported")
	}
	return &pubKey{family: familyOKP, curve: "Ed25519", ed: ed25519.PublicKey(x)}, nil
}

// b64Field decodes a JWK's base64url field (unpadded; padded tolerated,
// since some issuers pad).
func b64Field(v string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
}

// parseKeySet reads a fetched JWKS, keeping the keys authlayer can use and
// skipping the rest (an issuer may publish encryption or symmetric keys).
func parseKeySet(raw []byte) []*pubKey {
	var set struct {
		Keys []webKey `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil
	}
	var keys []*pubKey
	for _, doc := range set.Keys {
		if key, err := keyOfJWK(doc); err == nil {
			keys = append(keys, key)
		}
	}
	return keys
}

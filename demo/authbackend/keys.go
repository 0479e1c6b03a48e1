package authbackend

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
)

// The signing key: an Ed25519 key pair. The backend signs with the private
// half (EdDSA); authlayer verifies with the public half, configured in
// jwt.publicKeys, and needs no backend call to do it.

// ParsePrivateKey reads an Ed25519 private key in PEM: a "PRIVATE KEY"
// block (PKCS #8, as `openssl genpkey -algorithm ed25519` writes it). The
// two characters \ and n may stand for a newline, so that the key fits on
// one line (an environment variable, a label).
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block (want -----BEGIN PRIVATE KEY-----)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, errors.New("PEM block " + block.Type + ": want PRIVATE KEY (PKCS #8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("unreadable PKCS #8 private key")
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ed, nil
}

// PrivateKeyPEM encodes key as a PKCS #8 "PRIVATE KEY" PEM block, the form
// ParsePrivateKey reads.
func PrivateKeyPEM(key ed25519.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// PublicKeyPEM encodes pub as a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo)
// with a "kid" header when kid is not empty: the form authlayer's
// jwt.publicKeys takes, the kid binding the key to the tokens naming it.
func PublicKeyPEM(pub ed25519.PublicKey, kid string) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	block := &pem.Block{Type: "PUBLIC KEY", Bytes: der}
	if kid != "" {
		block.Headers = map[string]string{"kid": kid}
	}
	return string(pem.EncodeToMemory(block)), nil
}

// OneLine writes a PEM text on one line, newlines as the two characters \
// and n, as a Docker label needs it (authlayer and ParsePrivateKey read it
// back).
func OneLine(pemText string) string {
	return strings.ReplaceAll(strings.TrimSpace(pemText), "\n", `\n`)
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: base64url (no padding)
// of the SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<pub>"} (RFC 8037).
// The backend puts it in every token's "kid" header.
func KeyID(pub ed25519.PublicKey) string {
	jwk := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Package cluster holds what cluster mode stores in Redis without making
// Redis a credential store: keys are keyed hashes of tokens, never a raw
// token, and values that contain tokens (a refresh result) are encrypted
// and authenticated. A Redis dump or a MONITOR session reveals no token,
// and without the cluster secret a guessed token cannot be tested against
// a key.
//
// Both keys are derived once (NewKeys) from cluster.secret with HKDF-SHA256
// (RFC 5869, written here on crypto/hmac: crypto/hkdf is Go 1.24, newer
// than what Yaegi v0.16.1 knows), one per use under its own info label:
//
//   - the name key, an HMAC-SHA256 key: Name(k, kind, token) is
//     kind + ":" + base64url(first 24 bytes of HMAC(kind + "\x00" + token)),
//     32 characters after the colon (192 bits). The kind is inside the
//     MAC as well as in front of it, so two kinds never collide, and the
//     NUL separator keeps ("ab", "c") and ("a", "bc") apart.
//   - the value key, an AES-256-GCM key: Seal(k, plaintext, ad) is
//     nonce || ciphertext || tag with a fresh random 12-byte nonce; ad
//     (the value's key name) is authenticated, so a value copied under
//     another key does not open. Open fails with ErrOpen, whatever the
//     cause, and never panics on short or garbled input.
//
// Plain functions taking the keys first (CONTRIBUTING.md, Speed); no
// goroutine, no package-level state but the sentinel error.
package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/authlayer/authlayer/internal/opts"
)

// MinSecret is the shortest cluster.secret accepted, in bytes.
const MinSecret = 32

// nameChars is the length of a name's hash part: 24 bytes of the MAC in
// unpadded base64url.
const nameChars = 32

// nonceSize and tagSize are AES-GCM's standard nonce and tag sizes.
const (
	nonceSize = 12
	tagSize   = 16
)

// The HKDF salt and info labels. Changing one changes every name and
// makes every sealed value unreadable: they carry a version for that.
var (
	hkdfSalt  = []byte("authlayer cluster v1")
	infoName  = []byte("authlayer cluster v1 name key (HMAC-SHA256)")
	infoValue = []byte("authlayer cluster v1 value key (AES-256-GCM)")
)

// ErrOpen is the one error of Open: the value is too short, was altered,
// was sealed under another key or another ad, or the keys are missing.
// The causes are not told apart on purpose.
var ErrOpen = errors.New("cluster: the stored value does not open")

// Keys are the keys derived from cluster.secret. Build them with NewKeys;
// they are read-only afterwards and safe for concurrent use.
type Keys struct {
	name  []byte
	value cipher.AEAD
}

// NewKeys derives the name and value keys from the cluster secret. A
// secret shorter than MinSecret bytes is refused with an error naming
// cluster.secret (and never holding it).
func NewKeys(secret string) (*Keys, error) {
	if len(secret) < MinSecret {
		return nil, opts.Error("cluster.secret", "must be at least %d bytes (a random string, the same on every replica)", MinSecret)
	}
	prk := hkdfExtract(hkdfSalt, []byte(secret))
	nameKey, err := hkdfExpand(prk, infoName, 32)
	if err != nil {
		return nil, opts.Error("cluster.secret", "cannot derive the name key")
	}
	valueKey, err := hkdfExpand(prk, infoValue, 32)
	if err != nil {
		return nil, opts.Error("cluster.secret", "cannot derive the value key")
	}
	block, err := aes.NewCipher(valueKey)
	if err != nil {
		return nil, opts.Error("cluster.secret", "cannot build the value cipher")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, opts.Error("cluster.secret", "cannot build the value cipher")
	}
	return &Keys{name: nameKey, value: aead}, nil
}

// Name is the Redis key part for a token of a kind ("refresh", "logout",
// ...): kind + ":" + 32 base64url characters of HMAC-SHA256 under the name
// key of kind + "\x00" + token. Stable for one secret; it differs across
// secrets and kinds and holds nothing of the token. k must come from
// NewKeys.
func Name(k *Keys, kind, token string) string {
	mac := hmac.New(sha256.New, k.name)
	mac.Write([]byte(kind))
	mac.Write([]byte{0})
	mac.Write([]byte(token))
	sum := mac.Sum(nil)
	return kind + ":" + base64.RawURLEncoding.EncodeToString(sum[:nameChars*6/8])
}

// Seal encrypts and authenticates plaintext, binding ad (the key name the
// value is stored under): nonce || ciphertext || tag, with a fresh random
// 12-byte nonce. It returns nil when there are no keys or the system's
// random source fails; nil never opens, so a caller that stores it fails
// closed.
func Seal(k *Keys, plaintext, ad []byte) []byte {
	if k == nil || k.value == nil {
		return nil
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	if _, err := rand.Read(out); err != nil {
		return nil
	}
	return k.value.Seal(out, out[:nonceSize], plaintext, ad)
}

// Open authenticates and decrypts a value Seal made under the same keys
// and ad. Any failure is ErrOpen; short, garbled or empty input is a
// failure, never a panic.
func Open(k *Keys, sealed, ad []byte) ([]byte, error) {
	if k == nil || k.value == nil || len(sealed) < nonceSize+tagSize {
		return nil, ErrOpen
	}
	plain, err := k.value.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// hkdfExtract is RFC 5869's HKDF-Extract with SHA-256: PRK = HMAC(salt,
// IKM); an empty salt stands for 32 zero bytes (HMAC pads the key with
// zeros anyway, so both give the same PRK).
func hkdfExtract(salt, ikm []byte) []byte {
	if len(salt) == 0 {
		salt = make([]byte, sha256.Size)
	}
	mac := hmac.New(sha256.New, salt)
	mac.Write(ikm)
	return mac.Sum(nil)
}

// errHKDFLength: RFC 5869 allows at most 255 blocks of output.
var errHKDFLength = errors.New("cluster: hkdf output longer than 255 blocks")

// hkdfExpand is RFC 5869's HKDF-Expand with SHA-256: T(i) = HMAC(PRK,
// T(i-1) || info || i), OKM the first length bytes of T(1) || T(2) || ...
// The loop is bounded by 255 blocks.
func hkdfExpand(prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*sha256.Size {
		return nil, errHKDFLength
	}
	okm := make([]byte, 0, length+sha256.Size)
	var prev []byte
	for i := 1; len(okm) < length; i++ {
		mac := hmac.New(sha256.New, prk)
		mac.Write(prev)
		mac.Write(info)
		mac.Write([]byte{byte(i)})
		prev = mac.Sum(nil)
		okm = append(okm, prev...)
	}
	return okm[:length], nil
}

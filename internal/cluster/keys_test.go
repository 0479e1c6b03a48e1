package cluster

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

const (
	secretA = "0123456789abcdef0123456789abcdef-replica-secret-A"
	secretB = "0123456789abcdef0123456789abcdef-replica-secret-B"
)

func mustKeys(t testing.TB, secret string) *Keys {
	t.Helper()
	k, err := NewKeys(secret)
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	return k
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// seq is the bytes from..to inclusive, as RFC 5869's vectors write them.
func seq(from, to int) []byte {
	out := make([]byte, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, byte(i))
	}
	return out
}

func randomToken(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("rand: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// leaks reports the first 8-byte window of secret found in out, or "".
func leaks(out, secret []byte) string {
	for i := 0; i+8 <= len(secret); i++ {
		if bytes.Contains(out, secret[i:i+8]) {
			return string(secret[i : i+8])
		}
	}
	return ""
}

// RFC 5869, appendix A, test cases 1 to 3 (the SHA-256 ones).
func TestHKDFRFC5869Vectors(t *testing.T) {
	cases := []struct {
		name            string
		ikm, salt, info []byte
		length          int
		prk, okm        string
	}{
		{
			name: "1 basic", ikm: bytes.Repeat([]byte{0x0b}, 22), salt: seq(0x00, 0x0c), info: seq(0xf0, 0xf9), length: 42,
			prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
			okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
		},
		{
			name: "2 longer inputs and outputs", ikm: seq(0x00, 0x4f), salt: seq(0x60, 0xaf), info: seq(0xb0, 0xff), length: 82,
			prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
			okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" +
				"59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71" +
				"cc30c58179ec3e87c14c01d5c1f3434f1d87",
		},
		{
			name: "3 zero-length salt and info", ikm: bytes.Repeat([]byte{0x0b}, 22), salt: nil, info: nil, length: 42,
			prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
			okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
		},
	}
	for _, c := range cases {
		prk := hkdfExtract(c.salt, c.ikm)
		if !bytes.Equal(prk, unhex(t, c.prk)) {
			t.Errorf("case %s: PRK = %x, want %s", c.name, prk, c.prk)
		}
		okm, err := hkdfExpand(prk, c.info, c.length)
		if err != nil {
			t.Errorf("case %s: expand: %v", c.name, err)
			continue
		}
		if !bytes.Equal(okm, unhex(t, c.okm)) {
			t.Errorf("case %s: OKM = %x, want %s", c.name, okm, c.okm)
		}
	}
}

func TestHKDFExpandLengthBounds(t *testing.T) {
	prk := hkdfExtract(nil, []byte("ikm"))
	if okm, err := hkdfExpand(prk, nil, 255*32); err != nil || len(okm) != 255*32 {
		t.Errorf("255 blocks: len %d, err %v; want %d, nil", len(okm), err, 255*32)
	}
	if _, err := hkdfExpand(prk, nil, 255*32+1); !errors.Is(err, errHKDFLength) {
		t.Errorf("255 blocks + 1 byte: err %v, want errHKDFLength", err)
	}
	if _, err := hkdfExpand(prk, nil, -1); !errors.Is(err, errHKDFLength) {
		t.Errorf("negative length: err %v, want errHKDFLength", err)
	}
	// A prefix of a longer output is the shorter output (RFC 5869 2.3).
	short, _ := hkdfExpand(prk, []byte("x"), 10)
	long, _ := hkdfExpand(prk, []byte("x"), 100)
	if !bytes.Equal(short, long[:10]) {
		t.Errorf("expand(10) = %x is not a prefix of expand(100) = %x", short, long)
	}
}

func TestNewKeysRefusesShortSecrets(t *testing.T) {
	for _, secret := range []string{"", "s3cr3t-value-nobody-should-see", strings.Repeat("x", MinSecret-1)} {
		k, err := NewKeys(secret)
		if err == nil || k != nil {
			t.Errorf("NewKeys(%d bytes) = %v, %v; want an error", len(secret), k, err)
			continue
		}
		if !strings.Contains(err.Error(), "cluster.secret") {
			t.Errorf("error %q does not name cluster.secret", err)
		}
		if secret != "" && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds the secret", err)
		}
	}
	if _, err := NewKeys(strings.Repeat("x", MinSecret)); err != nil {
		t.Errorf("NewKeys(%d bytes): %v", MinSecret, err)
	}
}

func TestNewKeysDerivesDistinctKeys(t *testing.T) {
	k := mustKeys(t, secretA)
	prk := hkdfExtract(hkdfSalt, []byte(secretA))
	nameKey, _ := hkdfExpand(prk, infoName, 32)
	valueKey, _ := hkdfExpand(prk, infoValue, 32)
	if bytes.Equal(nameKey, valueKey) {
		t.Fatalf("the name and value keys are equal")
	}
	if !bytes.Equal(k.name, nameKey) {
		t.Errorf("the name key is not HKDF(secret, %q)", infoName)
	}
	// The value cipher is AES-256-GCM under HKDF(secret, infoValue): a
	// value sealed by hand under that key opens, one under the name key
	// does not.
	ad := []byte("refresh:x")
	for _, c := range []struct {
		key   []byte
		opens bool
	}{{valueKey, true}, {nameKey, false}} {
		block, err := aes.NewCipher(c.key)
		if err != nil {
			t.Fatal(err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		nonce := make([]byte, nonceSize)
		sealed := aead.Seal(nonce, nonce, []byte("hand sealed"), ad)
		got, err := Open(k, sealed, ad)
		if c.opens && (err != nil || string(got) != "hand sealed") {
			t.Errorf("a value sealed under the value key: %q, %v", got, err)
		}
		if !c.opens && !errors.Is(err, ErrOpen) {
			t.Errorf("a value sealed under the name key opened: %q, %v", got, err)
		}
	}
}

func TestNameShape(t *testing.T) {
	k := mustKeys(t, secretA)
	name := Name(k, "refresh", "tok")
	if !strings.HasPrefix(name, "refresh:") {
		t.Fatalf("Name = %q, want the prefix refresh:", name)
	}
	hash := strings.TrimPrefix(name, "refresh:")
	if len(hash) != 32 {
		t.Errorf("hash part %q is %d characters, want 32", hash, len(hash))
	}
	raw, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil || len(raw) != 24 {
		t.Errorf("hash part %q: %d bytes, %v; want 24 bytes of base64url", hash, len(raw), err)
	}
}

func TestNameStableAndSeparated(t *testing.T) {
	a := mustKeys(t, secretA)
	a2 := mustKeys(t, secretA)
	b := mustKeys(t, secretB)
	token := randomToken(t, 64)
	n := Name(a, "refresh", token)
	if Name(a, "refresh", token) != n || Name(a2, "refresh", token) != n {
		t.Errorf("Name is not stable for one secret")
	}
	if Name(b, "refresh", token) == n {
		t.Errorf("Name is the same under two secrets")
	}
	if strings.TrimPrefix(Name(a, "logout", token), "logout:") == strings.TrimPrefix(n, "refresh:") {
		t.Errorf("two kinds give the same hash for one token")
	}
	if Name(a, "refresh", token+"x") == n {
		t.Errorf("two tokens give the same name")
	}
	// The separator: ("ab", "c") and ("a", "bc") hash different strings.
	if strings.TrimPrefix(Name(a, "ab", "c"), "ab:") == strings.TrimPrefix(Name(a, "a", "bc"), "a:") {
		t.Errorf("kind and token are not separated in the MAC")
	}
	if Name(a, "refresh", "") == Name(a, "refresh", "\x00") {
		t.Errorf("empty and NUL tokens collide")
	}
}

func TestNameHoldsNothingOfTheToken(t *testing.T) {
	k := mustKeys(t, secretA)
	for i := 0; i < 8; i++ {
		token := randomToken(t, 512)
		name := Name(k, "refresh", token)
		if w := leaks([]byte(name), []byte(token)); w != "" {
			t.Errorf("name %q holds %q of the token", name, w)
		}
	}
	// A token made of the name's own alphabet and the kind: still nothing.
	token := strings.Repeat("refresh:", 8) + randomToken(t, 200)
	name := Name(k, "refresh", token)
	if w := leaks([]byte(strings.TrimPrefix(name, "refresh:")), []byte(token)); w != "" {
		t.Errorf("hash of %q holds %q of the token", name, w)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeys(t, secretA)
	ad := []byte(Name(k, "refresh", "old-refresh-token"))
	for _, pt := range [][]byte{nil, {}, []byte("x"), []byte(`{"access":"a.b.c","refresh":"r"}`), bytes.Repeat([]byte{0xff}, 5000)} {
		sealed := Seal(k, pt, ad)
		if len(sealed) != nonceSize+len(pt)+tagSize {
			t.Errorf("sealed %d bytes of plaintext into %d, want %d", len(pt), len(sealed), nonceSize+len(pt)+tagSize)
		}
		got, err := Open(k, sealed, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open(Seal(%d bytes)) = %d bytes, %v", len(pt), len(got), err)
		}
	}
	// Fresh nonces: one plaintext sealed twice gives two values.
	if bytes.Equal(Seal(k, []byte("same"), ad), Seal(k, []byte("same"), ad)) {
		t.Errorf("two seals of one plaintext are equal (nonce reused)")
	}
	// Keys from the same secret open each other's values (every replica).
	other := mustKeys(t, secretA)
	if got, err := Open(other, Seal(k, []byte("shared"), ad), ad); err != nil || string(got) != "shared" {
		t.Errorf("a replica with the same secret: %q, %v", got, err)
	}
}

func TestOpenRefusesTamperedValues(t *testing.T) {
	k := mustKeys(t, secretA)
	ad := []byte("refresh:abc")
	sealed := Seal(k, []byte("access=a.b.c refresh=r1"), ad)
	for i := 0; i < len(sealed); i++ {
		for _, bit := range []byte{0x01, 0x80} {
			bad := append([]byte(nil), sealed...)
			bad[i] ^= bit
			if got, err := Open(k, bad, ad); !errors.Is(err, ErrOpen) || got != nil {
				t.Errorf("byte %d ^ %#x: Open = %q, %v; want nil, ErrOpen", i, bit, got, err)
			}
		}
	}
	// An extra byte at the end is tampering too.
	if _, err := Open(k, append(append([]byte(nil), sealed...), 0), ad); !errors.Is(err, ErrOpen) {
		t.Errorf("appended byte: err %v, want ErrOpen", err)
	}
}

func TestOpenRefusesWrongAdAndWrongKey(t *testing.T) {
	a := mustKeys(t, secretA)
	b := mustKeys(t, secretB)
	ad := []byte(Name(a, "refresh", "r1"))
	sealed := Seal(a, []byte("result"), ad)
	for _, wrong := range [][]byte{nil, []byte(Name(a, "refresh", "r2")), []byte(Name(a, "logout", "r1")), append(append([]byte(nil), ad...), 'x')} {
		if _, err := Open(a, sealed, wrong); !errors.Is(err, ErrOpen) {
			t.Errorf("ad %q: err %v, want ErrOpen", wrong, err)
		}
	}
	if _, err := Open(b, sealed, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("other secret: err %v, want ErrOpen", err)
	}
	if _, err := Open(nil, sealed, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("nil keys: err %v, want ErrOpen", err)
	}
	if Seal(nil, []byte("x"), ad) != nil {
		t.Errorf("Seal with nil keys is not nil")
	}
}

func TestOpenRefusesShortInputs(t *testing.T) {
	k := mustKeys(t, secretA)
	ad := []byte("refresh:abc")
	sealed := Seal(k, []byte("a plaintext long enough to pass forty bytes sealed"), ad)
	if len(sealed) <= 40 {
		t.Fatalf("sealed value is %d bytes, want more than 40", len(sealed))
	}
	for n := 0; n < len(sealed); n++ {
		if got, err := Open(k, sealed[:n], ad); !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("prefix of %d bytes: Open = %q, %v; want nil, ErrOpen", n, got, err)
		}
		if got, err := Open(k, sealed[len(sealed)-n:], ad); !errors.Is(err, ErrOpen) || got != nil {
			t.Errorf("suffix of %d bytes: Open = %q, %v; want nil, ErrOpen", n, got, err)
		}
	}
	garbage := make([]byte, 41)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 40; n++ {
		if _, err := Open(k, garbage[:n], ad); !errors.Is(err, ErrOpen) {
			t.Errorf("%d random bytes: err %v, want ErrOpen", n, err)
		}
		if _, err := Open(k, make([]byte, n), ad); !errors.Is(err, ErrOpen) {
			t.Errorf("%d zero bytes: err %v, want ErrOpen", n, err)
		}
	}
}

func TestSealedHoldsNothingOfThePlaintext(t *testing.T) {
	k := mustKeys(t, secretA)
	for i := 0; i < 8; i++ {
		access := randomToken(t, 300)
		refresh := randomToken(t, 300)
		pt := []byte(`{"accessToken":"` + access + `","refreshToken":"` + refresh + `"}`)
		sealed := Seal(k, pt, []byte(Name(k, "refresh", refresh)))
		if w := leaks(sealed, pt); w != "" {
			t.Errorf("sealed value holds %q of the plaintext", w)
		}
	}
	// A repetitive plaintext (GCM is a stream cipher: no block patterns).
	pt := bytes.Repeat([]byte("AAAAAAAA"), 64)
	if w := leaks(Seal(k, pt, nil), pt); w != "" {
		t.Errorf("sealed value holds %q of a repetitive plaintext", w)
	}
}

// sealOpenSeeds are FuzzSealOpen's seeds; TestSealOpenSeeds runs them as a
// plain test, because the Yaegi CLI skips Fuzz functions.
var sealOpenSeeds = []struct {
	plaintext, ad, garbled []byte
}{
	{nil, nil, nil},
	{[]byte("x"), []byte("refresh:k"), []byte("x")},
	{[]byte(`{"accessToken":"a.b.c","refreshToken":"r"}`), []byte("refresh:abcdefgh"), bytes.Repeat([]byte{0}, 28)},
	{bytes.Repeat([]byte{0xff}, 100), []byte{0}, bytes.Repeat([]byte{0xff}, 200)},
	{[]byte("\x00\x01\x02"), bytes.Repeat([]byte("ad"), 50), []byte("0123456789abcdef0123456789abcdef")},
}

// maxFuzzInput bounds each fuzzed input: the fuzzer's larger inputs test
// nothing more and only slow it down.
const maxFuzzInput = 4096

func FuzzSealOpen(f *testing.F) {
	for _, s := range sealOpenSeeds {
		f.Add(s.plaintext, s.ad, s.garbled)
	}
	f.Fuzz(checkSealOpen)
}

func TestSealOpenSeeds(t *testing.T) {
	for _, s := range sealOpenSeeds {
		checkSealOpen(t, s.plaintext, s.ad, s.garbled)
	}
}

// checkSealOpen: a round trip opens; another ad or another secret does
// not; arbitrary bytes never open and never panic; Name of the inputs is
// stable and well formed.
func checkSealOpen(t *testing.T, plaintext, ad, garbled []byte) {
	if len(plaintext) > maxFuzzInput || len(ad) > maxFuzzInput || len(garbled) > maxFuzzInput {
		return
	}
	a := mustKeys(t, secretA)
	b := mustKeys(t, secretB)
	sealed := Seal(a, plaintext, ad)
	got, err := Open(a, sealed, ad)
	if err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("round trip of %q under ad %q: %q, %v", plaintext, ad, got, err)
	}
	if _, err := Open(a, sealed, append(append([]byte(nil), ad...), 1)); !errors.Is(err, ErrOpen) {
		t.Errorf("another ad opened: %v", err)
	}
	if _, err := Open(b, sealed, ad); !errors.Is(err, ErrOpen) {
		t.Errorf("another secret opened: %v", err)
	}
	if got, err := Open(a, garbled, ad); !errors.Is(err, ErrOpen) || got != nil {
		t.Errorf("arbitrary bytes %q opened: %q, %v", garbled, got, err)
	}
	n := Name(a, string(ad), string(plaintext))
	if n != Name(a, string(ad), string(plaintext)) || len(n) != len(ad)+1+nameChars {
		t.Errorf("Name(%q, %q) = %q: unstable or misshapen", ad, plaintext, n)
	}
}

package jwt

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"strings"
	"sync"
)

// Reading a compact JWS strictly, before any key is looked at. Verify
// (verify.go) caps the size, splits the three segments and decodes them as
// canonical unpadded base64url (strictB64, here); this file checks the
// header and decodes JSON objects without duplicate keys (parsers disagree
// on which duplicate wins, so a header or claims object with one means two
// things), and remembers the headers of tokens that verified.

// checkedHeader is a header that passed every check that depends on no
// option: one JSON object without duplicate keys, no crit, a known
// algorithm (never "none"), a kid that is a string when present. What
// Verify reads on every token is a field of its own (under Yaegi, reading
// h.a.hash first copies the whole algorithm).
type checkedHeader struct {
	name string // alg
	a    algorithm
	kid  string
	// hmacHash is the HMAC's hash constructor for HS256, HS384 and HS512;
	// nil for the other families.
	hmacHash func() hash.Hash
}

// checkHeader decodes and checks a header segment not remembered
// (Verify has refused CR and LF). problem is "" for a well-formed header,
// else the reason ("algorithm": an algorithm unknown here, which Verify
// answers as uncheckable).
func checkHeader(seg string) (*checkedHeader, string) {
	raw, err := strictB64.DecodeString(seg)
	if err != nil || len(raw) == 0 {
		return nil, "malformed"
	}
	header, ok := decodeStrictObject(raw)
	if !ok {
		return nil, "malformed"
	}
	if _, crit := header["crit"]; crit {
		return nil, "crit" // no extension is understood here
	}
	name, _ := header["alg"].(string)
	a, known := algorithms[name] // no known algorithm is "" or any spelling of "none"
	if !known && (name == "" || strings.EqualFold(name, "none")) {
		return nil, "alg-none"
	}
	if !known {
		return nil, "algorithm"
	}
	kid, ok := headerKid(header)
	if !ok {
		return nil, "malformed"
	}
	return &checkedHeader{name: name, a: a, kid: kid, hmacHash: hmacHashes[name]}, ""
}

// hmacHashes are the HS algorithms' hash constructors.
var hmacHashes = map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}

// An issuer's headers repeat byte for byte ({"alg":"ES256","kid":"k1"}),
// so the headers of tokens that verified are remembered checked: the
// strict parse is the costliest part of a verification under Yaegi. Only
// verified headers are kept (junk cannot fill the memo), read-only, and
// at most maxHeaderMemo of them.
const maxHeaderMemo = 64

var (
	headerMemo     sync.Map   // header segment → *checkedHeader
	headerMemoMu   sync.Mutex // protects headerMemoSize
	headerMemoSize int
)

// rememberHeader keeps the checked header of a token that verified.
func rememberHeader(seg string, h *checkedHeader) {
	if _, known := headerMemo.Load(seg); known {
		return
	}
	headerMemoMu.Lock()
	room := headerMemoSize < maxHeaderMemo
	if room {
		headerMemoSize++
	}
	headerMemoMu.Unlock()
	if room {
		headerMemo.Store(seg, h)
	}
}

// strictB64 is unpadded base64url in its one canonical spelling: only the
// 64 alphabet characters and zero trailing bits (it skips CR and LF, which
// its callers refuse first). Built once: Strict returns a new copy on
// every call.
var strictB64 = base64.RawURLEncoding.Strict()

// DecodeSegment decodes unpadded base64url in its one canonical spelling.
// The strict raw decoder refuses every other byte ("=", "+", "/", spaces,
// non-ASCII) but skips CR and LF, which are refused first. (No loop over
// the characters here: under Yaegi each iteration costs more than the
// whole decode.)
func DecodeSegment(seg string) ([]byte, bool) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, false
	}
	out, err := strictB64.DecodeString(seg)
	return out, err == nil
}

// decodeStrictObject decodes one JSON object with numbers kept as
// json.Number, refusing duplicate keys at any depth (a key spelled with
// escapes, "\u0061", is the key it decodes to, "a"), nesting deeper than
// maxJSONDepth and trailing data.
//
// No interpreted walk over the tokens (under Yaegi it cost more than the
// rest of a verification): compiled calls only. json.Indent validates
// raw as one JSON value and lays it out one member or element per line: a
// JSON string cannot hold a raw line break, so its line breaks count the
// members and elements as written, each non-empty object or array adding
// its members plus one. The decoded object, laid out the same way by
// json.MarshalIndent, counts them again; decoding keeps one member per
// distinct key (dropping the earlier members of a repeated key and
// everything under them) and drops nothing else, so the counts are equal
// exactly when no object repeats a key. The depth bound is a line indented
// more than maxJSONDepth times. Numbers are kept as json.Number, but one
// beyond float64's range is refused, as it always was here.
func decodeStrictObject(raw []byte) (map[string]interface{}, bool) {
	var laid bytes.Buffer
	if json.Indent(&laid, raw, "", "\t") != nil {
		return nil, false
	}
	written := laid.Bytes()
	if bytes.Contains(written, tooDeep) {
		return nil, false
	}
	var doc map[string]interface{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&doc) != nil || doc == nil {
		return nil, false
	}
	var plain interface{}
	if json.Unmarshal(raw, &plain) != nil {
		return nil, false // a number beyond float64's range (1e400), which parsers read differently
	}
	if bytes.Count(written, objectOpens) == 1 {
		// No object inside the object (each non-empty one opens a line
		// with "{"; a string holds no raw line break): only the top level
		// can repeat a key, and its members are the lines at depth one
		// that start with a name.
		if bytes.Count(written, topLevelNames) != len(doc) {
			return nil, false
		}
		return doc, true
	}
	if !nestedKeysUnique(doc, written) {
		return nil, false
	}
	return doc, true
}

// nestedKeysUnique is decodeStrictObject's count for an object with
// objects inside: the decoded document laid out again has as many lines
// as written, json.Indent's layout of the JSON as sent. In a function of
// its own: a flat claims object, the common case, allocates none of its
// frame (Yaegi allocates every slot a function declares on each call).
func nestedKeysUnique(doc map[string]interface{}, written []byte) bool {
	decoded, err := json.MarshalIndent(doc, "", "")
	if err != nil {
		return false
	}
	if written[len(written)-1] != '}' {
		written = bytes.TrimRight(written, " \t\r\n") // Indent keeps trailing whitespace
	}
	return bytes.Count(decoded, newline) == bytes.Count(written, newline)
}

// uniqueKeys reports whether raw is one JSON object without a repeated
// key at any depth (decodeStrictObject's check, which needs the decoding).
func uniqueKeys(raw []byte) bool {
	_, ok := decodeStrictObject(raw)
	return ok
}

// maxJSONDepth bounds nesting: a value nested deeper than this many
// objects and arrays is refused.
const maxJSONDepth = 32

var (
	objectOpens   = []byte("{\n")    // a non-empty object as json.Indent lays it out
	topLevelNames = []byte("\n\t\"") // a member of the outermost object, laid out
	newline       = []byte("\n")
	tooDeep       = []byte("\n" + strings.Repeat("\t", maxJSONDepth+1)) // a line of json.Indent's output at depth maxJSONDepth+1
)

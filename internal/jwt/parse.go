package jwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"

	"github.com/authlayer/authlayer/internal/jsonpath"
)

// Reading a compact JWS strictly, before any key is looked at: a size cap
// first (Verify's: Options.MaxTokenBytes, the longest cookie), exactly
// three segments, canonical unpadded base64url, and JSON objects without
// duplicate keys (parsers disagree on which duplicate wins, so a header
// or claims object with one means two things).

// jwsParts is a token split and decoded.
type jwsParts struct {
	signed    string // header.payload, the signed bytes
	rawHeader string // the header segment, as sent
	header    map[string]interface{}
	payload   []byte
	signature []byte
}

// splitJWS decodes token's three segments; ok is false for anything that
// is not a well-formed compact JWS. (Verify has checked its length.)
func splitJWS(token string) (jwsParts, bool) {
	var p jwsParts
	if strings.Count(token, ".") != 2 {
		return p, false
	}
	first := strings.IndexByte(token, '.')
	second := first + 1 + strings.IndexByte(token[first+1:], '.')
	payload, ok1 := DecodeSegment(token[first+1 : second])
	signature, ok2 := DecodeSegment(token[second+1:])
	if !ok1 || !ok2 || len(payload) == 0 || len(signature) == 0 {
		return p, false
	}
	header, ok := decodeHeader(token[:first])
	if !ok {
		return p, false
	}
	p.signed, p.rawHeader, p.header, p.payload, p.signature = token[:second], token[:first], header, payload, signature
	return p, true
}

// An issuer's headers repeat byte for byte ({"alg":"ES256","kid":"k1"}),
// so the headers of tokens that verified are remembered decoded: the
// strict parse is the costliest part of a verification under Yaegi. Only
// verified headers are kept (junk cannot fill the memo), read-only, and
// at most maxHeaderMemo of them.
const maxHeaderMemo = 64

var (
	headerMemo     sync.Map   // header segment → map[string]interface{}
	headerMemoMu   sync.Mutex // protects headerMemoSize
	headerMemoSize int
)

func decodeHeader(seg string) (map[string]interface{}, bool) {
	if v, ok := headerMemo.Load(seg); ok {
		return v.(map[string]interface{}), true
	}
	raw, ok := DecodeSegment(seg)
	if !ok || len(raw) == 0 {
		return nil, false
	}
	return decodeStrictObject(raw)
}

// rememberHeader keeps the decoded header of a token that verified.
func rememberHeader(p jwsParts) {
	if _, known := headerMemo.Load(p.rawHeader); known {
		return
	}
	headerMemoMu.Lock()
	room := headerMemoSize < maxHeaderMemo
	if room {
		headerMemoSize++
	}
	headerMemoMu.Unlock()
	if room {
		headerMemo.Store(p.rawHeader, p.header)
	}
}

// DecodeSegment decodes unpadded base64url in its one canonical spelling:
// only the 64 alphabet characters and zero trailing bits. The strict raw
// decoder refuses every other byte ("=", "+", "/", spaces, non-ASCII) but
// skips CR and LF, which are refused first. (No loop over the characters
// here: under Yaegi each iteration costs more than the whole decode.)
func DecodeSegment(seg string) ([]byte, bool) {
	if strings.ContainsAny(seg, "\r\n") {
		return nil, false
	}
	out, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	return out, err == nil
}

// decodeStrictObject decodes one JSON object with numbers kept as
// json.Number, refusing duplicate keys at any depth and trailing data.
func decodeStrictObject(raw []byte) (map[string]interface{}, bool) {
	if !uniqueKeys(raw) {
		return nil, false
	}
	doc, ok := jsonpath.Decode(raw).(map[string]interface{})
	return doc, ok
}

// uniqueKeys walks raw's tokens and reports false when an object repeats a
// key (or the JSON is malformed).
func uniqueKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	return uniqueKeysValue(dec, 0)
}

// maxJSONDepth bounds nesting, so a hostile token cannot recurse deeply.
const maxJSONDepth = 32

func uniqueKeysValue(dec *json.Decoder, depth int) bool {
	tok, err := dec.Token()
	if err != nil || depth > maxJSONDepth {
		return false
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return true
	}
	switch delim {
	case '{':
		return uniqueKeysObject(dec, depth)
	case '[':
		for dec.More() {
			if !uniqueKeysValue(dec, depth+1) {
				return false
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	return false
}

func uniqueKeysObject(dec *json.Decoder, depth int) bool {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey || seen[key] {
			return false
		}
		seen[key] = true
		if !uniqueKeysValue(dec, depth+1) {
			return false
		}
	}
	_, err := dec.Token()
	return err == nil
}

package jwt

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The strict JSON reading of headers and claims (decodeStrictObject),
// checked against a plain token-by-token walk: the walk this package used
// before, kept here as the reference it must agree with.

// walkStrictObject is the reference: json.Decoder tokens, a set of keys
// per object, the depth bound, then one object and nothing after it.
func walkStrictObject(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if !walkValue(dec, 0) {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false
	}
	var doc map[string]interface{}
	return json.Unmarshal(raw, &doc) == nil && doc != nil
}

func walkValue(dec *json.Decoder, depth int) bool {
	tok, err := dec.Token()
	if err != nil || depth > maxJSONDepth {
		return false
	}
	delim, isDelim := tok.(json.Delim)
	if !isDelim {
		return true
	}
	if delim == '[' {
		for dec.More() {
			if !walkValue(dec, depth+1) {
				return false
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	if delim != '{' {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		keyTok, err := dec.Token()
		key, isKey := keyTok.(string)
		if err != nil || !isKey || seen[key] {
			return false
		}
		seen[key] = true
		if !walkValue(dec, depth+1) {
			return false
		}
	}
	_, err = dec.Token()
	return err == nil
}

// strictObjectCases: JSON documents and whether they are acceptable.
var strictObjectCases = []struct {
	desc string
	raw  string
	ok   bool
}{
	{"typical claims", `{"sub":"u-1","type":"user","roles":["a","b"],"iss":"https://i","aud":["app"],"email":"u@x","iat":1,"exp":9999999999}`, true},
	{"empty object", `{}`, true},
	{"same key in different objects", `{"a":{"a":1,"b":{"a":2}},"b":[{"a":1},{"a":2}],"c":[[],{},[{}]]}`, true},
	{"keys differing in case", `{"a":1,"A":2}`, true},
	{"whitespace around", " \t\r\n{ \"a\" : [ 1 , 2 ] ,\n\"b\":{ } }\r\n\t ", true},
	{"colons, commas, brackets and quotes inside strings", `{"a:":"x\":{\"a\":1,\"a\":2}","b":"\\","c":"\\\",\"c\":"}`, true},
	{"escaped line breaks inside strings", `{"a":"x\ny","b":"\n\n\n"}`, true},
	{"numbers of every shape", `{"a":-0,"b":1.5e+10,"c":1E-5,"d":12345678901234567890123}`, true},
	{"number below float64's range", `{"a":1e-400}`, true},
	{"number beyond float64's range", `{"a":1e400}`, false},
	{"beyond float64's range, exponent with zeros", `{"a":1E+0000309}`, false},
	{"beyond float64's range, in an array", `{"a":[1,-2e400]}`, false},
	{"beyond float64's range, long integer part", `{"a":123456789012345678901234567890e280}`, false},
	{"beyond float64's range, 310 digits", `{"a":1` + strings.Repeat("0", 309) + `}`, false},
	{"just inside float64's range", `{"a":1.7976931348623157e308,"b":-1e308}`, true},
	{"underflow is no error", `{"a":1e-400,"b":0.1e-999}`, true},
	{"exponent-like strings", `{"id":"3e1234","n":"12345678901234567890123"}`, true},
	{"number beyond float64's range, nested", `{"a":[{"b":-1E+309}]}`, false},
	{"literals", `{"a":true,"b":false,"c":null}`, true},
	{"duplicate key", `{"a":1,"a":1}`, false},
	{"duplicate key, other value", `{"sub":"u-1","sub":"admin"}`, false},
	{"duplicate key spelled with an escape", `{"a":1,"\u0061":2}`, false},
	{"duplicate key spelled with an upper-case escape", `{"\u00E9":1,"é":2}`, false},
	{"duplicate key, escaped solidus", `{"a/b":1,"a\/b":2}`, false},
	{"duplicate key nested in an object", `{"a":{"b":1,"c":{"d":1,"d":2}}}`, false},
	{"duplicate key nested in an array", `{"a":[1,{"b":1,"b":2}]}`, false},
	{"duplicate key whose first value is an object", `{"a":{"x":1,"y":2},"a":1}`, false},
	{"duplicate key whose last value is an object", `{"a":1,"a":{"x":1}}`, false},
	{"duplicate key whose values are arrays", `{"a":[1,2,3],"a":[]}`, false},
	{"duplicate key, both empty objects", `{"a":{},"a":{}}`, false},
	{"duplicate key hidden among many", `{"k1":1,"k2":2,"k3":3,"k4":4,"k2":5,"k6":6}`, false},
	{"triple key", `{"a":1,"a":2,"a":3}`, false},
	{"keys of invalid UTF-8 that decode alike", "{\"\xff\":1,\"\xfe\":2}", false},
	{"trailing data", `{"a":1}{}`, false},
	{"trailing garbage", `{"a":1}x`, false},
	{"two objects separated by space", `{} {}`, false},
	{"not an object: array", `[{"a":1}]`, false},
	{"not an object: string", `"a"`, false},
	{"not an object: null", `null`, false},
	{"empty", ``, false},
	{"unterminated", `{"a":1`, false},
	{"raw line break inside a string", "{\"a\":\"x\ny\"}", false},
	{"trailing comma", `{"a":1,}`, false},
	{"single quotes", `{'a':1}`, false},
	{"nested at the depth bound", `{"x":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`, true},
	{"nested one beyond the depth bound", `{"x":` + strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1) + `}`, false},
	{"scalar at the depth bound", `{"x":` + strings.Repeat("[", maxJSONDepth-1) + `1` + strings.Repeat("]", maxJSONDepth-1) + `}`, true},
	{"scalar one beyond the depth bound", `{"x":` + strings.Repeat("[", maxJSONDepth) + `1` + strings.Repeat("]", maxJSONDepth) + `}`, false},
	{"objects beyond the depth bound", strings.Repeat(`{"a":`, maxJSONDepth+2) + `1` + strings.Repeat("}", maxJSONDepth+2), false},
	{"nested far beyond the depth bound", `{"x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`, false},
}

// TestStrictObject: decodeStrictObject accepts and refuses as the table
// says, as the reference walk does, and decodes what it accepts as
// json.Number-keeping decoding does.
func TestStrictObject(t *testing.T) {
	for _, tc := range strictObjectCases {
		raw := []byte(tc.raw)
		doc, ok := decodeStrictObject(raw)
		if ok != tc.ok {
			t.Errorf("%s: accepted %v, want %v", tc.desc, ok, tc.ok)
		}
		if ref := walkStrictObject(raw); ref != tc.ok {
			t.Errorf("%s: the reference walk says %v, the table %v", tc.desc, ref, tc.ok)
		}
		if uniqueKeys(raw) != ok {
			t.Errorf("%s: uniqueKeys disagrees with decodeStrictObject", tc.desc)
		}
		if !ok {
			if doc != nil {
				t.Errorf("%s: refused but decoded", tc.desc)
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want map[string]interface{}
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		gotJSON, _ := json.Marshal(doc)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%s: decoded %s, want %s", tc.desc, gotJSON, wantJSON)
		}
	}
}

// TestStrictObjectAgreesWithTheWalk: every prefix and every one-byte
// deletion of the table's documents is judged as the reference walk
// judges it (a cheap stand-in for the fuzz target under Yaegi).
func TestStrictObjectAgreesWithTheWalk(t *testing.T) {
	for _, tc := range strictObjectCases {
		if len(tc.raw) > 400 {
			continue
		}
		for i := 0; i < len(tc.raw); i++ {
			for _, variant := range []string{tc.raw[:i], tc.raw[:i] + tc.raw[i+1:]} {
				checkStrictAgainstWalk(t, []byte(variant))
			}
		}
	}
}

func checkStrictAgainstWalk(t *testing.T, raw []byte) {
	_, ok := decodeStrictObject(raw)
	if ref := walkStrictObject(raw); ok != ref {
		t.Errorf("%q: decodeStrictObject says %v, the reference walk %v", raw, ok, ref)
	}
}

// FuzzStrictObject: decodeStrictObject and the reference walk agree on
// any input. Seeds: the table (TestStrictObject runs them under Yaegi).
func FuzzStrictObject(f *testing.F) {
	for _, tc := range strictObjectCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(checkStrictAgainstWalk)
}

// TestDecodeSegmentStrict: one spelling per byte string.
func TestDecodeSegmentStrict(t *testing.T) {
	cases := []struct {
		seg  string
		want string
		ok   bool
	}{
		{"QQ", "A", true},
		{"QUI", "AB", true},
		{"QUJD", "ABC", true},
		{"", "", true},
		{"QR", "", false},   // non-zero trailing bits: another spelling of "A"
		{"QUJ", "", false},  // likewise for "AB"
		{"QQ==", "", false}, // padded
		{"QQ=", "", false},
		{"Q", "", false}, // no byte string has this length
		{"QQ\n", "", false},
		{"Q\rQ", "", false},
		{"Q Q", "", false},
		{"+/8", "", false}, // standard alphabet
		{"-_8", "\xfb\xff", true},
		{"QQ.", "", false},
		{"QUJD\u00e9", "", false},
	}
	for _, tc := range cases {
		got, ok := DecodeSegment(tc.seg)
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("DecodeSegment(%q) = %q, %v; want %q, %v", tc.seg, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStrictTokens: the strict reading in whole tokens, header and
// claims, signed with the right secret, so only the strictness refuses.
func TestStrictTokens(t *testing.T) {
	j := testSettings(t, nil)
	sign := func(header, claims string) string {
		return makeJWT(t, header, claims, "HS256", []byte(testSecret))
	}
	good := claimsJSON(t, nil)
	body := good[1 : len(good)-1]
	cases := []struct {
		desc, token string
		want        Verdict
	}{
		{"plain", sign(`{"alg":"HS256"}`, good), Good},
		{"claims with whitespace around", sign(`{"alg":"HS256"}`, " \n"+good+"\n "), Good},
		{"header key spelled with escapes", sign(`{"\u0061lg":"HS256"}`, good), Good},
		{"header alg twice, once escaped", sign(`{"alg":"HS256","\u0061lg":"HS256"}`, good), Bad},
		{"header kid twice", sign(`{"alg":"HS256","kid":"a","kid":"b"}`, good), Bad},
		{"claims exp twice", sign(`{"alg":"HS256"}`, `{`+body+`,"exp":9999999999}`), Bad},
		{"claims sub twice, once escaped", sign(`{"alg":"HS256"}`, `{`+body+`,"s\u0075b":"admin"}`), Bad},
		{"claims duplicate nested in an array", sign(`{"alg":"HS256"}`, `{`+body+`,"x":[{"r":1,"r":2}]}`), Bad},
		{"claims duplicate nested in an object", sign(`{"alg":"HS256"}`, `{`+body+`,"x":{"y":{"r":1,"\u0072":2}}}`), Bad},
		{"claims trailing object", sign(`{"alg":"HS256"}`, good+`{}`), Bad},
	}
	for _, tc := range cases {
		if got := verifyToken(j, tc.token); got.Verdict != tc.want {
			t.Errorf("%s: verdict %d (%s), want %d", tc.desc, got.Verdict, got.Reason, tc.want)
		}
	}
	// Header and payload segments with non-zero trailing bits or padding.
	tok := sign(`{"alg":"HS256"}`, good)
	parts := strings.Split(tok, ".")
	for i := 0; i < 2; i++ {
		seg := parts[i]
		if len(seg)%4 == 0 {
			continue // no unused bits in this segment's last character
		}
		respelled := append([]string(nil), parts...)
		respelled[i] = seg + strings.Repeat("=", 4-len(seg)%4)
		wantVerdict(t, verifyToken(j, strings.Join(respelled, ".")), Bad, "malformed")
		alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, seg[len(seg)-1])
		respelled[i] = seg[:len(seg)-1] + string(alphabet[last|1])
		if respelled[i] != seg {
			wantVerdict(t, verifyToken(j, strings.Join(respelled, ".")), Bad, "")
		}
	}
}

// timeClaimsProblem is the reference for claimsProblem's exp and nbf:
// the same checks with time.Time's methods.
func timeClaimsProblem(leeway time.Duration, claims map[string]interface{}, now time.Time) string {
	exp, ok := ClaimTime(claims, "exp")
	if !ok || exp.IsZero() {
		return "no-exp"
	}
	if now.After(exp.Add(leeway)) {
		return "expired"
	}
	if nbf, ok := ClaimTime(claims, "nbf"); !ok {
		return "malformed"
	} else if !nbf.IsZero() && now.Add(leeway).Before(nbf) {
		return "not-yet-valid"
	}
	return ""
}

// TestClaimsTimesAgreeWithTime: exp and nbf, around now and the leeway,
// to the nanosecond, are judged as time.Time's methods judge them.
func TestClaimsTimesAgreeWithTime(t *testing.T) {
	base := time.Now().Unix()
	var values []interface{}
	values = append(values, nil, "1", true, json.Number("0"), json.Number("-5"), json.Number("0.5"), json.Number("1e11"),
		json.Number("100000000001"), json.Number("8999999999"), json.Number("9000000000"), json.Number("99999999999"),
		json.Number("1e400"), json.Number(strconv.FormatInt(base, 10)+".9"))
	for d := int64(-62); d <= 62; d++ {
		if d > -3 && d < 3 || d%30 == 0 || d%30 == 1 || d%30 == 29 || (d+1)%30 == 0 {
			values = append(values, json.Number(strconv.FormatInt(base+d, 10)))
		}
	}
	nows := []time.Time{time.Unix(base, 0), time.Unix(base, 1), time.Unix(base, 999999999), time.Unix(base-1, 500000000)}
	for _, leeway := range []time.Duration{0, time.Nanosecond, 1500 * time.Millisecond, 30 * time.Second, 5 * time.Minute} {
		j := testSettings(t, func(o *Options) { o.Leeway = leeway.String() })
		for _, now := range nows {
			for _, expClaim := range values {
				for _, nbf := range values {
					claims := map[string]interface{}{}
					if expClaim != nil {
						claims["exp"] = expClaim
					}
					if nbf != nil {
						claims["nbf"] = nbf
					}
					exp, got := claimsProblem(j, claims, now)
					want := timeClaimsProblem(leeway, claims, now)
					if got != want {
						t.Fatalf("leeway %v, now %v, exp %v, nbf %v: %q, time.Time says %q", leeway, now.UnixNano(), expClaim, nbf, got, want)
					}
					if at, _ := ClaimTime(claims, "exp"); got == "" && exp != at.Unix() {
						t.Fatalf("exp %v read as %d, ClaimTime says %d", claims["exp"], exp, at.Unix())
					}
				}
			}
		}
	}
}

package jsonpath

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

const sample = `{"data":{"id":42,"type":"user","role":["admin","","ops",7],"exp":1700000000,
	"nested":{"list":[{"v":"first"}]},"none":null},"ok":true,"no":"false","when":"2030-01-02T03:04:05Z",
	"ms":1700000000123,"secs":"1700000000","bad":"tomorrow","obj":{}}`

func sampleDoc(t *testing.T) interface{} {
	t.Helper()
	doc := Decode([]byte(sample))
	if doc == nil {
		t.Fatal("the sample does not decode")
	}
	return doc
}

func TestParseSplitsOnDotsAndBlankMeansNotConfigured(t *testing.T) {
	for in, want := range map[string]Path{
		"data.user.id": {"data", "user", "id"},
		"  id ":        {"id"},
		"items.0":      {"items", "0"},
		"":             nil,
		"   ":          nil,
	} {
		if got := Parse(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeKeepsNumbersAndRefusesAnythingButOneObject(t *testing.T) {
	doc, ok := Decode([]byte(`{"n":12345678901234567890}`)).(map[string]interface{})
	if !ok {
		t.Fatal("an object does not decode")
	}
	if n, isNumber := doc["n"].(json.Number); !isNumber || n.String() != "12345678901234567890" {
		t.Errorf("n = %#v, want the json.Number as written", doc["n"])
	}
	for _, raw := range []string{"", "not json", "<html></html>", `"a string"`, `[1,2]`, "null", `{"a":1} {"b":2}`, `{"a":1}x`, `{"a":`} {
		if got := Decode([]byte(raw)); got != nil {
			t.Errorf("Decode(%q) = %#v, want nil", raw, got)
		}
	}
	if Decode([]byte(" {\"a\":1}\n ")) == nil {
		t.Error("an object between blanks must decode")
	}
}

func TestLookupFollowsKeysAndArrayIndexes(t *testing.T) {
	doc := sampleDoc(t)
	if v, ok := Lookup(Parse("data.nested.list.0.v"), doc); !ok || v != "first" {
		t.Errorf("data.nested.list.0.v = %v, %v; want first", v, ok)
	}
	if v, ok := Lookup(Parse("data.nested"), doc); !ok || reflect.TypeOf(v).Kind() != reflect.Map {
		t.Errorf("data.nested = %#v, %v; want the object", v, ok)
	}
	if _, ok := Lookup(Parse("obj"), doc); !ok {
		t.Error("an empty object is a value")
	}
	for _, miss := range []string{"", "missing", "data.id.x", "data.nested.list.1", "data.nested.list.-1", "data.nested.list.x", "data.none", "ok.x"} {
		if v, ok := Lookup(Parse(miss), doc); ok {
			t.Errorf("%q matched %#v, want no match", miss, v)
		}
	}
	if _, ok := Lookup(nil, doc); ok {
		t.Error("a nil path must not match")
	}
	if _, ok := Lookup(Parse("a"), nil); ok {
		t.Error("a nil document must not match")
	}
}

func TestStrReadsStringsNumbersAndBooleans(t *testing.T) {
	doc := sampleDoc(t)
	for path, want := range map[string]string{
		"data.id":              "42",
		"data.type":            "user",
		"ok":                   "true",
		"data.nested.list.0.v": "first",
		"data.role":            "", // an array is not a string
		"data.nested":          "",
		"missing":              "",
		"":                     "",
	} {
		if got := Str(Parse(path), doc); got != want {
			t.Errorf("Str(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestStrListReadsAStringOrTheStringsOfAnArray(t *testing.T) {
	doc := sampleDoc(t)
	for path, want := range map[string][]string{
		"data.role": {"admin", "ops"}, // "" and 7 left out
		"data.type": {"user"},
		"data.id":   nil,
		"missing":   nil,
	} {
		if got := StrList(Parse(path), doc); !reflect.DeepEqual(got, want) {
			t.Errorf("StrList(%q) = %q, want %q", path, got, want)
		}
	}
	empty := Decode([]byte(`{"r":"","l":[]}`))
	if got := StrList(Parse("r"), empty); got != nil {
		t.Errorf("an empty string gives %q, want nil", got)
	}
	if got := StrList(Parse("l"), empty); len(got) != 0 {
		t.Errorf("an empty array gives %q, want none", got)
	}
}

func TestInstantReadsSecondsMillisecondsAndRFC3339(t *testing.T) {
	doc := sampleDoc(t)
	for path, want := range map[string]time.Time{
		"data.exp": time.Unix(1700000000, 0),
		"secs":     time.Unix(1700000000, 0),
		"ms":       time.UnixMilli(1700000000123),
		"when":     time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		if got, ok := Instant(Parse(path), doc); !ok || !got.Equal(want) {
			t.Errorf("Instant(%q) = %v, %v; want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"bad", "ok", "data.role", "missing", ""} {
		if got, ok := Instant(Parse(path), doc); ok {
			t.Errorf("Instant(%q) = %v, want no instant", path, got)
		}
	}
}

// fuzzSeeds are FuzzReaders' seeds; TestFuzzSeeds runs them in a plain
// test, which the Yaegi CLI runs too (it skips Fuzz functions).
var fuzzSeeds = []struct {
	raw  string
	path string
}{
	{`{"data":{"id":1,"role":["a"],"exp":1700000000}}`, "data.role.0"},
	{`[1,{"a":null}]`, "1.a"},
	{`{"a":{"b":"2030-01-01T00:00:00Z"}}`, "a.b"},
	{`{"a":[[["x"]]]}`, "a.0.0.0"},
	{`{"a":1e400}`, "a"},
	{`garbage`, "a"},
	{`{"":{"":"empty keys"}}`, "."},
}

// checkReaders: no reader panics, and every reader finds nothing where
// Lookup finds nothing.
func checkReaders(t *testing.T, raw []byte, path string) {
	doc := Decode(raw)
	p := Parse(path)
	if _, ok := Lookup(p, doc); ok {
		Str(p, doc)
		StrList(p, doc)
		Instant(p, doc)
		return
	}
	if s := Str(p, doc); s != "" {
		t.Errorf("%q in %q: Str = %q without a value", path, raw, s)
	}
	if l := StrList(p, doc); l != nil {
		t.Errorf("%q in %q: StrList = %q without a value", path, raw, l)
	}
	if i, ok := Instant(p, doc); ok {
		t.Errorf("%q in %q: Instant = %v without a value", path, raw, i)
	}
}

func FuzzReaders(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.raw), s.path)
	}
	f.Fuzz(checkReaders)
}

func TestFuzzSeeds(t *testing.T) {
	for _, s := range fuzzSeeds {
		checkReaders(t, []byte(s.raw), s.path)
	}
	// The empty-keys seed does reach its value.
	if got := Str(Parse("."), Decode([]byte(fuzzSeeds[len(fuzzSeeds)-1].raw))); got != "empty keys" {
		t.Errorf(`Str(".") = %q, want "empty keys"`, got)
	}
}

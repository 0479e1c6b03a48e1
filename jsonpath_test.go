package authlayer

import (
	"testing"
	"time"
)

func TestJSONPath(t *testing.T) {
	doc := decodeJSON([]byte(`{"data":{"id":42,"type":"user","role":["admin","ops"],"exp":1700000000,
		"nested":{"list":[{"v":"first"}]}},"ok":true,"when":"2030-01-02T03:04:05Z","ms":1700000000123}`))
	if got := pathStr(splitJSONPath("data.id"), doc); got != "42" {
		t.Errorf("data.id = %q, want 42", got)
	}
	if got := pathStr(splitJSONPath("data.nested.list.0.v"), doc); got != "first" {
		t.Errorf("array index: got %q", got)
	}
	if got := pathStrList(splitJSONPath("data.role"), doc); len(got) != 2 || got[1] != "ops" {
		t.Errorf("roles = %v", got)
	}
	if got := pathStrList(splitJSONPath("data.type"), doc); len(got) != 1 || got[0] != "user" {
		t.Errorf("single role = %v", got)
	}
	if !pathTruthy(splitJSONPath("ok"), doc) || pathTruthy(splitJSONPath("missing"), doc) {
		t.Error("truthy is wrong")
	}
	if exp, ok := pathInstant(splitJSONPath("data.exp"), doc); !ok || exp.Unix() != 1700000000 {
		t.Errorf("exp = %v %v", exp, ok)
	}
	if exp, ok := pathInstant(splitJSONPath("ms"), doc); !ok || exp.UnixMilli() != 1700000000123 {
		t.Errorf("exp in ms = %v %v", exp, ok)
	}
	want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if exp, ok := pathInstant(splitJSONPath("when"), doc); !ok || !exp.Equal(want) {
		t.Errorf("RFC 3339 exp = %v %v", exp, ok)
	}
	if _, ok := pathLookup(splitJSONPath(""), doc); ok {
		t.Error("an empty path must not match")
	}
	if _, ok := pathLookup(splitJSONPath("data.id.x"), doc); ok {
		t.Error("a path through a number must not match")
	}
	if decodeJSON([]byte("not json")) != nil {
		t.Error("garbage must decode to nil")
	}
}

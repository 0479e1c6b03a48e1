// Package jsonpath reads values out of decoded JSON documents (a backend's
// answer, a JWT's claims) along dotted paths such as "data.user.id". The
// paths come from the options and are split once, in New; the documents
// are decoded with Decode, which keeps numbers as json.Number.
//
// Standard library only, interpreted by Yaegi: see CONTRIBUTING.md.
package jsonpath

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// A Path is a dotted path into a decoded JSON document ("data.user.id"),
// split once by Parse. Array elements are addressed by index ("items.0").
// A nil Path means "not configured": it matches nothing.
type Path []string

// Parse splits the dotted path p; an empty (or blank) p gives a nil Path.
func Parse(p string) Path {
	p = strings.TrimSpace(p)
	if p == "" {
		return nil
	}
	return Path(strings.Split(p, "."))
}

// Decode decodes one whole JSON object, numbers as json.Number; anything
// else (an HTML error page, an array, trailing data) gives nil.
func Decode(raw []byte) interface{} {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]interface{}
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil
	}
	return doc
}

// Lookup walks doc along p. It reports false when the path is not
// configured, leads nowhere, or ends on JSON null.
func Lookup(p Path, doc interface{}) (interface{}, bool) {
	if len(p) == 0 {
		return nil, false
	}
	cur := doc
	for _, key := range p {
		switch node := cur.(type) {
		case map[string]interface{}:
			next, ok := node[key]
			if !ok {
				return nil, false
			}
			cur = next
		case []interface{}:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// Str reads a string, or a number or boolean written as JSON, as a string;
// "" when there is none.
func Str(p Path, doc interface{}) string {
	v, _ := Lookup(p, doc)
	return String(v)
}

// String is Str's reading of a value already looked up: a string, a
// number or a boolean as text, "" for anything else (nil included).
func String(v interface{}) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

// StrList reads a string or an array of strings (roles); empty strings and
// elements that are not strings are left out.
func StrList(p Path, doc interface{}) []string {
	v, _ := Lookup(p, doc)
	return Strings(v)
}

// Strings is StrList's reading of a value already looked up.
func Strings(v interface{}) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case []interface{}:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, isString := e.(string); isString && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Instant reads an instant (an expiry): epoch seconds (a number or a
// numeric string), epoch milliseconds when the number is too large for
// seconds, or RFC 3339.
func Instant(p Path, doc interface{}) (time.Time, bool) {
	v, ok := Lookup(p, doc)
	if !ok {
		return time.Time{}, false
	}
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = t
	default:
		return time.Time{}, false
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > 1e12 { // milliseconds
			return time.UnixMilli(int64(f)), true
		}
		return time.Unix(int64(f), 0), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

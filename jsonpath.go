package authlayer

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// A jsonPath is a dotted path into a decoded JSON document ("data.user.id"),
// split once in New. Array elements are addressed by index ("items.0").
// A nil path means "not configured".
type jsonPath []string

func splitJSONPath(p string) jsonPath {
	p = strings.TrimSpace(p)
	if p == "" {
		return nil
	}
	return jsonPath(strings.Split(p, "."))
}

// pathLookup walks doc along p. It reports false when the path is not
// configured or leads nowhere.
func pathLookup(p jsonPath, doc interface{}) (interface{}, bool) {
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

// pathStr reads a string, or a number written as JSON, as a string.
func pathStr(p jsonPath, doc interface{}) string {
	v, ok := pathLookup(p, doc)
	if !ok {
		return ""
	}
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

// pathTruthy reports whether the value at p is JSON true (or the string
// "true", as some backends send).
func pathTruthy(p jsonPath, doc interface{}) bool {
	v, ok := pathLookup(p, doc)
	if !ok {
		return false
	}
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

// pathStrList reads a string or an array of strings (roles).
func pathStrList(p jsonPath, doc interface{}) []string {
	v, ok := pathLookup(p, doc)
	if !ok {
		return nil
	}
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

// pathInstant reads an expiry: epoch seconds (number or numeric string), epoch
// milliseconds when the number is too large for seconds, or RFC 3339.
func pathInstant(p jsonPath, doc interface{}) (time.Time, bool) {
	v, ok := pathLookup(p, doc)
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

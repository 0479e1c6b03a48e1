package contract

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// Helpers shared by the security_*_test.go files.

// withHeader returns r with one more header value (added with Header.Add,
// canonicalised as Go's server does).
func (r request) withHeader(name, value string) request {
	h := http.Header{}
	for k, vs := range r.header {
		h[k] = append([]string(nil), vs...)
	}
	h.Add(name, value)
	r.header = h
	return r
}

// withRawKey returns r with one more header set under exactly this map
// key (no canonicalisation).
func (r request) withRawKey(key, value string) request {
	raw := map[string]string{}
	for k, v := range r.rawKeys {
		raw[k] = v
	}
	raw[key] = value
	r.rawKeys = raw
	return r
}

// wantExactJSON checks that body parses to the same JSON value as want.
func wantExactJSON(t *testing.T, body, want string) {
	t.Helper()
	var got, exp interface{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Errorf("body %q: not JSON: %v", body, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("body: got %s, want %s", body, want)
	}
}

// wantBackendUntouched checks that no backend call was made since before.
func wantBackendUntouched(t *testing.T, e *env, before int) {
	t.Helper()
	if got := e.be.Total() - before; got != 0 {
		t.Errorf("backend calls: got %d, want 0", got)
	}
}

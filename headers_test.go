package authlayer

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/internal/csrf"
)

func TestStripRemovesSpoofedIdentityAndAliases(t *testing.T) {
	hs, err := newHeaderSettings(CreateConfig().Headers)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	spoofed := []string{"X-Auth-User", "x-auth-user", "X_Auth_User", "X.Auth.User", "X-AUTH-USER-ID",
		"x_auth_token_type", "X-Refreshed-Token", "x.refreshed.token", "Authorization", "AUTHORIZATION",
		"X~Auth~User", "X+Auth+User", "X!Auth!User", "X#Auth$User", "X%Auth&User", "X'Auth*User",
		"X^Auth`User", "X|Auth|User-Id", "x~auth.user_id", "X-Auth-Token~Type"}
	for _, name := range spoofed {
		req.Header[name] = []string{"evil"}
	}
	req.Header["X-Auth-Username"] = []string{"kept"}
	req.Header["Accept"] = []string{"text/html"}
	stripIdentityHeaders(&hs, req)
	for _, name := range spoofed {
		if _, ok := req.Header[name]; ok {
			t.Errorf("client header %q reached the app", name)
		}
	}
	if req.Header.Get("X-Auth-Username") != "kept" || req.Header.Get("Accept") != "text/html" {
		t.Errorf("unrelated headers were removed: %v", req.Header)
	}
}

func TestHeaderSafe(t *testing.T) {
	for _, v := range []string{"a\r\nSet-Cookie: x", "nul\x00", "é", string(make([]byte, 300))} {
		if headerSafe(v) != "" {
			t.Errorf("headerSafe(%q) kept an unsafe value", v)
		}
	}
	if headerSafe("user-42") != "user-42" {
		t.Error("a plain id was dropped")
	}
	// Every byte, alone and between printable ones: kept exactly when it
	// is printable ASCII (0x20-0x7e), as a byte-by-byte check says.
	for b := 0; b < 256; b++ {
		want := b >= 0x20 && b < 0x7f
		for _, v := range []string{string([]byte{byte(b)}), "a" + string([]byte{byte(b)}) + "z"} {
			if got := headerSafe(v) == v; got != want {
				t.Errorf("headerSafe(%q) kept it: %v, want %v", v, got, want)
			}
		}
	}
	if v := strings.Repeat("a", 256); headerSafe(v) != v || headerSafe(v+"a") != "" {
		t.Error("the 256-byte bound moved")
	}
}

// TestStripOwnedNamesAmongCommonOnes: a configured identity header that is
// also a common request header name is still stripped (the fast "safe
// names" check never covers an owned name).
func TestStripOwnedNamesAmongCommonOnes(t *testing.T) {
	c := CreateConfig().Headers
	c.UserID = "X-Requested-With"
	hs, err := newHeaderSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header["X-Requested-With"] = []string{"evil"}
	req.Header["X_requested_with"] = []string{"evil"}
	req.Header["Accept"] = []string{"text/html"}
	stripIdentityHeaders(&hs, req)
	if len(req.Header["X-Requested-With"]) > 0 || len(req.Header["X_requested_with"]) > 0 {
		t.Errorf("an owned name in the common list reached the app: %v", req.Header)
	}
	if req.Header.Get("Accept") != "text/html" {
		t.Error("a common header was removed")
	}
}

// TestCommonHeadersNeverHideMarkers: no name in the common set folds to a
// method-override or prefetch header, so a request without an unusual
// header needs neither check (serveRememberedGuarded relies on it).
func TestCommonHeadersNeverHideMarkers(t *testing.T) {
	markers := map[string]bool{"sec-purpose": true, "purpose": true, "x-purpose": true, "x-moz": true, "next-router-prefetch": true}
	for k := range csrf.OverrideHeaders {
		markers[k] = true
	}
	for _, name := range commonRequestHeaders {
		if markers[normalizeHeaderName(name)] {
			t.Errorf("%s is in the common set but is a prefetch or override header", name)
		}
	}
	hs, err := newHeaderSettings(CreateConfig().Headers)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"X-Http-Method-Override", "X_http_method_override", "Sec-Purpose", "Next-Router-Prefetch", "X-Moz"} {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header["Accept"] = []string{"*/*"}
		req.Header[name] = []string{"x"}
		if !stripIdentityHeaders(&hs, req) {
			t.Errorf("%s was not reported as unusual", name)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.Header["Accept"] = []string{"*/*"}
	req.Header["Cookie"] = []string{"a=b"}
	if stripIdentityHeaders(&hs, req) {
		t.Error("a request with common headers only was reported as unusual")
	}
}

// TestStripAgreesWithTheHeaderWalk: the one-call pre-check (WriteSubset)
// reports a request unusual exactly when a header outside the common set
// has a value, as walking the map says, and afterwards no owned name or
// alias holds a value, for every mix of common, owned, aliased and
// unrelated names, with no value, an empty one, or several.
func TestStripAgreesWithTheHeaderWalk(t *testing.T) {
	hs, err := newHeaderSettings(CreateConfig().Headers)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"Accept", "Cookie", "X-Forwarded-For", "X-Auth-User", "X_auth_user", "Authorization",
		"X-Auth-User-Id", "X-Unrelated", "X-Http-Method-Override", "Sec-Purpose"}
	values := [][]string{nil, {}, {""}, {"v"}, {"a", "b"}}
	for mask := 0; mask < 1<<len(names); mask += 7 { // a spread of the subsets, bounded
		for vi, vs := range values {
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			want := false
			for i, name := range names {
				if mask&(1<<i) == 0 {
					continue
				}
				v := values[(vi+i)%len(values)]
				if name == "Accept" {
					v = vs
				}
				req.Header[name] = v
				if !hs.safe[name] && len(v) > 0 {
					want = true
				}
			}
			if got := stripIdentityHeaders(&hs, req); got != want {
				t.Fatalf("headers %v: unusual %v, want %v", req.Header, got, want)
			}
			for name, v := range req.Header {
				if len(v) > 0 && hs.owned[normalizeHeaderName(name)] && !hs.safe[name] {
					t.Fatalf("owned header %s kept the value %q", name, v)
				}
			}
		}
	}
}

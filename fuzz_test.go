package authlayer

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Fuzz targets for every parser that reads attacker-controlled input. The
// seeds run as ordinary tests; `go test -fuzz FuzzX -fuzztime 30s .`
// explores further.

var canonicalSeeds = []string{"", "/", "//a", "/a/../b", "/a/./b/", "a", "/a;x/b", "/../..", "/a//b///c;", "/%2e%2e/"}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCanonicalPath)
}

func checkCanonicalPath(t *testing.T, s string) {
	out := canonicalPath(s)
	if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") {
		t.Fatalf("canonicalPath(%q) = %q: not a clean absolute path", s, out)
	}
	for _, seg := range strings.Split(out, "/") {
		if seg == "." || seg == ".." || strings.Contains(seg, ";") {
			t.Fatalf("canonicalPath(%q) = %q keeps segment %q", s, out, seg)
		}
	}
	if again := canonicalPath(out); again != out {
		t.Fatalf("canonicalPath is not idempotent: %q -> %q -> %q", s, out, again)
	}
}

var localPathSeeds = []string{"/", "/a?b=c", "//evil", "/\\evil", "/\t/evil", "https://evil", "/a#x", "javascript:x", "/%2F%2Fevil", "/@evil", "/.//evil"}

func FuzzIsLocalPath(f *testing.F) {
	for _, s := range localPathSeeds {
		f.Add(s)
	}
	f.Fuzz(checkIsLocalPath)
}

func checkIsLocalPath(t *testing.T, s string) {
	base, _ := url.Parse("https://app.example.com/login")
	if !isLocalPath(s) {
		return
	}
	// What a browser does before resolving: strip tabs and newlines,
	// read backslashes as slashes.
	browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
	if strings.HasPrefix(browser, "//") || !strings.HasPrefix(browser, "/") {
		t.Fatalf("isLocalPath(%q) accepted a value a browser reads as %q", s, browser)
	}
	u, err := url.Parse(browser)
	if err != nil {
		t.Fatalf("isLocalPath(%q) accepted an unparsable value", s)
	}
	if got := base.ResolveReference(u); got.Host != base.Host || got.Scheme != base.Scheme {
		t.Fatalf("isLocalPath(%q) leads to %s", s, got)
	}
}

var cookieSeeds = []string{"userToken=a", "userToken=a; userToken=b", "guestToken=x;refreshToken=y", "userToken=\x00", ";;=;", "userToken=\"q\""}

func FuzzCookieRead(f *testing.F) {
	for _, s := range cookieSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCookieRead)
}

func checkCookieRead(t *testing.T, header string) {
	cs := cookieSettings{user: "userToken", guest: "guestToken", refresh: "refreshToken"}
	req := &http.Request{Header: http.Header{"Cookie": {header}}}
	c := cs.read(req)
	for _, v := range []string{c.user, c.guest, c.refresh} {
		if v == cookieConflict || strings.ContainsAny(v, ";\x00") {
			t.Fatalf("read(%q) returned %q", header, v)
		}
	}
}

func FuzzJSONPath(f *testing.F) {
	f.Add([]byte(`{"data":{"id":1,"role":["a"],"exp":1700000000}}`), "data.role.0")
	f.Add([]byte(`[1,{"a":null}]`), "1.a")
	f.Add([]byte(`{"a":{"b":"2030-01-01T00:00:00Z"}}`), "a.b")
	f.Add([]byte(`garbage`), "a")
	f.Fuzz(func(t *testing.T, raw []byte, path string) {
		doc := decodeJSON(raw)
		p := splitJSONPath(path)
		p.lookup(doc)
		p.str(doc)
		p.truthy(doc)
		p.strList(doc)
		p.instant(doc)
	})
}

// TestFuzzSeeds runs the fuzz properties over their seeds in a plain test,
// so the Yaegi CLI (which skips Fuzz functions) checks them too.
func TestFuzzSeeds(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkCanonicalPath(t, s)
	}
	for _, s := range localPathSeeds {
		checkIsLocalPath(t, s)
	}
	for _, s := range cookieSeeds {
		checkCookieRead(t, s)
	}
	for _, ops := range spellingSeeds {
		checkProtectedSpelling(t, ops)
	}
}

// FuzzProtectedSpellings: no spelling of a protected path is decided as
// anything weaker than protected (or refused). ops picks the spelling
// changes applied to "/dashboard/settings".
var spellingSeeds = []string{"", "\x00", "\x01\x02", "\x03\x04\x05", "\x06\x07", "\x00\x01\x02\x03\x04\x05\x06\x07"}

func FuzzProtectedSpellings(f *testing.F) {
	for _, s := range spellingSeeds {
		f.Add(s)
	}
	f.Fuzz(checkProtectedSpelling)
}

func checkProtectedSpelling(t *testing.T, ops string) {
	table, err := newRouteTable(RoutesConfig{
		Protected: []string{"/dashboard"},
		Public:    []string{"/", "/dashboard-public", "/docs"},
		Excluded:  []string{"/static"},
		AuthOnly:  []string{"/login"},
	})
	if err != nil {
		t.Fatal(err)
	}
	memo := newRouteMemo(table, false)
	target := spell("/dashboard/settings", ops)
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return // the request would never reach Traefik's router
	}
	r := decideRoute(memo, u.Path, u.RawPath)
	if !r.rejected && !r.needsUser && sameResource(u.Path, "/dashboard/settings") {
		t.Fatalf("%q (path %q) decided as kind %d, want protected or refused", target, u.Path, int(r.kind))
	}
}

// spell applies spelling changes to p, one per byte of ops.
func spell(p string, ops string) string {
	for i := 0; i < len(ops) && i < 16; i++ {
		switch ops[i] % 8 {
		case 0:
			p = strings.Replace(p, "/", "//", 1)
		case 1:
			p = "/static/.." + p
		case 2:
			p = strings.ToUpper(p[:2]) + p[2:]
		case 3:
			p = strings.Replace(p, "/settings", ";x=1/settings", 1)
		case 4:
			p = strings.Replace(p, "/settings", "/./settings", 1)
		case 5:
			p = strings.Replace(p, "a", "%61", 1)
		case 6:
			p = strings.Replace(p, "/settings", "%2Fsettings", 1)
		case 7:
			p = "/docs/%2e%2e" + p
		}
	}
	return p
}

// sameResource reports whether a server that decodes, folds case and
// drops matrix parameters would serve want for the decoded path.
func sameResource(decoded, want string) bool {
	return strings.EqualFold(canonicalPath(decoded), want)
}

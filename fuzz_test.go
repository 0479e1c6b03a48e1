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

var canonicalSeeds = []string{"", "/", "//a", "/a/../b", "/a/./b/", "a", "/a;x/b", "/../..", "/a//b///c;", "/%2e%2e/", "/a/..;/b", "/.;/a", "/a/;x/../b"}

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
		if seg == "." || seg == ".." {
			t.Fatalf("canonicalPath(%q) = %q keeps segment %q", s, out, seg)
		}
	}
	if again := canonicalPath(out); again != out {
		t.Fatalf("canonicalPath is not idempotent: %q -> %q -> %q", s, out, again)
	}
	if want := literalReading(s); out != want {
		t.Fatalf("canonicalPath(%q) = %q, want the literal reading %q", s, out, want)
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
	c := cookiesRead(&cs, req)
	for _, v := range []string{c.user, c.guest, c.refresh} {
		if v == cookieConflict || strings.ContainsAny(v, ";\x00") {
			t.Fatalf("read(%q) returned %q", header, v)
		}
	}
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
	for _, target := range readingSeeds {
		checkDecisionCoversReadings(t, target)
	}
	for _, target := range dotParamTargets {
		checkDecisionCoversReadings(t, target)
	}
	for _, base := range []string{"/dashboard/settings", "/admin/x", "/static/app.js", "/docs/a"} {
		for _, ops := range spellingSeeds {
			checkDecisionCoversReadings(t, spell(base, ops))
		}
	}
}

// FuzzProtectedSpellings: no spelling of a protected path is decided as
// anything weaker than protected (or refused). ops picks the spelling
// changes applied to "/dashboard/settings".
var spellingSeeds = []string{"", "\x00", "\x01\x02", "\x03\x04\x05", "\x06\x07", "\x00\x01\x02\x03\x04\x05\x06\x07",
	"\x08", "\x09", "\x0a", "\x0b", "\x08\x02", "\x0a\x03\x09", "\x0b\x01\x08"}

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
	memo := newRouteMemo(table, false, nil)
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
		j := strings.LastIndexByte(p, '/')
		if j < 1 {
			j = len(p) // no "/" past the first: edits go at the end
		}
		switch ops[i] % 12 {
		case 0:
			p = strings.Replace(p, "/", "//", 1)
		case 1:
			p = "/static/.." + p
		case 2:
			p = strings.ToUpper(p[:2]) + p[2:]
		case 3:
			p = p[:j] + ";x=1" + p[j:]
		case 4:
			p = p[:j] + "/." + p[j:]
		case 5:
			p = strings.Replace(p, "a", "%61", 1)
		case 6:
			if j < len(p) {
				p = p[:j] + "%2F" + p[j+1:]
			}
		case 7:
			p = "/docs/%2e%2e" + p
		case 8:
			p = p[:j] + "/..;" + p[j:] // a dot segment to Java only
		case 9:
			p = p[:j] + "/;x/.." + p[j:] // one segment to Go, none to Java
		case 10:
			p = "/static/%2e%2e;jsessionid=1" + p
		case 11:
			p = p[:j] + "/.;" + p[j:]
		}
	}
	return p
}

// sameResource reports whether a server that decodes and folds case would
// serve want for the decoded path under any reading (see readings).
func sameResource(decoded, want string) bool {
	for _, r := range readings(decoded) {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

// readingSeeds are paths whose readings differ (see readings).
var readingSeeds = []string{
	"/public;x=1", "/admin;x=1", "/admin/;x/../x", "/dashboard/;x/../static/app.js", "/webhooks/;x/../stripe",
	"/x/;y/../../admin/z", "/;x/admin;y", "/static;v=1/app.js", "/static/app.js;v=2", "/ops/..;/admin",
	"/admin/;p/../ops", "/api;x/me", "/login;x", "/docs/..;/..;/dashboard", "/a/.;x/..;y/admin",
}

// FuzzDecisionCoversReadings: for every path, the decision is at least as
// strict as the decision for each reading an app may take of it: refused,
// or a kind at least as strict (an excluded decision only when every
// reading is excluded), a role rule whose roles all satisfy each
// reading's role rule, and API when any reading is API. With
// routes.ambiguousPaths=protect it is never refused, and a path with a dot
// segment under some readings only is at least protected.
func FuzzDecisionCoversReadings(f *testing.F) {
	for _, s := range readingSeeds {
		f.Add(s)
	}
	for _, s := range dotParamTargets {
		f.Add(s)
	}
	f.Fuzz(checkDecisionCoversReadings)
}

func checkDecisionCoversReadings(t *testing.T, target string) {
	u, err := url.ParseRequestURI(target)
	if err != nil || len(u.Path) > maxPathBytes {
		return
	}
	table, err := newRouteTable(RoutesConfig{
		Protected: []string{"/dashboard", "/*/settings"},
		Public:    []string{"/docs", "/public", "/dashboard/help"},
		Excluded:  []string{"/static", "/**/favicon.ico"},
		AuthOnly:  []string{"/login"},
		API:       []string{"/api"},
		Roles: []RoleRule{
			{Path: "/admin", Roles: []string{"admin", "root"}},
			{Path: "/ops", Roles: []string{"ops", "root"}},
			{Path: "/*/admin", Roles: []string{"admin"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, protect := range []bool{false, true} {
		r := decideRoute(newRouteMemo(table, protect, nil), u.Path, u.RawPath)
		if r.rejected {
			if protect {
				t.Fatalf("%q refused with ambiguousPaths=protect", target)
			}
			continue
		}
		if protect && hasDotParamReading(u.Path) && !r.needsUser {
			t.Fatalf("%q is ambiguous but decided as kind %d", target, int(r.kind))
		}
		for _, reading := range readings(u.Path) {
			if why := weakerThan(*r, matchRoute(table, reading)); why != "" {
				t.Fatalf("%q (protect %v) decided as kind %d roles %v api %v: %s than reading %q",
					target, protect, int(r.kind), r.roles, r.api, why, reading)
			}
		}
	}
}

// weakerThan says how got is weaker than want, or "" when it is not.
func weakerThan(got, want routeMatch) string {
	switch {
	case got.kind == kindExcluded && want.kind != kindExcluded:
		return "excluded where a reading is not"
	case got.kind != kindExcluded && want.kind != kindExcluded && got.kind < want.kind:
		return "a weaker kind"
	case want.needsUser && !got.needsUser:
		return "no user needed"
	case want.api && !got.api:
		return "not API"
	case want.kind == kindRole && !rolesWithin(got, want.roles):
		return "roles not required"
	}
	return ""
}

// rolesWithin reports whether every user got admits holds one of roles.
func rolesWithin(got routeMatch, roles []string) bool {
	if got.kind != kindRole {
		return false
	}
	for _, have := range got.roles {
		found := false
		for _, w := range roles {
			found = found || w == have
		}
		if !found {
			return false
		}
	}
	return true
}

// readings are the paths an app may route a decoded path to, computed
// here independently of canonical.go: literal (Go, Node, nginx: ";" is
// part of the name), servlet (Java: parameters dropped from each segment,
// then dot segments resolved, so "..;x" is ".."), and parameters dropped
// after literal resolution (a router that strips them from names).
func readings(decoded string) []string {
	literal := resolveDots(strings.Split(decoded, "/"))
	segs := strings.Split(decoded, "/")
	for i, s := range segs {
		segs[i] = dropParams(s)
	}
	servlet := resolveDots(segs)
	segs = strings.Split(literal, "/")
	for i, s := range segs {
		segs[i] = dropParams(s)
	}
	return []string{literal, servlet, strings.Join(segs, "/")}
}

// literalReading is the first of readings.
func literalReading(decoded string) string { return readings(decoded)[0] }

func resolveDots(segs []string) string {
	var out []string
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/")
}

func dropParams(seg string) string {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		return seg[:i]
	}
	return seg
}

// hasDotParamReading reports whether a segment is a dot segment once its
// parameters are dropped but not as written.
func hasDotParamReading(decoded string) bool {
	for _, s := range strings.Split(decoded, "/") {
		if d := dropParams(s); d != s && (d == "." || d == "..") {
			return true
		}
	}
	return false
}

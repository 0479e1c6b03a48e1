package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// cookieSpellings are Cookie headers (one slice element per header line)
// spelling the user cookie in every way net/http's parser accepts: it
// trims spaces and tabs around each "name=value" pair and around the
// name, matches names case-sensitively, and reads every Cookie line.
var cookieSpellings = []struct {
	desc  string
	lines []string
}{
	{"one cookie", []string{"userToken=A"}},
	{"one cookie among others", []string{"theme=dark; userToken=A; lang=en"}},
	{"twice, plain", []string{"userToken=A; userToken=B"}},
	{"twice, same value", []string{"userToken=A; userToken=A"}},
	{"space before = on the first", []string{"userToken =A; userToken=B"}},
	{"space before = on the second", []string{"userToken=A; userToken =B"}},
	{"spaces before = on both", []string{"userToken  =A; userToken =B"}},
	{"tab before =", []string{"userToken\t=A; userToken=B"}},
	{"tab before the name", []string{"userToken=A;\tuserToken=B"}},
	{"no space after ;", []string{"userToken=A;userToken=B"}},
	{"several spaces after ;", []string{"userToken=A;    userToken=B"}},
	{"leading and trailing spaces", []string{"  userToken =A ;  userToken= B  "}},
	{"space after =", []string{"userToken= A; userToken=B"}},
	{"quoted first", []string{`userToken="A"; userToken=B`}},
	{"quoted same value", []string{`userToken="A"; userToken=A`}},
	{"empty first", []string{"userToken=; userToken=B"}},
	{"empty first, spaced", []string{"userToken =; userToken=B"}},
	{"name without =", []string{"userToken; userToken=B"}},
	{"invalid value first", []string{"userToken =A\\x; userToken=B"}},
	{"other case is another cookie", []string{"UserToken=A; userToken=B"}},
	{"other case, spaced", []string{"USERTOKEN =A; userToken=B"}},
	{"longer name", []string{"userTokenExpiry=1; userToken=B"}},
	{"name inside a value", []string{"note=userToken=A; userToken=B"}},
	{"name inside a value, spaced", []string{"note=x userToken =A; userToken=B"}},
	{"comma is not a separator", []string{"userToken=A, userToken=B"}},
	{"two Cookie lines", []string{"userToken=A", "userToken=B"}},
	{"two Cookie lines, spaced", []string{"userToken =A", "userToken=B"}},
	{"two Cookie lines, same value", []string{"userToken=A", "userToken=A"}},
	{"two Cookie lines, one without it", []string{"theme=dark", "userToken=A"}},
	{"empty Cookie line", []string{""}},
}

// TestCookieSpellingsTrustOnlyAnUnambiguousValue: for every spelling
// net/http accepts, the user cookie the flow reads (cookiesRead) is a
// value every parsed copy holds (empty copies aside), or none.
func TestCookieSpellingsTrustOnlyAnUnambiguousValue(t *testing.T) {
	for _, tc := range cookieSpellings {
		checkCookieSpelling(t, tc.desc, tc.lines)
	}
	// And the common spellings are read.
	for _, h := range []string{"userToken=A", "theme=dark; userToken=A; lang=en", "userToken=A; guestToken=G", "userToken=A; userToken=A"} {
		req := &http.Request{Header: http.Header{"Cookie": {h}}}
		if v := cookiesRead(&cookieSettings{user: "userToken", guest: "guestToken"}, req).user; v != "A" {
			t.Errorf("%q: read %q, want A", h, v)
		}
	}
}

// checkCookieSpelling fails when cookiesRead trusts a user cookie value
// that some other copy of the cookie contradicts.
func checkCookieSpelling(t *testing.T, desc string, lines []string) {
	t.Helper()
	cs := &cookieSettings{user: "userToken", guest: "guestToken"}
	req := &http.Request{Header: http.Header{}}
	for _, l := range lines {
		req.Header.Add("Cookie", l)
	}
	got := cookiesRead(cs, req).user
	if got == "" {
		return
	}
	for _, c := range req.Cookies() {
		if c.Name == cs.user && c.Value != "" && c.Value != got {
			t.Errorf("%s %q: read %q, but a copy holds %q", desc, lines, got, c.Value)
		}
	}
}

// FuzzCookieSpellings: the same property for any one or two Cookie lines
// (the seeds also run in TestCookieSpellingsTrustOnlyAnUnambiguousValue).
func FuzzCookieSpellings(f *testing.F) {
	for _, tc := range cookieSpellings {
		second := ""
		if len(tc.lines) > 1 {
			second = tc.lines[1]
		}
		f.Add(tc.lines[0], second)
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		lines := []string{first}
		if second != "" {
			lines = append(lines, second)
		}
		checkCookieSpelling(t, "fuzz", lines)
	})
}

// TestCookieDuplicateWithSpaceIsNotTrusted: end to end, a user cookie
// sent twice, one copy spelled "userToken =…", is trusted in neither copy
// even when the first is cached.
func TestCookieDuplicateWithSpaceIsNotTrusted(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, func(c *Config) { c.Cache.TTL = "1h"; c.Guest.Enabled = false })
	// Both tokens are cached.
	for _, tok := range []string{"user-alice", "user-mallory"} {
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Cookie", "userToken="+tok)
		if rec := serve(h, req); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", tok, rec.Code)
		}
	}
	for _, header := range []string{
		"userToken =user-mallory; userToken=user-alice",
		"userToken\t=user-mallory; userToken=user-alice",
		"userToken=user-mallory; userToken =user-alice",
		"userToken =user-mallory;userToken  =user-alice",
	} {
		up.mu.Lock()
		up.calls = 0
		up.mu.Unlock()
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", header)
		rec := serve(h, req)
		up.mu.Lock()
		calls := up.calls
		up.mu.Unlock()
		if rec.Code != http.StatusUnauthorized || calls != 0 {
			t.Errorf("Cookie %q: status %d, app called %d times; want 401 and no call", header, rec.Code, calls)
		}
	}
}

// TestRefreshCookiePathOption: cookies.refreshCookiePath sets the refresh
// cookie's path; cookies.refreshPath is its deprecated alias; both set to
// different paths is an error naming both.
func TestRefreshCookiePathOption(t *testing.T) {
	for _, tc := range []struct {
		desc            string
		newName, alias  string
		want            string // the refresh cookie's path; "" = error
		wantErrOption   string
		wantErrMentions string
	}{
		{"neither: the cookies' path", "", "", "/", "", ""},
		{"new name", "/auth", "", "/auth", "", ""},
		{"deprecated alias", "", "/auth", "/auth", "", ""},
		{"both, same value", "/auth", "/auth", "/auth", "", ""},
		{"both, different", "/auth", "/session", "", "cookies.refreshCookiePath", "cookies.refreshPath"},
		{"new name not a path", "auth", "", "", "cookies.refreshCookiePath", ""},
		{"alias not a path", "", "auth", "", "cookies.refreshPath", ""},
	} {
		c := validConfig()
		c.Cookies.Refresh = "refreshToken"
		c.Cookies.RefreshCookiePath = tc.newName
		c.Cookies.RefreshPath = tc.alias
		_, err := New(context.Background(), http.NotFoundHandler(), c, "t")
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrOption+":") || !strings.Contains(err.Error(), tc.wantErrMentions) {
				t.Errorf("%s: error %v, want one naming %s and mentioning %q", tc.desc, err, tc.wantErrOption, tc.wantErrMentions)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.desc, err)
			continue
		}
		s, _ := compileSettings(c)
		set := refreshCookieValue(&s.cookies, "r")
		if !strings.Contains(set, "; Path="+tc.want+";") {
			t.Errorf("%s: Set-Cookie %q, want Path=%s", tc.desc, set, tc.want)
		}
		if clear := cookiesClearing(&s.cookies, carriedCookies{refresh: "r"}, false, false, true); len(clear) != 1 || !strings.Contains(clear[0], "; Path="+tc.want+";") {
			t.Errorf("%s: clearing %q, want Path=%s", tc.desc, clear, tc.want)
		}
	}
}

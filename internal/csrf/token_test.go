package csrf

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestTokenValid(t *testing.T) {
	valid := testToken(testSecret, testRandom, "")
	bound := testToken(testSecret, testRandom, "user:42")
	other := testToken(testSecret, strings.Repeat("ab", 32), "")
	badMAC := valid[:hexLen-1] + "0" + valid[hexLen:]
	if badMAC == valid {
		badMAC = valid[:hexLen-1] + "1" + valid[hexLen:]
	}
	tests := []struct {
		desc    string
		cookie  string // the Cookie header; "" for none
		header  []string
		binding string
		want    bool
	}{
		{"valid, anonymous", "__csrf=" + valid, []string{valid}, "", true},
		{"valid, bound", "theme=dark; __csrf=" + bound, []string{bound}, "user:42", true},
		{"duplicate cookie, same value", "__csrf=" + valid + "; __csrf=" + valid, []string{valid}, "", true},
		{"wrong HMAC", "__csrf=" + badMAC, []string{badMAC}, "", false},
		{"another secret", "__csrf=" + testToken("another-secret-of-enough-length-00000", testRandom, ""), []string{testToken("another-secret-of-enough-length-00000", testRandom, "")}, "", false},
		{"cookie and header differ", "__csrf=" + valid, []string{other}, "", false},
		{"missing cookie", "", []string{valid}, "", false},
		{"cookie under another name", "csrf=" + valid, []string{valid}, "", false},
		{"name ending with ours", "x__csrf=" + valid, []string{valid}, "", false},
		{"inside another cookie's value", "note=a __csrf=" + valid, []string{valid}, "", false},
		{"after a longer name", "x__csrf=" + other + ";__csrf=" + valid, []string{valid}, "", true},
		{"missing header", "__csrf=" + valid, nil, "", false},
		{"two header values", "__csrf=" + valid, []string{valid, valid}, "", false},
		{"token of another session", "__csrf=" + bound, []string{bound}, "user:43", false},
		{"bound token, anonymous visitor", "__csrf=" + bound, []string{bound}, "", false},
		{"unbound token, a session", "__csrf=" + valid, []string{valid}, "user:42", false},
		{"guest token after login", "__csrf=" + testToken(testSecret, testRandom, "guest:7"), []string{testToken(testSecret, testRandom, "guest:7")}, "user:42", false},
		{"duplicate cookie, different values", "__csrf=" + other + "; __csrf=" + valid, []string{valid}, "", false},
		{"upper-case hex", "__csrf=" + strings.ToUpper(valid), []string{strings.ToUpper(valid)}, "", false},
		{"non-hex", "__csrf=" + strings.Repeat("g", 64) + "." + testRandom, []string{strings.Repeat("g", 64) + "." + testRandom}, "", false},
		{"no dot", "__csrf=" + strings.Replace(valid, ".", "0", 1), []string{strings.Replace(valid, ".", "0", 1)}, "", false},
		{"too short", "__csrf=" + valid[:128], []string{valid[:128]}, "", false},
		{"too long", "__csrf=" + valid + "0", []string{valid + "0"}, "", false},
		{"huge", "__csrf=" + strings.Repeat("a", 8192), []string{strings.Repeat("a", 8192)}, "", false},
		{"empty", "__csrf=", []string{""}, "", false},
	}
	g := newTestGuard(t, nil)
	for _, tc := range tests {
		req := testRequest(http.MethodPost, testTarget, nil)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		if tc.header != nil {
			req.Header["X-Csrf-Token"] = tc.header
		}
		if got := TokenValid(g, req, tc.binding); got != tc.want {
			t.Errorf("%s: TokenValid = %v, want %v", tc.desc, got, tc.want)
		}
	}
	if TokenValid(nil, testRequest(http.MethodPost, testTarget, nil), "") {
		t.Error("a nil guard validated a token")
	}
}

// TestTokenOnTheWire reads the header as next-api-layer's clients
// spell it, from raw request bytes.
func TestTokenOnTheWire(t *testing.T) {
	tok := testToken(testSecret, testRandom, "")
	raw := "POST /api/items HTTP/1.1\r\nHost: app.example\r\nx-csrf-token: " + tok + "\r\ncookie: __csrf=" + tok + "\r\n\r\n"
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !TokenValid(newTestGuard(t, nil), req, "") {
		t.Error("a token in x-csrf-token and __csrf was refused")
	}
}

func TestTokenWireCompatible(t *testing.T) {
	g := newTestGuard(t, nil)
	tests := []struct {
		binding, want string
	}{
		// Computed with Python's hmac and with WebCrypto, as
		// next-api-layer's computeHmac does.
		{"", "a00ce5b5d03e3733309635313d12fa0203903179fc25fd2419f33c763b2b7b83"},
		{"user:42", "08ceea22e1ec1a05458b1a849242c5e4d61b11dbc998b82cbc6b86a71a4ae976"},
	}
	for _, tc := range tests {
		if got := mac(g, testRandom, tc.binding); got != tc.want {
			t.Errorf("binding %q: mac = %s, want %s", tc.binding, got, tc.want)
		}
		if got, want := mac(g, testRandom, tc.binding), testToken(testSecret, testRandom, tc.binding)[:hexLen]; got != want {
			t.Errorf("binding %q: mac = %s, crypto/hmac says %s", tc.binding, got, want)
		}
	}
	tok, ok := mint(g, "guest:7")
	if !ok || len(tok) != tokenLen || tok[hexLen] != '.' {
		t.Fatalf("mint = %q, %v; want <64 hex>.<64 hex>", tok, ok)
	}
	if want := testToken(testSecret, tok[hexLen+1:], "guest:7"); tok != want {
		t.Errorf("minted %s, crypto/hmac says %s", tok, want)
	}
}

// parseSetCookie parses one Set-Cookie value as a browser would.
func parseSetCookie(t *testing.T, v string) *http.Cookie {
	t.Helper()
	cookies := (&http.Response{Header: http.Header{"Set-Cookie": {v}}}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie %q parses to %d cookies", v, len(cookies))
	}
	return cookies[0]
}

func TestIssue(t *testing.T) {
	g := newTestGuard(t, nil)
	valid := testToken(testSecret, testRandom, "user:42")
	tests := []struct {
		desc, cookie, binding string
		wantNew               bool
	}{
		{"no cookie", "", "user:42", true},
		{"valid token", "__csrf=" + valid, "user:42", false},
		{"valid token among other cookies", "a=1; __csrf=" + valid + "; b=2", "user:42", false},
		{"token of another session", "__csrf=" + valid, "user:43", true},
		{"token of the guest session before login", "__csrf=" + testToken(testSecret, testRandom, "guest:7"), "user:42", true},
		{"unbound token, anonymous", "__csrf=" + testToken(testSecret, testRandom, ""), "", false},
		{"forged token", "__csrf=" + strings.Repeat("0", 64) + "." + testRandom, "user:42", true},
		{"garbage", "__csrf=x", "user:42", true},
	}
	for _, tc := range tests {
		req := testRequest(http.MethodGet, testTarget, nil)
		if tc.cookie != "" {
			req.Header.Set("Cookie", tc.cookie)
		}
		got := Issue(g, req, tc.binding)
		if (got != "") != tc.wantNew {
			t.Errorf("%s: Issue = %q, want a new cookie: %v", tc.desc, got, tc.wantNew)
			continue
		}
		if got == "" {
			continue
		}
		c := parseSetCookie(t, got)
		if c.Name != "__csrf" || !tokenSigned(g, c.Value, tc.binding) {
			t.Errorf("%s: issued %s=%s, not a valid token for %q", tc.desc, c.Name, c.Value, tc.binding)
		}
	}
	if got := Issue(nil, testRequest(http.MethodGet, testTarget, nil), ""); got != "" {
		t.Errorf("a nil guard issued %q", got)
	}
}

func TestIssuedCookieAttributes(t *testing.T) {
	for _, secure := range []bool{true, false} {
		c := testOptions()
		c.SecureCookies = secure
		g, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		v := Issue(g, testRequest(http.MethodGet, testTarget, nil), "guest:7")
		ck := parseSetCookie(t, v)
		if ck.Path != "/" || ck.Domain != "" || ck.HttpOnly || ck.Secure != secure ||
			ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 0 || !ck.Expires.IsZero() {
			t.Errorf("secure=%v: Set-Cookie %q; want Path=/, no Domain, not HttpOnly, Secure=%v, SameSite=Lax, a session cookie", secure, v, secure)
		}
		again := Issue(g, testRequest(http.MethodGet, testTarget, nil), "guest:7")
		if again == v {
			t.Errorf("secure=%v: two issued tokens are equal", secure)
		}
		// The issued token, echoed by a script, passes the double submit.
		req := testRequest(http.MethodPost, testTarget, http.Header{"X-Csrf-Token": {ck.Value}})
		req.AddCookie(ck)
		if !TokenValid(g, req, "guest:7") {
			t.Errorf("secure=%v: the issued token does not validate", secure)
		}
	}
}

func TestVerifiedTokensStayBoundAndBounded(t *testing.T) {
	g := newTestGuard(t, nil)
	tok := testToken(testSecret, testRandom, "user:1")
	if !tokenSigned(g, tok, "user:1") {
		t.Fatal("a valid token was refused")
	}
	if tokenSigned(g, tok, "user:2") || tokenSigned(g, tok, "") {
		t.Error("a remembered token passed for another session")
	}
	forged := strings.Repeat("0", hexLen) + "." + testRandom
	if tokenSigned(g, forged, "user:1") {
		t.Error("a forged token passed")
	}
	if _, ok := g.verified[forged]; ok {
		t.Error("a token that failed was remembered")
	}
	for i := len(g.verified); i < maxVerified; i++ {
		g.verified["filler"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = ""
	}
	other := testToken(testSecret, strings.Repeat("cd", 32), "user:1")
	if !tokenSigned(g, other, "user:1") {
		t.Fatal("a valid token was refused with a full map")
	}
	if n := len(g.verified); n != 1 {
		t.Errorf("remembered tokens after overflow: %d, want 1 (emptied when full)", n)
	}
}

func BenchmarkIssueWithValidCookie(b *testing.B) {
	g, _ := Compile(testOptions())
	tok := testToken(testSecret, testRandom, "user:1")
	req := testRequest(http.MethodGet, testTarget, http.Header{"Cookie": {"userToken=abc.def.ghi; theme=dark; __csrf=" + tok}})
	for i := 0; i < b.N; i++ {
		Issue(g, req, "user:1")
	}
}

func BenchmarkTokenValidHugeCookie(b *testing.B) {
	g, _ := Compile(testOptions())
	tok := testToken(testSecret, testRandom, "user:1")
	req := testRequest(http.MethodPost, testTarget, http.Header{
		"Cookie":       {strings.Repeat("x=y; ", 2000) + "__csrf=" + strings.Repeat("a", 8000)},
		"X-Csrf-Token": {tok},
	})
	for i := 0; i < b.N; i++ {
		TokenValid(g, req, "user:1")
	}
}

// The fuzz target for the cookie reader (attacker-controlled input); its
// seeds also run as a plain test (TestCookieReadSeeds) for the Yaegi CLI.

var cookieSeeds = []string{
	"", "__csrf=" + testToken(testSecret, testRandom, ""),
	"a=1; __csrf=" + testToken(testSecret, testRandom, "") + "; b=2",
	"x__csrf=" + testToken(testSecret, testRandom, ""),
	"note=a __csrf=" + testToken(testSecret, testRandom, ""),
	"__csrf=" + testToken(testSecret, testRandom, "") + ";__csrf",
	"__csrf=\"" + testToken(testSecret, testRandom, "") + "\"",
	";;__csrf=;", "__csrf", "=__csrf=x",
	"__csrf =" + testToken(testSecret, "0000000000000000000000000000000000000000000000000000000000000000", "") + "; __csrf=" + testToken(testSecret, testRandom, ""),
	"__csrf\t=x; __csrf=" + testToken(testSecret, testRandom, ""),
}

func FuzzCookieRead(f *testing.F) {
	for _, s := range cookieSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCookieRead)
}

// checkCookieRead: whenever the fast cookie reader finds something
// shaped like a token, net/http's parser reads the same single value.
func checkCookieRead(t *testing.T, header string) {
	g := &Guard{CookieName: "__csrf", cookieEq: "__csrf="}
	req := &http.Request{Header: http.Header{"Cookie": {header}}}
	got := readCookie(g, req)
	if len(got) != tokenLen || got[hexLen] != '.' || strings.Trim(got[:hexLen]+got[hexLen+1:], hexDigits) != "" {
		return
	}
	values := map[string]bool{}
	for _, c := range req.Cookies() {
		if c.Name == "__csrf" && c.Value != "" {
			values[c.Value] = true
		}
	}
	want := ""
	for v := range values {
		if len(values) == 1 {
			want = v
		}
	}
	if got != want {
		t.Fatalf("readCookie(%q) = %q, net/http reads %q", header, got, want)
	}
}

// TestCookieReadSeeds runs FuzzCookieRead's seeds as a plain test (for
// the Yaegi CLI).
func TestCookieReadSeeds(t *testing.T) {
	for _, s := range cookieSeeds {
		checkCookieRead(t, s)
	}
}

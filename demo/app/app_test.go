package app

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestApp(t *testing.T) (*App, *time.Time) {
	t.Helper()
	now := testNow
	a, err := New(Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, &now
}

// asUser sets the headers authlayer would set for user.
func asUser(req *http.Request, tokenType string, user map[string]interface{}) *http.Request {
	raw, _ := json.Marshal(user)
	req.Header.Set(HeaderUser, base64.StdEncoding.EncodeToString(raw))
	id, ok := user["id"].(string)
	if !ok {
		id, _ = user["sub"].(string) // a token's claims
	}
	req.Header.Set(HeaderUserID, id)
	req.Header.Set(HeaderTokenType, tokenType)
	return req
}

var (
	alice = map[string]interface{}{"id": "u-alice", "type": "user", "name": "Alice Martin", "email": "alice@example.test", "role": "user", "exp": float64(testNow.Add(20 * time.Second).Unix())}
	admin = map[string]interface{}{"id": "u-admin", "type": "user", "name": "Ada Admin", "role": []interface{}{"staff", "admin"}}
	guest = map[string]interface{}{"id": "guest-1", "type": "guest", "name": "Guest", "role": "guest"}
)

func serve(a *App, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

func get(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func TestIdentityFrom(t *testing.T) {
	id := IdentityFrom(asUser(get("/"), "user", alice))
	if !id.IsUser() || id.IsGuest() || id.UserID != "u-alice" || id.Name != "Alice Martin" || !id.HasRole("user") || id.HasRole("admin") {
		t.Errorf("alice: %+v", id)
	}
	if !id.Expires.Equal(testNow.Add(20 * time.Second)) {
		t.Errorf("alice expires %v", id.Expires)
	}
	if id := IdentityFrom(asUser(get("/"), "user", admin)); !id.HasRole("admin") || !id.HasRole("staff") {
		t.Errorf("admin roles from an array: %v", id.Roles)
	}
	if id := IdentityFrom(asUser(get("/"), "guest", guest)); !id.IsGuest() || id.IsUser() {
		t.Errorf("guest: %+v", id)
	}
	for name, value := range map[string]string{
		"not base64": "%%%", "not JSON": base64.StdEncoding.EncodeToString([]byte("nope")),
		"JSON null": base64.StdEncoding.EncodeToString([]byte("null")), "raw JSON": `{"id":"u-admin"}`,
	} {
		req := get("/")
		req.Header.Set(HeaderUser, value)
		req.Header.Set(HeaderUserID, "u-admin")
		req.Header.Set(HeaderTokenType, "user")
		if id := IdentityFrom(req); id.Known() || id.IsUser() {
			t.Errorf("%s: got %+v, want anonymous (fail closed)", name, id)
		}
	}
}

func TestHomeShowsVisitorKind(t *testing.T) {
	a, _ := newTestApp(t)
	for _, tc := range []struct {
		name string
		req  *http.Request
		want []string
	}{
		{"anonymous", get("/"), []string{"Hello, stranger", "Sign in"}},
		{"guest", asUser(get("/"), "guest", guest), []string{"Hello, guest", "badge-guest", "guest-1"}},
		{"user", asUser(get("/"), "user", alice), []string{"Welcome back, Alice Martin", "Log out", `action="/auth/logout"`, "03:04:25 UTC", "in 20s"}},
	} {
		rec := serve(a, tc.req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", tc.name, rec.Code)
		}
		for _, want := range tc.want {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("%s: page lacks %q", tc.name, want)
			}
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tc.name, got)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", tc.name)
		}
	}
}

func TestHTMLEscapesUserFields(t *testing.T) {
	a, _ := newTestApp(t)
	evil := map[string]interface{}{"id": "u-x", "name": `<script>alert(1)</script>`}
	body := serve(a, asUser(get("/dashboard"), "user", evil)).Body.String()
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("user name rendered unescaped")
	}
}

func TestLoginPage(t *testing.T) {
	a, _ := newTestApp(t)
	body := serve(a, get("/login?redirect=%2Fdashboard%3Fwatch%3D1")).Body.String()
	for _, want := range []string{`action="/auth/login"`, `method="post"`, `name="redirect" value="/dashboard?watch=1"`, "alice", "admin"} {
		if !strings.Contains(body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	if strings.Contains(body, `role="alert"`) {
		t.Error("login page shows an error without ?error")
	}
	// authlayer's login endpoint sends a failed form back with ?error=code.
	for code, want := range map[string]string{
		"invalid_credentials":       "Wrong username or password.",
		"too_many_attempts":         "Too many sign-in attempts",
		"unavailable":               "The sign-in service is not answering",
		"invalid_request":           "The sign-in request was not understood",
		"<script>alert(1)</script>": "Signing in failed. Try again.",
	} {
		body := serve(a, get("/login?error="+url.QueryEscape(code)+"&redirect=%2Fdashboard")).Body.String()
		if !strings.Contains(body, `<p class="alert" role="alert">`+want) {
			t.Errorf("?error=%s: the login page does not say %q", code, want)
		}
		if strings.Contains(body, "<script>alert") || (code != "invalid_credentials" && strings.Contains(body, code)) {
			t.Errorf("?error=%s: the page shows the code itself", code)
		}
		if !strings.Contains(body, `name="redirect" value="/dashboard"`) {
			t.Errorf("?error=%s: the form lost the return-to value", code)
		}
	}
	for _, bad := range []string{"//evil.example", "https://evil.example", "/%5Cevil.example", "/%09/evil.example"} {
		body := serve(a, get("/login?redirect="+bad)).Body.String()
		if !strings.Contains(body, `name="redirect" value=""`) {
			t.Errorf("redirect %q was kept in the form", bad)
		}
	}
}

func TestDashboard(t *testing.T) {
	a, now := newTestApp(t)
	rec := serve(a, asUser(get("/dashboard"), "user", alice))
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{"Alice Martin", "alice@example.test", "u-alice", "03:04:25 UTC", "not yet", "validated",
		// The session panel: the script, and where it looks.
		`id="session-live" data-session="/auth/session" data-hint="authExpires"`, `<script src="/static/session.js" defer></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, page := range []string{"/", "/login", "/admin"} {
		if body := serve(a, asUser(get(page), "user", admin)).Body.String(); strings.Contains(body, "<script") {
			t.Errorf("%s has a script; only the dashboard does", page)
		}
	}

	// A request carrying X-Refreshed-Token (on any path) records the refresh.
	*now = now.Add(30 * time.Second)
	req := asUser(get("/api/public/hello"), "user", alice)
	req.Header.Set(HeaderRefreshedToken, "new-token")
	serve(a, req)
	*now = now.Add(5 * time.Second)
	body = serve(a, asUser(get("/dashboard"), "user", alice)).Body.String()
	if !strings.Contains(body, "03:04:35 UTC") || !strings.Contains(body, "5s ago") {
		t.Errorf("dashboard does not show the refresh at 03:04:35 (5s ago)")
	}
	if strings.Contains(body, "new-token") {
		t.Error("dashboard shows the token")
	}

	req = asUser(get("/dashboard"), "user", alice)
	req.Header.Set(HeaderRefreshedToken, "another")
	if body := serve(a, req).Body.String(); !strings.Contains(body, "refreshed the token on this very request") {
		t.Error("dashboard does not say the token was refreshed on this request")
	}
	if body := serve(a, asUser(get("/dashboard?watch=1"), "user", alice)).Body.String(); !strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("watch mode does not auto-reload")
	}
}

// TestDashboardRefreshFromClaims: a token whose iat is later than its
// auth_time (the sign-in) came from a refresh at iat, wherever that
// refresh happened (the session endpoint the dashboard's script asks is
// answered by authlayer, so the app never sees X-Refreshed-Token there);
// the dashboard says so on every load. A token from the sign-in itself
// says "not yet".
func TestDashboardRefreshFromClaims(t *testing.T) {
	a, _ := newTestApp(t)
	claims := func(signedIn, issued time.Time) map[string]interface{} {
		c := map[string]interface{}{}
		for k, v := range claimsAlice {
			c[k] = v
		}
		c["auth_time"], c["iat"] = float64(signedIn.Unix()), float64(issued.Unix())
		c["exp"] = float64(issued.Add(20 * time.Second).Unix())
		return c
	}
	signedIn := testNow.Add(-time.Minute)
	body := serve(a, asUser(get("/dashboard"), "user", claims(signedIn, testNow.Add(-12*time.Second)))).Body.String()
	for _, want := range []string{
		`<p class="big" id="last-refreshed">03:03:53 UTC</p>`,
		`id="last-refreshed-note" data-at="` + strconv.FormatInt(testNow.Add(-12*time.Second).Unix(), 10) + `">12s ago</p>`,
		`<p class="big" id="token-expiry">03:04:13 UTC</p>`,
		`id="token-expiry-note" data-at="` + strconv.FormatInt(testNow.Add(8*time.Second).Unix(), 10) + `">expires in 8s</p>`,
		// The script updates these from the session endpoint's answer.
		`<tr data-claim="exp"><th>exp</th>`, `<tr data-claim="auth_time"><th>auth_time</th><td><code>` + strconv.FormatInt(signedIn.Unix(), 10) + ` (03:03:05 UTC)</code>`,
		`<pre id="user-json">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("refreshed token: the dashboard lacks %s", want)
		}
	}
	if strings.Contains(body, `data-claim="User id"`) || !strings.Contains(body, `<tr><th>User id</th>`) {
		t.Error("the User id row is not a claim row")
	}
	body = serve(a, asUser(get("/dashboard"), "user", claims(signedIn, signedIn))).Body.String()
	if !strings.Contains(body, `<p class="big" id="last-refreshed">not yet</p>`) {
		t.Error("a token from the sign-in itself: the dashboard does not say \"not yet\"")
	}
}

func TestGuestRefreshIsNotRecorded(t *testing.T) {
	a, _ := newTestApp(t)
	req := asUser(get("/"), "guest", guest)
	req.Header.Set(HeaderRefreshedToken, "guest-token")
	serve(a, req)
	if _, ok := a.refreshes.get("guest-1"); ok {
		t.Error("a guest mint was recorded as a user refresh")
	}
}

func TestPagesFailClosedWithoutHeaders(t *testing.T) {
	a, _ := newTestApp(t)
	for _, tc := range []struct {
		req  *http.Request
		want int
	}{
		{get("/dashboard"), http.StatusUnauthorized},
		{asUser(get("/dashboard"), "guest", guest), http.StatusUnauthorized},
		{get("/admin"), http.StatusForbidden},
		{asUser(get("/admin"), "user", alice), http.StatusForbidden},
		{asUser(get("/admin"), "user", admin), http.StatusOK},
		{get("/api/me"), http.StatusUnauthorized},
		{asUser(get("/api/me"), "guest", guest), http.StatusUnauthorized},
		{get("/nope"), http.StatusNotFound},
		{httptest.NewRequest(http.MethodPost, "/dashboard", nil), http.StatusMethodNotAllowed},
	} {
		if rec := serve(a, tc.req); rec.Code != tc.want {
			t.Errorf("%s %s as %q: got %d, want %d", tc.req.Method, tc.req.URL.Path, tc.req.Header.Get(HeaderTokenType), rec.Code, tc.want)
		}
	}
}

func TestAPI(t *testing.T) {
	a, _ := newTestApp(t)
	var got struct {
		Success bool                   `json:"success"`
		Message string                 `json:"message"`
		Visitor string                 `json:"visitor"`
		Data    map[string]interface{} `json:"data"`
	}
	rec := serve(a, asUser(get("/api/me"), "user", alice))
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !got.Success || got.Data["id"] != "u-alice" || got.Data["tokenType"] != "user" {
		t.Errorf("/api/me: %d %s", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/api/me Content-Type %q", ct)
	}
	rec = serve(a, get("/api/me"))
	got.Success, got.Message = true, ""
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Success || got.Message == "" {
		t.Errorf("/api/me anonymous: %s", rec.Body.String())
	}
	for who, req := range map[string]*http.Request{
		"anonymous": get("/api/public/hello"), "guest": asUser(get("/api/public/hello"), "guest", guest), "user": asUser(get("/api/public/hello"), "user", alice),
	} {
		rec := serve(a, req)
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK || !got.Success || got.Visitor != who {
			t.Errorf("/api/public/hello as %s: %d %s", who, rec.Code, rec.Body.String())
		}
	}
}

func TestStaticAssets(t *testing.T) {
	a, _ := newTestApp(t)
	rec := serve(a, get("/static/style.css"))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || !strings.Contains(rec.Body.String(), ".card") {
		t.Errorf("style.css: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = serve(a, get("/static/session.js"))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") || !strings.Contains(rec.Body.String(), `getAttribute("data-session")`) {
		t.Errorf("session.js: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := serve(a, get("/favicon.ico")); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<svg") {
		t.Errorf("favicon: %d", rec.Code)
	}
}

func TestRefreshLogIsBounded(t *testing.T) {
	l := newRefreshLog(3)
	for i := 0; i < 10; i++ {
		l.record(string(rune('a'+i)), testNow)
	}
	if len(l.last) != 3 {
		t.Fatalf("entries = %d, want 3", len(l.last))
	}
	if _, ok := l.get("j"); !ok {
		t.Error("the latest entry was evicted")
	}
}

func TestUserFieldsFormatting(t *testing.T) {
	id := IdentityFrom(asUser(get("/"), "user", map[string]interface{}{
		"id": "u-1", "exp": float64(1795333441), "count": float64(3), "ratio": 0.5, "tags": []interface{}{"a", "b"}, "ok": true, "none": nil,
	}))
	got := map[string]string{}
	for _, f := range userFields(id) {
		got[f.Key] = f.Value
	}
	want := map[string]string{
		"User id": "u-1", "Token type": "user", "exp": "1795333441 (" + clock(time.Unix(1795333441, 0)) + ")",
		"count": "3", "ratio": "0.5", "tags": `["a","b"]`, "ok": "true", "none": "null",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}

// claimsAlice is X-Auth-User as authlayer sends it when it verified the
// token itself: the token's claims.
var claimsAlice = map[string]interface{}{
	"sub": "u-alice", "type": "user", "knd": "access", "name": "Alice Martin", "email": "alice@example.test",
	"username": "alice", "roles": []interface{}{"user"}, "iss": "authlayer-demo", "aud": []interface{}{"authlayer-demo-app"},
	"exp": float64(testNow.Add(20 * time.Second).Unix()), "iat": float64(testNow.Unix()),
}

func TestIdentityFromTokenClaims(t *testing.T) {
	req := get("/")
	raw, _ := json.Marshal(claimsAlice)
	req.Header.Set(HeaderUser, base64.StdEncoding.EncodeToString(raw))
	req.Header.Set(HeaderTokenType, "user")
	req.Header.Set(HeaderVerifiedBy, "local")
	id := IdentityFrom(req)
	if !id.IsUser() || id.UserID != "u-alice" || id.Name != "Alice Martin" || !id.HasRole("user") || id.HasRole("admin") {
		t.Errorf("claims: %+v, want alice with role user (id from sub, roles from the roles claim)", id)
	}
	if id.VerifiedBy != VerifiedLocal || id.Verification() != "verified locally" {
		t.Errorf("VerifiedBy %q, Verification %q", id.VerifiedBy, id.Verification())
	}
	// roles wins over role when both are there.
	both := map[string]interface{}{"id": "u-x", "roles": []interface{}{"user"}, "role": "admin"}
	if id := IdentityFrom(asUser(get("/"), "user", both)); id.HasRole("admin") || !id.HasRole("user") {
		t.Errorf("roles and role: got %v, want the roles claim", id.Roles)
	}
}

func TestPagesShowWhoCheckedTheToken(t *testing.T) {
	a, _ := newTestApp(t)
	for _, tc := range []struct {
		header  string
		want    string
		notWant []string
	}{
		{"local", "verified locally", []string{"validated by the backend", "not reported"}},
		{"backend", "validated by the backend", []string{"verified locally", "not reported"}},
		{"", "not reported", []string{"verified locally", "validated by the backend"}},
		{"LOCAL or anything else", "not reported", []string{"verified locally", "validated by the backend"}},
	} {
		req := asUser(get("/dashboard"), "user", claimsAlice)
		if tc.header != "" {
			req.Header.Set(HeaderVerifiedBy, tc.header)
		}
		rec := serve(a, req)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, "Alice Martin") {
			t.Fatalf("%q: dashboard status %d", tc.header, rec.Code)
		}
		if !strings.Contains(body, tc.want) {
			t.Errorf("X-Auth-Verified-By %q: the dashboard lacks %q", tc.header, tc.want)
		}
		for _, nw := range tc.notWant {
			if strings.Contains(body, nw) {
				t.Errorf("X-Auth-Verified-By %q: the dashboard shows %q", tc.header, nw)
			}
		}
	}

	home := asUser(get("/"), "user", alice)
	home.Header.Set(HeaderVerifiedBy, "local")
	if body := serve(a, home).Body.String(); !strings.Contains(body, "verified your token itself") || !strings.Contains(body, "<dt>Token check</dt><dd>verified locally</dd>") {
		t.Error("home page: does not say the token was verified locally")
	}
	home = asUser(get("/"), "guest", guest)
	home.Header.Set(HeaderVerifiedBy, "backend")
	if body := serve(a, home).Body.String(); !strings.Contains(body, "<dt>Token check</dt><dd>validated by the backend</dd>") {
		t.Error("home page, guest: does not say the backend validated the token")
	}
	if body := serve(a, asUser(get("/"), "user", alice)).Body.String(); strings.Contains(body, "Token check") {
		t.Error("home page without X-Auth-Verified-By: shows a token check anyway")
	}
}

// TestDjangoClaimsUser: a user who is a simplejwt token's claims (user_id,
// username, roles, token_type; no name or email, no auth_time), as the
// demo's Django backend has them, is greeted by username, holds the
// roles claim, and the dashboard names the validation request the app was
// configured with.
func TestDjangoClaimsUser(t *testing.T) {
	a, err := New(Options{Now: func() time.Time { return testNow }, ValidateCall: "POST /api/token/verify/"})
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]interface{}{
		"token_type": "access", "user_id": float64(1), "username": "alice", "roles": []interface{}{"user"},
		"jti": "0123456789abcdef0123456789abcdef", "exp": float64(testNow.Add(20 * time.Second).Unix()), "iat": float64(testNow.Unix()),
	}
	req := asUser(get("/dashboard"), "access", claims)
	req.Header.Set(HeaderUserID, "1")
	req.Header.Set(HeaderVerifiedBy, VerifiedBackend)
	id := IdentityFrom(req)
	if !id.IsUser() || id.UserID != "1" || id.DisplayName() != "alice" || !id.HasRole("user") || id.HasRole("admin") || !id.RefreshedAt().IsZero() {
		t.Errorf("claims user: %+v, want alice (id 1, role user, no refresh time)", id)
	}
	req.Header.Del(HeaderUserID)
	if id := IdentityFrom(req); id.UserID != "1" {
		t.Errorf("without X-Auth-User-Id: user id %q, want the user_id claim", id.UserID)
	}
	req.Header.Set(HeaderUserID, "1")
	rec := serve(a, req)
	body := rec.Body.String()
	for _, want := range []string{"Signed in as <strong>alice</strong>", "validated by the backend", "<code>POST /api/token/verify/</code>", `data-claim="username"`, "not yet"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard for a claims user: lacks %q", want)
		}
	}
	if rec.Code != http.StatusOK || strings.Contains(body, "GET /auth/me") {
		t.Errorf("dashboard for a claims user: %d, or it names the demo backend's request", rec.Code)
	}
	if body := serve(a, asUser(get("/admin"), "access", claims)).Body.String(); !strings.Contains(body, "administrators only") {
		t.Error("/admin for a claims user without the admin role: not refused by the app")
	}
	// The default app names the demo backend's request.
	d, _ := newTestApp(t)
	req = asUser(get("/dashboard"), "user", alice)
	req.Header.Set(HeaderVerifiedBy, VerifiedBackend)
	if body := serve(d, req).Body.String(); !strings.Contains(body, "<code>"+DefaultValidateCall+"</code>") {
		t.Errorf("the default dashboard does not name %s", DefaultValidateCall)
	}
}

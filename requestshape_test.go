package authlayer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestDefaultPresetHasNoShapes: next-api-layer's requests are sent as
// before (no shape is compiled), whatever else is configured.
func TestDefaultPresetHasNoShapes(t *testing.T) {
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	sh := s.shapes
	if sh.validate != nil || sh.refresh != nil || sh.guest != nil || sh.login != nil || sh.logout != nil {
		t.Errorf("the default preset compiled shapes: %+v", sh)
	}
}

// TestBadShapesAreRefusedByName: every mistake names its option.
func TestBadShapesAreRefusedByName(t *testing.T) {
	cases := []struct {
		mutate func(*Config)
		option string
	}{
		{func(c *Config) { c.Backend.Preset = "keycloak" }, "backend.preset"},
		{func(c *Config) { c.Backend.Requests.Refresh.Method = "FETCH" }, "backend.requests.refresh.method"},
		{func(c *Config) { c.Backend.Requests.Validate.Token = "header:" }, "backend.requests.validate.token"},
		{func(c *Config) { c.Backend.Requests.Validate.Token = "body" }, "backend.requests.validate.token"},
		{func(c *Config) { c.Backend.Requests.Refresh.Body = map[string]string{"refresh": "{refresh}"} }, "backend.requests.refresh.body.refresh"},
		{func(c *Config) { c.Backend.Requests.Refresh.Body = map[string]string{"x": "{token"} }, "backend.requests.refresh.body.x"},
		{func(c *Config) { c.Backend.Requests.Logout.Encoding = "xml" }, "backend.requests.logout.encoding"},
		{func(c *Config) { c.Backend.Requests.Guest.Headers = map[string]string{"bad header": "x"} }, "backend.requests.guest.headers"},
		{func(c *Config) { c.Backend.Requests.Refresh.ClientAuth = "basic" }, "backend.requests.refresh.clientAuth"},
		{func(c *Config) { c.Backend.Requests.Refresh.SuccessStatusCodes = []string{"301"} }, "backend.requests.refresh.successStatusCodes"},
	}
	for _, tc := range cases {
		c := CreateConfig()
		c.Backend.URL = "http://127.0.0.1:1"
		tc.mutate(c)
		_, err := compileSettings(c)
		if err == nil || !strings.Contains(err.Error(), tc.option) {
			t.Errorf("want an error naming %s, got %v", tc.option, err)
		}
	}
}

// TestShapedRequest: a form body from a template, client credentials by
// Basic, a header and a query parameter, and a success status.
func TestShapedRequest(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, body = r, string(raw)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"access_token":"new-access","refresh_token":"new-refresh"}`))
	}))
	defer srv.Close()
	c := CreateConfig()
	c.Backend.URL = srv.URL
	c.Backend.ClientID = "app one"
	c.Backend.ClientSecret = "s3cr&t"
	c.Responses.Success = ""
	c.Responses.AccessToken = "access_token"
	c.Responses.RefreshToken = "refresh_token"
	c.Backend.Requests.Refresh = RequestShapeConfig{
		Method: "POST", Encoding: "form", ClientAuth: "basic", Token: "none",
		Body:               map[string]string{"grant_type": "refresh_token", "refresh_token": "{token}"},
		Headers:            map[string]string{"Apikey": "k-{clientId}"},
		Query:              map[string]string{"v": "2"},
		SuccessStatusCodes: []string{"201"},
	}
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	b := newBackendClient(t.Name(), s, newBackendTransport(4))
	ans := backendRefresh(b, context.Background(), "client", "old-refresh")
	if ans.kind != refreshDone || ans.accessToken != "new-access" || ans.refreshToken != "new-refresh" {
		t.Fatalf("refresh answer %+v", ans)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPost || got.URL.Query().Get("v") != "2" {
		t.Errorf("method %s query %q", got.Method, got.URL.RawQuery)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	if body != "grant_type=refresh_token&refresh_token=old-refresh" {
		t.Errorf("body %q", body)
	}
	user, pass, ok := got.BasicAuth()
	if !ok || user != "app+one" || pass != "s3cr%26t" { // form-encoded first (RFC 6749 §2.3.1)
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
	if got.Header.Get("Apikey") != "k-app one" {
		t.Errorf("header %q", got.Header.Get("Apikey"))
	}
}

// TestReuseMessages: a refused refresh whose detail holds a configured
// text is reuse; another refusal is only fatal.
func TestReuseMessages(t *testing.T) {
	b := &backendClient{reuse: refreshSettings{reuseMessages: []string{"Token is blacklisted"}}}
	reuse := backendAnswer{status: 401, doc: map[string]interface{}{"detail": "Token is blacklisted", "code": "token_not_valid"}}
	if got := refreshVerdict(b, reuse, nil); got.kind != refreshReuse {
		t.Errorf("blacklisted: %v, want reuse", got.kind)
	}
	expired := backendAnswer{status: 401, doc: map[string]interface{}{"detail": "Token is invalid or expired", "code": "token_not_valid"}}
	if got := refreshVerdict(b, expired, nil); got.kind != refreshFatal {
		t.Errorf("expired: %v, want fatal", got.kind)
	}
}

// TestShapedLogoutWithoutRefreshToken: a logout shape that revokes the
// refresh token sends nothing when the session has none (the cookies are
// cleared anyway).
func TestShapedLogoutWithoutRefreshToken(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := CreateConfig()
	c.Backend.URL = srv.URL
	c.Backend.Preset = "oauth2"
	c.Backend.ClientID = "app"
	c.Cookies.Secure = false
	c.Endpoints.Logout = "/auth/logout"
	h, err := New(context.Background(), &upstream{}, c, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	logout := func(cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/auth/logout", nil)
		req.Header.Set("Accept", "application/json")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := logout(&http.Cookie{Name: "userToken", Value: "access-only"})
	if rec.Code != http.StatusOK || !strings.Contains(strings.Join(rec.Header()["Set-Cookie"], "\n"), "Max-Age=0") {
		t.Errorf("logout: %d %v", rec.Code, rec.Header()["Set-Cookie"])
	}
	mu.Lock()
	if calls["/revoke"] != 0 {
		t.Errorf("%d revocation calls without a refresh token, want 0", calls["/revoke"])
	}
	mu.Unlock()
	logout(&http.Cookie{Name: "userToken", Value: "access-2"}, &http.Cookie{Name: "refreshToken", Value: "refresh-2"})
	mu.Lock()
	defer mu.Unlock()
	if calls["/revoke"] != 1 {
		t.Errorf("%d revocation calls with a refresh token, want 1", calls["/revoke"])
	}
}

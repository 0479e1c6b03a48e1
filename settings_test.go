package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func validConfig() *Config {
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	return c
}

func TestNewRejectsBadOptionsNamingThem(t *testing.T) {
	tests := []struct {
		option string
		mutate func(*Config)
	}{
		{"backend.url", func(c *Config) { c.Backend.URL = "" }},
		{"backend.url", func(c *Config) { c.Backend.URL = "not a url" }},
		{"backend.url", func(c *Config) { c.Backend.URL = "ftp://x" }},
		{"backend.timeout", func(c *Config) { c.Backend.Timeout = "abc" }},
		{"backend.timeout", func(c *Config) { c.Backend.Timeout = "0s" }},
		{"backend.validatePath", func(c *Config) { c.Backend.ValidatePath = "" }},
		{"backend.maxConcurrent", func(c *Config) { c.Backend.MaxConcurrent = 0 }},
		{"cache.ttl", func(c *Config) { c.Cache.TTL = "2 seconds" }},
		{"cache.maxEntries", func(c *Config) { c.Cache.MaxEntries = 0 }},
		{"cookies.userMaxAge", func(c *Config) { c.Cookies.UserMaxAge = "x" }},
		{"cookies.guestMaxAge", func(c *Config) { c.Cookies.GuestMaxAge = "-1h" }},
		{"cookies.sameSite", func(c *Config) { c.Cookies.SameSite = "Bogus" }},
		{"cookies.sameSite", func(c *Config) { c.Cookies.SameSite = "None"; c.Cookies.Secure = false }},
		{"cookies.user", func(c *Config) { c.Cookies.User = "" }},
		{"cookies.guest", func(c *Config) { c.Cookies.Guest = "bad name" }},
		{"cookies.user", func(c *Config) { c.Cookies.User = "__Host-t"; c.Cookies.Secure = false }},
		{"cookies", func(c *Config) { c.Cookies.Guest = c.Cookies.User }},
		{"guest.username", func(c *Config) { c.Guest.Enabled = true }},
		{"guest.password", func(c *Config) { c.Guest.Enabled = true; c.Guest.Username = "g" }},
		{"refresh.reuseStatusCodes", func(c *Config) { c.Refresh.ReuseStatusCodes = []string{"abc"} }},
		{"refresh.graceWindow", func(c *Config) { c.Refresh.GraceWindow = "soon" }},
		{"routes.protected", func(c *Config) { c.Routes.Protected = []string{"dashboard"} }},
		{"routes.public", func(c *Config) { c.Routes.Public = []string{"/a/**x"} }},
		{"routes.roles[0].roles", func(c *Config) { c.Routes.Roles = []RoleRule{{Path: "/admin"}} }},
		{"routes.roles[0].path", func(c *Config) { c.Routes.Roles = []RoleRule{{Path: "admin", Roles: []string{"a"}}} }},
		{"routes.loginUrl", func(c *Config) { c.Routes.LoginURL = "//evil.com" }},
		{"routes.loginUrl", func(c *Config) { c.Routes.ProtectedByDefault = true }},
		{"routes.homeUrl", func(c *Config) { c.Routes.AuthOnly = []string{"/"}; c.Routes.HomeURL = "/" }},
		{"headers.user", func(c *Config) { c.Headers.User = "X Auth" }},
		{"headers.userId", func(c *Config) { c.Headers.UserID = "x_auth_user" }},
		{"headers.tokenType", func(c *Config) { c.Headers.TokenType = "Cookie" }},
	}
	for _, tc := range tests {
		c := validConfig()
		tc.mutate(c)
		_, err := New(context.Background(), http.NotFoundHandler(), c, "t")
		if err == nil {
			t.Errorf("%s: New accepted a bad value", tc.option)
			continue
		}
		if !strings.Contains(err.Error(), tc.option+":") {
			t.Errorf("%s: error %q does not name the option", tc.option, err)
		}
	}
}

func TestNewAcceptsDefaultsAndSecretsStayOutOfErrors(t *testing.T) {
	if _, err := New(context.Background(), http.NotFoundHandler(), validConfig(), "t"); err != nil {
		t.Fatalf("defaults with a backend URL rejected: %v", err)
	}
	c := validConfig()
	c.Guest.Enabled = true
	c.Guest.Username = "guest"
	c.Guest.Password = "s3cret-guest-password"
	c.Cache.TTL = "bad"
	_, err := New(context.Background(), http.NotFoundHandler(), c, "t")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v must exist and not carry the guest password", err)
	}
}

func TestEndpointJoin(t *testing.T) {
	c := validConfig()
	c.Backend.URL = "http://auth.local:9000/api/"
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	if s.backend.validateURL != "http://auth.local:9000/api/auth/me" {
		t.Errorf("validate URL = %q", s.backend.validateURL)
	}
	if s.backend.refreshURL != "http://auth.local:9000/api/auth/refresh" {
		t.Errorf("refresh URL = %q", s.backend.refreshURL)
	}
}

// TestNewRefusesConfigurationsWhereGuestsCountAsUsers: without
// responses.tokenType every token, a guest's included, has type "user",
// so New refuses it unless routes.allowedTokenTypes says what counts as a
// user, and refuses it outright with guests enabled (the guest tokens
// authlayer mints would be users once moved into the user cookie).
func TestNewRefusesConfigurationsWhereGuestsCountAsUsers(t *testing.T) {
	guests := func(c *Config) { c.Guest = GuestConfig{Enabled: true, Username: "g", Password: "p"} }
	for _, tc := range []struct {
		desc    string
		mutate  func(*Config)
		wantErr string // the option the error names; "" = accepted
	}{
		{"tokenType empty", func(c *Config) { c.Responses.TokenType = "" }, "routes.allowedTokenTypes"},
		{"tokenType blank", func(c *Config) { c.Responses.TokenType = "  " }, "routes.allowedTokenTypes"},
		{"tokenType empty, allowedTokenTypes blank", func(c *Config) {
			c.Responses.TokenType = ""
			c.Routes.AllowedTokenTypes = []string{" ", ""}
		}, "routes.allowedTokenTypes"},
		{"tokenType empty, guests on", func(c *Config) { c.Responses.TokenType = ""; guests(c) }, "responses.tokenType"},
		{"tokenType empty, guests on, allowedTokenTypes set", func(c *Config) {
			c.Responses.TokenType = ""
			c.Routes.AllowedTokenTypes = []string{"user"}
			guests(c)
		}, "responses.tokenType"},
		{"tokenType empty, allowedTokenTypes set (every token is a user, said explicitly)", func(c *Config) {
			c.Responses.TokenType = ""
			c.Routes.AllowedTokenTypes = []string{"user"}
		}, ""},
		{"defaults", func(c *Config) {}, ""},
		{"defaults with guests", guests, ""},
		{"tokenType set, allowedTokenTypes set", func(c *Config) {
			c.Responses.TokenType = "kind"
			c.Routes.AllowedTokenTypes = []string{"member"}
			guests(c)
		}, ""},
	} {
		c := validConfig()
		tc.mutate(c)
		_, err := New(context.Background(), http.NotFoundHandler(), c, "t")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.desc, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: accepted, want an error naming %s", tc.desc, tc.wantErr)
		case tc.wantErr != "" && !strings.HasPrefix(err.Error(), "authlayer: "+tc.wantErr+":"):
			t.Errorf("%s: error %q does not name %s", tc.desc, err, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), "guest"):
			t.Errorf("%s: error %q does not say why (guests would count as users)", tc.desc, err)
		}
	}
}

// TestDjangoStyleExampleKeepsGuestsOut: the README's Django-style shape,
// {"user": {...}, "is_guest": false, "exp": …}, with tokenType: is_guest
// and allowedTokenTypes: ["false"]: users reach protected pages, a guest
// token moved into the user cookie does not, nor does an answer that
// lacks is_guest.
func TestDjangoStyleExampleKeepsGuestsOut(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer := map[string]interface{}{"user": map[string]interface{}{"id": 7, "groups": []string{"staff"}}, "exp": 4102444800}
		switch bearer(r) {
		case "django-user":
			answer["is_guest"] = false
		case "django-guest":
			answer["is_guest"] = true
		case "django-untyped":
		default:
			writeJSON(w, http.StatusUnauthorized, map[string]interface{}{"detail": "invalid"})
			return
		}
		writeJSON(w, http.StatusOK, answer)
	}))
	defer backend.Close()
	c := CreateConfig()
	c.Backend.URL = backend.URL
	c.Cookies.Secure = false
	c.Responses = ResponsesConfig{User: "user", UserID: "user.id", TokenType: "is_guest", ExpiresAt: "exp", Roles: "user.groups", AccessToken: "access"}
	c.Routes.Protected = []string{"/dashboard"}
	c.Routes.AllowedTokenTypes = []string{"false"}
	h, err := New(context.Background(), http.NotFoundHandler(), c, "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		want  int
	}{
		{"django-user", http.StatusNotFound}, // reached the app (NotFoundHandler)
		{"django-guest", http.StatusUnauthorized},
		{"django-untyped", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(http.MethodGet, "/dashboard", nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "userToken", Value: tc.token})
		if rec := serve(h, req); rec.Code != tc.want {
			t.Errorf("%s on a protected page: status %d, want %d", tc.token, rec.Code, tc.want)
		}
	}
	// The example as the README printed it (tokenType "") is refused.
	c.Responses.TokenType = ""
	c.Routes.AllowedTokenTypes = nil
	if _, err := New(context.Background(), http.NotFoundHandler(), c, "t"); err == nil {
		t.Error("tokenType \"\" without allowedTokenTypes was accepted")
	}
}

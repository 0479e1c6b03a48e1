package authlayer

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEndpointOptionErrors(t *testing.T) {
	cases := []struct {
		desc   string
		mutate func(*Config)
		option string
	}{
		{"relative path", func(c *Config) { c.Endpoints.Login = "auth/login" }, "endpoints.login"},
		{"dot segments", func(c *Config) { c.Endpoints.Logout = "/auth/../logout" }, "endpoints.logout"},
		{"query", func(c *Config) { c.Endpoints.Session = "/auth/session?x=1" }, "endpoints.session"},
		{"twice", func(c *Config) { c.Endpoints.Login, c.Endpoints.Logout = "/auth/x", "/auth/x" }, "endpoints.logout"},
		{"excluded", func(c *Config) { c.Endpoints.Login, c.Routes.Excluded = "/static/login", []string{"/static"} }, "endpoints.login"},
		{"body cap", func(c *Config) { c.Endpoints.MaxBodyBytes = 0 }, "endpoints.maxBodyBytes"},
		{"hint named like the user cookie", func(c *Config) { c.Cookies.ExpiryHint = "userToken" }, "cookies.expiryHint"},
		{"hint name invalid", func(c *Config) { c.Cookies.ExpiryHint = "a b" }, "cookies.expiryHint"},
		{"proactive window", func(c *Config) { c.Refresh.ProactiveWindow = "soon" }, "refresh.proactiveWindow"},
		{"login budget", func(c *Config) { c.RateLimit.Enabled, c.RateLimit.Logins = true, 0 }, "rateLimit.logins"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := CreateConfig()
			c.Backend.URL = "http://127.0.0.1:1"
			tc.mutate(c)
			_, err := New(context.Background(), nil, c, "endpoint-options")
			if err == nil || !strings.Contains(err.Error(), tc.option) {
				t.Fatalf("got %v, want an error naming %s", err, tc.option)
			}
		})
	}
}

// TestWithoutTokens: no token survives, under a known name, another name,
// or deep inside; other fields do.
func TestWithoutTokens(t *testing.T) {
	doc := map[string]interface{}{
		"success": true,
		"data": map[string]interface{}{
			"accessToken": "A", "refresh_token": "R", "jwt": "J", "access": []interface{}{"read"},
			"user":     map[string]interface{}{"id": "u-1", "session": "A"},
			"sessions": []interface{}{"R", "other"},
		},
	}
	got := withoutTokens(doc, "A", "R").(map[string]interface{})
	data := got["data"].(map[string]interface{})
	for _, k := range []string{"accessToken", "refresh_token", "jwt"} {
		if _, ok := data[k]; ok {
			t.Errorf("%s kept", k)
		}
	}
	if _, ok := data["access"]; !ok {
		t.Error("a non-string field named access was dropped")
	}
	if u := data["user"].(map[string]interface{}); u["id"] != "u-1" || u["session"] != nil {
		t.Errorf("user: %v", u)
	}
	if s := data["sessions"].([]interface{}); len(s) != 1 || s[0] != "other" {
		t.Errorf("sessions: %v", s)
	}
	if got["success"] != true {
		t.Error("success dropped")
	}
}

func TestCrossSitePost(t *testing.T) {
	cases := []struct {
		site, origin string
		want         bool
	}{
		{"", "", false},
		{"same-origin", "", false},
		{"cross-site", "", true},
		{"", "http://app.test", false},
		{"", "http://APP.test", false},
		{"", "https://evil.test", true},
		{"", "null", true},
		{"", "garbage", true},
	}
	for _, tc := range cases {
		req := httptest.NewRequest("POST", "http://app.test/auth/login", nil)
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if got := crossSitePost(req); got != tc.want {
			t.Errorf("Sec-Fetch-Site %q Origin %q: got %v, want %v", tc.site, tc.origin, got, tc.want)
		}
	}
}

package authlayer

import (
	"context"
	"net/http"
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

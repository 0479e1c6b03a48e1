package authlayer

import (
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

// captureStdLog sends the log package's output to a buffer until the test
// ends.
func captureStdLog(t *testing.T) *lockedBuffer {
	t.Helper()
	buf := &lockedBuffer{}
	log.SetOutput(buf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return buf
}

// TestNothingProtectedSaidOnce: routes that protect nothing are logged at
// New, once per middleware name and routes configuration, however often
// Traefik calls New; a configuration that protects something is quiet.
func TestNothingProtectedSaidOnce(t *testing.T) {
	buf := captureStdLog(t)
	build := func(name string, mutate func(*Config)) {
		t.Helper()
		c := validConfig()
		if mutate != nil {
			mutate(c)
		}
		if _, err := New(context.Background(), http.NotFoundHandler(), c, name); err != nil {
			t.Fatalf("New(%s): %v", name, err)
		}
	}
	count := func(name string) int {
		return strings.Count(buf.String(), "authlayer: "+name+": no path is protected")
	}

	for i := 0; i < 5; i++ { // routers and reloads
		build("np-open@file", nil)
	}
	if n := count("np-open@file"); n != 1 {
		t.Errorf("open routes, 5 New calls: %d warnings, want 1", n)
	}
	if line := buf.String(); !strings.Contains(line, "routes.protected") || !strings.Contains(line, "routes.protectedByDefault") {
		t.Errorf("warning %q does not name the options to set", line)
	}
	build("np-open@file", func(c *Config) { c.Routes.Public = []string{"/pub"} })
	if n := count("np-open@file"); n != 2 {
		t.Errorf("changed routes: %d warnings in all, want 2", n)
	}
	build("np-other@file", nil)
	if n := count("np-other@file"); n != 1 {
		t.Errorf("another middleware: %d warnings, want 1", n)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"np-protected", func(c *Config) { c.Routes.Protected = []string{"/account"} }},
		{"np-roles", func(c *Config) { c.Routes.Roles = []RoleRule{{Path: "/admin", Roles: []string{"admin"}}} }},
		{"np-default", func(c *Config) { c.Routes.ProtectedByDefault = true; c.Routes.AuthOnly = []string{"/login"} }},
	} {
		build(tc.name, tc.mutate)
		if n := count(tc.name); n != 0 {
			t.Errorf("%s: %d warnings, want none", tc.name, n)
		}
	}

	for i := 0; i < 2*maxProtectionWarnings; i++ {
		build("np-flood-"+strconv.Itoa(i), nil)
	}
	protectionWarnedMu.Lock()
	n := len(protectionWarned)
	protectionWarnedMu.Unlock()
	if n > maxProtectionWarnings {
		t.Errorf("%d configurations remembered, want at most %d", n, maxProtectionWarnings)
	}
}

// TestSecureCookiesOverPlainHTTPSaidOnce: an instance that answers Secure
// cookies to a plain-http request from a host other than localhost says
// so once, naming cookies.secure; https, a proxy saying https, local
// hosts and cookies.secure=false are quiet.
func TestSecureCookiesOverPlainHTTPSaidOnce(t *testing.T) {
	buf := captureStdLog(t)
	f := newFakeBackend(t)
	for _, tc := range []struct {
		desc   string
		url    string
		proto  string
		secure bool
		warn   bool
	}{
		{"plain http, a public name", "http://app.example/", "", true, true},
		{"plain http, the proxy says http", "http://app.example/", "http", true, true},
		{"https", "https://app.example/", "", true, false},
		{"TLS ended before Traefik", "http://app.example/", "https", true, false},
		{"localhost", "http://localhost:8080/", "", true, false},
		{"a .localhost name", "http://app.localhost/", "", true, false},
		{"loopback v4", "http://127.0.0.1:8080/", "", true, false},
		{"loopback v6", "http://[::1]:8080/", "", true, false},
		{"cookies.secure off", "http://app.example/", "", false, false},
	} {
		h, _ := newTestMiddleware(t, f, func(c *Config) { c.Cookies.Secure = tc.secure })
		name := t.Name()
		before := strings.Count(buf.String(), "authlayer: "+name+": cookies.secure")
		for i := 0; i < 3; i++ {
			req := httptest.NewRequest(http.MethodGet, tc.url, nil) // a guest is minted: Set-Cookie on every answer
			req.Header.Set("Accept", "text/html")
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if rec := serve(h, req); len(rec.Result().Cookies()) == 0 {
				t.Fatalf("%s: no cookie set, the case tests nothing", tc.desc)
			}
		}
		got := strings.Count(buf.String(), "authlayer: "+name+": cookies.secure") - before
		if want := map[bool]int{true: 1, false: 0}[tc.warn]; got != want {
			t.Errorf("%s: %d warnings for 3 answers, want %d", tc.desc, got, want)
		}
	}
	if !strings.Contains(buf.String(), "set cookies.secure=false for plain-http development") {
		t.Errorf("the warning does not say what to do: %q", buf.String())
	}
}

func TestLogSafe(t *testing.T) {
	if got := logSafe("app.example\r\nX-Evil: 1\x00é"); got != "app.example??X-Evil:?1???" {
		t.Errorf("logSafe: got %q, want every byte outside printable ASCII replaced", got)
	}
}

package devstack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/test/loader"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const twoSpellings = `
services:
  app:
    labels:
      - "traefik.enable=true"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.backend.url=http://authbackend:9001/base"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.routes.protected=/a,/b"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.routes.roles[0].path=/admin"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.routes.roles[0].roles=admin,ops"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.guest.enabled=true"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.guest.username=g"
      - "traefik.http.middlewares.authlayer.plugin.authlayer.guest.password=a=b"
      - "traefik.http.middlewares.other.plugin.authlayer.backend.url=http://elsewhere"
    environment:
      - "A=1"
  authbackend:
    labels:
      traefik.enable: true
      traefik.http.services.authbackend.loadbalancer.server.port: 9001
    environment:
      EMPTY:
`

func TestReadComposeBothSpellings(t *testing.T) {
	path := writeFile(t, t.TempDir(), "compose.yml", twoSpellings)
	services, err := ReadCompose(path)
	if err != nil {
		t.Fatal(err)
	}
	app, backend := services["app"], services["authbackend"]
	if got := app.Labels["traefik.http.middlewares.authlayer.plugin.authlayer.guest.password"]; got != "a=b" {
		t.Errorf("list label value = %q, want a=b (split on the first '=' only)", got)
	}
	if app.Environment["A"] != "1" {
		t.Errorf("list environment = %v", app.Environment)
	}
	if backend.Labels["traefik.enable"] != "true" || backend.Labels["traefik.http.services.authbackend.loadbalancer.server.port"] != "9001" {
		t.Errorf("map labels = %v", backend.Labels)
	}
	if v, ok := backend.Environment["EMPTY"]; !ok || v != "" {
		t.Errorf("map environment with a null value = %v", backend.Environment)
	}
}

func TestReadComposeErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty.yml":    "version: '3'\n",
		"badlabel.yml": "services:\n  app:\n    labels:\n      - novalue\n",
		"badyaml.yml":  "services: [\n",
		"scalar.yml":   "services:\n  app:\n    labels: 42\n",
	} {
		if _, err := ReadCompose(writeFile(t, dir, name, content)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadCompose(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestLoadSetup(t *testing.T) {
	path := writeFile(t, t.TempDir(), "compose.yml", twoSpellings)
	s, err := LoadSetup(path, "127.0.0.1:4242")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Labels) != 7 {
		t.Errorf("took %d labels, want the 7 of middleware authlayer: %v", len(s.Labels), s.Labels)
	}
	want := map[string]interface{}{
		"backend": map[string]interface{}{"url": "http://127.0.0.1:4242/base"},
		"routes": map[string]interface{}{
			"protected": "/a,/b",
			"roles":     []interface{}{map[string]interface{}{"path": "/admin", "roles": "admin,ops"}},
		},
		"guest": map[string]interface{}{"enabled": "true", "username": "g", "password": "a=b"},
	}
	if !reflect.DeepEqual(lowerKeys(s.Options), lowerKeys(want)) {
		t.Errorf("options = %#v\nwant %#v", s.Options, want)
	}
	if !s.GuestEnabled || s.GuestUsername != "g" || s.GuestPassword != "a=b" || s.RefreshCookie != "" {
		t.Errorf("setup = %+v", s)
	}
	if got := s.Option("GUEST.username"); got != "g" {
		t.Errorf("Option(GUEST.username) = %q, want g (keys match case-insensitively)", got)
	}
	if got := s.Option("cookies.expiryHint"); got != "" {
		t.Errorf("Option of an unset key = %q, want empty", got)
	}
	if _, err := LoadSetup(path, "no-port"); err == nil {
		t.Error("backend address without a port: no error")
	}
	if s.SigningKey != nil {
		t.Error("a compose file without AUTH_JWT_PRIVATE_KEY gave a signing key")
	}
}

// TestLoadSetupSigningKey: the backend service's AUTH_JWT_PRIVATE_KEY,
// a PEM block or one line with \n, becomes Setup.SigningKey; a bad one is
// an error that does not quote it.
func TestLoadSetupSigningKey(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := authbackend.PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	app := "services:\n  app:\n    labels:\n      - \"" + LabelPrefix + "backend.url=http://authbackend:9001\"\n"
	indented := "    " + strings.ReplaceAll(strings.TrimSpace(keyPEM), "\n", "\n        ")
	dir := t.TempDir()
	for name, backend := range map[string]string{
		"block":    "  authbackend:\n    environment:\n      AUTH_JWT_PRIVATE_KEY: |\n    " + indented + "\n",
		"one line": "  authbackend:\n    environment:\n      - 'AUTH_JWT_PRIVATE_KEY=" + authbackend.OneLine(keyPEM) + "'\n",
	} {
		s, err := LoadSetup(writeFile(t, dir, name+".yml", app+backend), "127.0.0.1:1")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !key.Equal(s.SigningKey) {
			t.Errorf("%s: SigningKey is not the compose file's key", name)
		}
	}
	pub, _ := authbackend.PublicKeyPEM(key.Public().(ed25519.PublicKey), "")
	bad := "  authbackend:\n    environment:\n      - 'AUTH_JWT_PRIVATE_KEY=" + authbackend.OneLine(pub) + "'\n"
	_, err = LoadSetup(writeFile(t, dir, "bad.yml", app+bad), "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "AUTH_JWT_PRIVATE_KEY") {
		t.Fatalf("a public key as the private key: err = %v, want an error naming AUTH_JWT_PRIVATE_KEY", err)
	}
	if strings.Contains(err.Error(), "MCow") {
		t.Errorf("the error quotes the key: %v", err)
	}
}

// lowerKeys lower-cases map keys recursively: Traefik matches option names
// case-insensitively, so only the values matter.
func lowerKeys(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			out[strings.ToLower(k)] = lowerKeys(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = lowerKeys(e)
		}
		return out
	}
	return v
}

func TestPluginLabels(t *testing.T) {
	labels := map[string]string{
		"Traefik.HTTP.Middlewares.authlayer.Plugin.authlayer.Backend.URL": "http://authbackend:9001",
		"traefik.http.routers.app.rule":                                   "PathPrefix(`/`)",
	}
	got, err := PluginLabels(labels, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["Traefik.HTTP.Middlewares.authlayer.Plugin.authlayer.Backend.URL"] != "http://127.0.0.1:1" {
		t.Errorf("got %v", got)
	}
	if _, err := PluginLabels(map[string]string{LabelPrefix + "backend.url": "authbackend:9001"}, "127.0.0.1:1"); err == nil {
		t.Error("relative backend URL: no error")
	}
	if _, err := PluginLabels(map[string]string{"traefik.enable": "true"}, ""); err == nil {
		t.Error("no plugin labels: no error")
	}
}

func TestWriteTraefikConfig(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "go.mod", "module github.com/authlayer/authlayer\n\ngo 1.21\n")
	writeFile(t, root, ".traefik.yml", "displayName: x\n")
	writeFile(t, root, "plugin.go", "package authlayer\n")
	writeFile(t, root, "plugin_test.go", "package authlayer\n")
	writeFile(t, root, "README.md", "readme\n")
	writeFile(t, root, "internal/sub/sub.go", "package sub\n")
	writeFile(t, root, "demo/go.mod", "module x/demo\n")
	writeFile(t, root, "demo/main.go", "package main\n")
	writeFile(t, root, ".git/config", "x\n")

	options := map[string]interface{}{
		"backend": map[string]interface{}{"url": "http://127.0.0.1:9001"},
		"routes":  map[string]interface{}{"roles": []interface{}{map[string]interface{}{"path": "/admin", "roles": "admin"}}},
	}
	dir := t.TempDir()
	d, err := WriteTraefikConfig(dir, "127.0.0.1:8080", root, options, "http://127.0.0.1:9002")
	if err != nil {
		t.Fatal(err)
	}

	// The file provider hands the plugin the very map the labels made.
	dynamic, err := os.ReadFile(d.Dynamic)
	if err != nil {
		t.Fatal(err)
	}
	got, err := loader.FromYAML(dynamic, MiddlewareName, PluginName)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, options) {
		t.Errorf("file provider options = %#v, want %#v", got, options)
	}
	for _, want := range []string{"PathPrefix(`/`)", "http://127.0.0.1:9002", "- authlayer"} {
		if !bytes.Contains(dynamic, []byte(want)) {
			t.Errorf("dynamic config lacks %q:\n%s", want, dynamic)
		}
	}
	// Only authlayer calls the backend: no router leads a browser to it
	// (the options' backend.url is the only place its address appears).
	for _, unwanted := range []string{"/auth/", "authbackend"} {
		if bytes.Contains(dynamic, []byte(unwanted)) {
			t.Errorf("dynamic config routes to the backend (%q):\n%s", unwanted, dynamic)
		}
	}
	if n := bytes.Count(dynamic, []byte("127.0.0.1:9001")); n != 1 {
		t.Errorf("the backend's address appears %d times in the dynamic config, want once (backend.url):\n%s", n, dynamic)
	}
	static, _ := os.ReadFile(d.Static)
	for _, want := range []string{"moduleName: github.com/authlayer/authlayer", "address: 127.0.0.1:8080", "filename: " + d.Dynamic} {
		if !bytes.Contains(static, []byte(want)) {
			t.Errorf("static config lacks %q:\n%s", want, static)
		}
	}

	// The plugin copy holds what a plugin archive holds, under
	// plugins-local/src/<module> relative to Traefik's working directory.
	if d.PluginCopy != filepath.Join(dir, "plugins-local/src/github.com/authlayer/authlayer") {
		t.Errorf("plugin copy at %s", d.PluginCopy)
	}
	for _, rel := range []string{"go.mod", ".traefik.yml", "plugin.go", "internal/sub/sub.go"} {
		if _, err := os.Stat(filepath.Join(d.PluginCopy, rel)); err != nil {
			t.Errorf("copy lacks %s", rel)
		}
	}
	for _, rel := range []string{"plugin_test.go", "README.md", "demo", ".git"} {
		if _, err := os.Stat(filepath.Join(d.PluginCopy, rel)); err == nil {
			t.Errorf("copy holds %s", rel)
		}
	}
}

func TestCopyPluginSourceNeedsManifest(t *testing.T) {
	if err := CopyPluginSource(t.TempDir(), t.TempDir()); err == nil || !strings.Contains(err.Error(), ".traefik.yml") {
		t.Errorf("got %v, want an error naming .traefik.yml", err)
	}
}

// TestRunTraefik runs a stand-in binary: it must start in the working
// directory with --configFile and be stopped when the context ends.
func TestRunTraefik(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ran")
	script := writeFile(t, dir, "fake-traefik", "#!/bin/sh\ntrap 'echo stopped >> "+out+"; exit 0' INT TERM\npwd > "+out+"\necho \"$@\" >> "+out+"\nfor i in $(seq 1 300); do sleep 0.1; done\n")
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	d := TraefikDirs{Root: dir, Static: filepath.Join(dir, "traefik.yml")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunTraefik(ctx, script, d, &bytes.Buffer{}) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunTraefik: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("RunTraefik did not return after the context ended")
	}
	b, _ := os.ReadFile(out)
	want := dir + "\n--configFile=" + d.Static + "\nstopped\n"
	if got := string(b); got != want {
		t.Errorf("the stand-in recorded %q, want %q", got, want)
	}
}

func TestRunTraefikReportsEarlyExit(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, dir, "fake-traefik", "#!/bin/sh\nexit 3\n")
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	err := RunTraefik(context.Background(), script, TraefikDirs{Root: dir}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("got %v, want the exit status", err)
	}
}

// TestDevHostRoutesAndLogs checks the dev host's routing (everything,
// /auth/ included, through the middleware to the app: the backend has no
// route) and that its access log holds no query, cookie or header.
func TestDevHostRoutesAndLogs(t *testing.T) {
	echo := func(who string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Who", who)
			w.Header().Set("X-Seen-Middleware", r.Header.Get("X-Middleware"))
			w.Header().Set("X-Seen-Host", r.Host)
			w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		}))
	}
	backend, app := echo("backend"), echo("app")
	defer backend.Close()
	defer app.Close()
	appURL, _ := url.Parse(app.URL)

	var gotOptions map[string]interface{}
	var gotName string
	factory := loader.Factory(func(options map[string]interface{}, next http.Handler, name string) (http.Handler, error) {
		gotOptions, gotName = options, name
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("X-Middleware", "yes")
			next.ServeHTTP(w, r)
		}), nil
	})
	var logs bytes.Buffer
	options := map[string]interface{}{"backend": map[string]interface{}{"url": backend.URL}}
	host, err := NewDevHost(factory, options, appURL, log.New(&logs, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	if gotName != "authlayer@docker" || !reflect.DeepEqual(gotOptions, options) {
		t.Errorf("factory got name %q options %v", gotName, gotOptions)
	}
	front := httptest.NewServer(host)
	defer front.Close()

	for _, tc := range []struct{ path, who, middleware string }{
		{"/auth/login", "app", "yes"},
		{"/auth/refresh", "app", "yes"},
		{"/", "app", "yes"},
		{"/dashboard?secret-query=1", "app", "yes"},
		{"/authx", "app", "yes"},
	} {
		req, _ := http.NewRequest(http.MethodGet, front.URL+tc.path, nil)
		req.AddCookie(&http.Cookie{Name: "userToken", Value: "cookie-value-must-not-be-logged"})
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Who") != tc.who || resp.Header.Get("X-Seen-Middleware") != tc.middleware {
			t.Errorf("%s: reached %q (middleware %q), want %q (%q)", tc.path, resp.Header.Get("X-Who"), resp.Header.Get("X-Seen-Middleware"), tc.who, tc.middleware)
		}
		if got := resp.Header.Get("X-Seen-Host"); got != strings.TrimPrefix(front.URL, "http://") {
			t.Errorf("%s: upstream saw Host %q, want the client's", tc.path, got)
		}
		if got := resp.Header.Get("X-Seen-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("%s: upstream saw X-Forwarded-For %q, want only the connection's address", tc.path, got)
		}
	}
	logged := logs.String()
	if !strings.Contains(logged, "GET /dashboard -> 200") {
		t.Errorf("access log lacks the request line:\n%s", logged)
	}
	for _, secret := range []string{"secret-query", "cookie-value", "userToken"} {
		if strings.Contains(logged, secret) {
			t.Errorf("access log holds %q:\n%s", secret, logged)
		}
	}
}

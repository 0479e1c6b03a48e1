package traefikrun

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyPlugin: the copy of the repository holds the plugin's non-test
// sources, of the root and of every sub-package, go.mod and .traefik.yml,
// and nothing of the nested modules (test, demo, ...) nor any test file.
func TestCopyPlugin(t *testing.T) {
	root, err := FindPluginRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := CopyPlugin(root, dst); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", ".traefik.yml", "plugin.go"} {
		if _, err := os.Stat(filepath.Join(dst, want)); err != nil {
			t.Errorf("copy lacks %s: %v", want, err)
		}
	}
	// Every non-test .go file under internal/ is in the copy.
	sub := 0
	err = filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		sub++
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(dst, rel)); err != nil {
			t.Errorf("copy lacks the sub-package file %s: %v", rel, err)
		}
		return nil
	})
	if err != nil || sub == 0 {
		t.Fatalf("walking internal/: %v, %d sources (want some)", err, sub)
	}
	for _, nested := range []string{"test", "demo", "scripts"} {
		if _, err := os.Stat(filepath.Join(dst, nested)); err == nil {
			t.Errorf("copy holds %s/", nested)
		}
	}
	err = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "_test.go") {
			t.Errorf("copy holds the test file %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStartReloadStop: Traefik starts with the plugin on a router, a
// reload replaces the configuration and is served when Reload returns,
// pprof answers, and Stop ends the process.
func TestStartReloadStop(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "up:"+r.URL.Path)
	}))
	defer up.Close()
	dynamic := func(route string) string {
		return `
http:
  routers:
    app:
      rule: PathPrefix(` + "`" + route + "`" + `)
      middlewares: [auth]
      service: up
  middlewares:
    auth:
      plugin:
        authlayer:
          backend: {url: "http://127.0.0.1:9"}
          cookies: {secure: "false"}
  services:
    up:
      loadBalancer:
        servers: [{url: "` + up.URL + `"}]
`
	}
	tr := Start(t, Options{Dynamic: dynamic("/one")})
	get := func(path string) int {
		t.Helper()
		resp, err := tr.Client().Get(tr.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/one"); code != http.StatusOK {
		t.Fatalf("GET /one: %d, want 200 through the plugin", code)
	}
	tr.Reload(t, dynamic("/two"))
	if code := get("/two"); code != http.StatusOK {
		t.Errorf("GET /two after the reload: %d, want 200", code)
	}
	if code := get("/one"); code != http.StatusNotFound {
		t.Errorf("GET /one after the reload: %d, want 404", code)
	}
	if n := tr.Goroutines(t); n < 5 {
		t.Errorf("goroutines: %d, want a plausible total", n)
	}
	if _, err := tr.ProcStat(); err != nil {
		t.Errorf("ProcStat: %v", err)
	}
	tr.Stop()
	if tr.Running() {
		t.Errorf("Traefik still running after Stop")
	}
}

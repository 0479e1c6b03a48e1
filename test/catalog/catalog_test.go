// Package catalog checks the plugin manifest (.traefik.yml) the way Traefik
// checks a local plugin's manifest, and runs its testData through the
// plugin interpreted by Yaegi, offline, as the plugin catalog does.
package catalog

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

const root = "../.."

// manifest has the fields Traefik reads from .traefik.yml (with yaml.v3, as
// Traefik does), plus iconPath.
type manifest struct {
	DisplayName   string                 `yaml:"displayName"`
	Type          string                 `yaml:"type"`
	Runtime       string                 `yaml:"runtime"`
	Import        string                 `yaml:"import"`
	BasePkg       string                 `yaml:"basePkg"`
	Compatibility string                 `yaml:"compatibility"`
	Summary       string                 `yaml:"summary"`
	IconPath      string                 `yaml:"iconPath"`
	UseUnsafe     bool                   `yaml:"useUnsafe"`
	TestData      map[string]interface{} `yaml:"testData"`
}

func readManifest(t *testing.T) *manifest {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".traefik.yml"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip(".traefik.yml does not exist yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := &manifest{}
	if err := yaml.NewDecoder(f).Decode(m); err != nil {
		t.Fatalf(".traefik.yml: %v", err)
	}
	return m
}

func modulePath(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// TestManifest applies the checks Traefik makes before it loads a local
// plugin, and the catalog's own requirements.
func TestManifest(t *testing.T) {
	m := readManifest(t)
	mod := modulePath(t)
	if m.Type != "middleware" {
		t.Errorf("type = %q, want middleware", m.Type)
	}
	if m.Runtime != "" && m.Runtime != "yaegi" {
		t.Errorf("runtime = %q, want yaegi (or unset)", m.Runtime)
	}
	if m.Import == "" || !strings.HasPrefix(m.Import, mod) {
		t.Errorf("import = %q, must start with the module path %q", m.Import, mod)
	}
	if m.DisplayName == "" {
		t.Error("displayName is missing")
	}
	if m.Summary == "" {
		t.Error("summary is missing")
	}
	if m.TestData == nil {
		t.Error("testData is missing")
	}
	if m.UseUnsafe {
		t.Error("useUnsafe is set: the plugin must not need unsafe or syscall")
	}
	if m.IconPath != "" {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m.IconPath))); err != nil {
			t.Errorf("iconPath: %v", err)
		}
	}
}

// TestTestDataBuildsOffline passes testData, as decoded from the manifest,
// to CreateConfig and New through the Yaegi loader with the catalog's 10 s
// limit, and checks that New makes no call to the backend it names.
func TestTestDataBuildsOffline(t *testing.T) {
	m := readManifest(t)
	if m.TestData == nil {
		t.Fatal("testData is missing")
	}

	calls, listening := watchBackend(t, m.TestData)

	p, err := loader.LoadYaegi(root)
	if err != nil {
		t.Fatalf("Yaegi load: %v", err)
	}
	if p.Import != m.Import {
		t.Errorf("loader imported %q, manifest says %q", p.Import, m.Import)
	}
	t.Logf("Yaegi load took %v", p.LoadTime)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	h, err := p.Build(ctx, m.TestData, http.NotFoundHandler(), "authlayer@catalog")
	if err != nil {
		t.Fatalf("New with testData: %v", err)
	}
	if h == nil {
		t.Fatal("New returned a nil handler")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("New took %v, over the catalog's 10 s limit", d)
	}

	// The compiled package must agree.
	if _, err := loader.Compiled()(m.TestData, http.NotFoundHandler(), "authlayer@catalog"); err != nil {
		t.Errorf("compiled New with testData: %v", err)
	}

	if listening {
		if n := calls.Load(); n != 0 {
			t.Errorf("New called the testData backend %d times; the catalog runs it offline", n)
		}
	} else {
		t.Log("could not listen on the testData backend address; no-call check skipped")
	}
}

// watchBackend listens on testData's backend.url when it is a loopback
// address, counting connections, so a call made by New is seen.
func watchBackend(t *testing.T, testData map[string]interface{}) (*atomic.Int64, bool) {
	t.Helper()
	calls := &atomic.Int64{}
	b, _ := testData["backend"].(map[string]interface{})
	raw, _ := b["url"].(string)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return calls, false
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return calls, false
	}
	port := u.Port()
	if port == "" {
		return calls, false
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return calls, false
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			calls.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return calls, true
}

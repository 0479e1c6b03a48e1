package benchtraefik

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRewriteImportsPointsTheBaselineAtItsOwnSubpackages: a baseline copy
// loaded under another module path imports its own sub-packages, not the
// current plugin's (which Traefik would otherwise resolve them to).
func TestRewriteImportsPointsTheBaselineAtItsOwnSubpackages(t *testing.T) {
	dir := t.TempDir()
	src := "package authlayer\n\nimport (\n\t\"strings\"\n\n\t\"github.com/authlayer/authlayer/internal/jsonpath\"\n)\n\nvar _ = \"github.com/authlayer/authlayerx\"\n"
	want := "package authlayer\n\nimport (\n\t\"strings\"\n\n\t\"example.com/baseline/authlayer/internal/jsonpath\"\n)\n\nvar _ = \"github.com/authlayer/authlayerx\"\n"
	files := map[string]string{"plugin.go": src, "internal/a/a.go": src, "go.mod": "module github.com/authlayer/authlayer\n"}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := rewriteImports(dir, "github.com/authlayer/authlayer", baselineModule); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plugin.go", "internal/a/a.go"} {
		got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if string(got) != want {
			t.Errorf("%s after the rewrite:\n%s\nwant\n%s", name, got, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(got) != files["go.mod"] {
		t.Errorf("go.mod changed: %s", got)
	}
}

// TestBaselineTablePairsEachRound: each route is divided by its twin of
// the same round, and only routes with a twin get a row.
func TestBaselineTablePairsEachRound(t *testing.T) {
	rs := []*route{{name: "none", label: "no middleware"}, {name: "user", label: "cached user"}, {name: "user-base", label: "cached user (baseline)"}}
	results := map[string][]measurement{
		"none":      {{rps: 100, cpuPerReq: 50}, {rps: 50, cpuPerReq: 100}},
		"user":      {{rps: 90, cpuPerReq: 60}, {rps: 40, cpuPerReq: 150}},
		"user-base": {{rps: 60, cpuPerReq: 120}, {rps: 40, cpuPerReq: 100}},
	}
	got := baselineTable(rs, results)
	want := "| cached user | 0.50, 1.50 | 1.00 | 1.25 (1.00–1.50) |\n"
	if !strings.HasSuffix(got, want) || strings.Count(got, "\n| cached") != 1 {
		t.Errorf("baseline table:\n%s\nwant one row ending in %q", got, want)
	}
	delete(results, "user-base")
	if got := baselineTable(rs[:2], results); got != "" {
		t.Errorf("a table without any twin: %q", got)
	}
}

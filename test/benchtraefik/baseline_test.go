package benchtraefik

import (
	"os"
	"path/filepath"
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

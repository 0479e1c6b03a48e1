package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteTree writes files (relative slash paths → contents) under a new
// temporary directory and returns it: a plugin tree for the copier and
// loader tests.
func WriteTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

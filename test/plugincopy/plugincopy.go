// Package plugincopy lays a Traefik plugin's source out as Traefik's
// plugin archive holds it. It is the one copier of the repository: the
// Yaegi loader (test/loader), the real-Traefik harness (test/traefikrun,
// used by test/e2e and test/benchtraefik) and the demo's Traefik stack
// (demo/internal/devstack) all take their copy of the plugin from Files or
// Copy, so a sub-package under internal/ reaches every one of them.
package plugincopy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files lists, as slash-separated paths relative to root and in lexical
// order, what a plugin archive built from the module in root holds:
//   - the non-test .go files of root and of every sub-package;
//   - go.mod, go.sum and .traefik.yml of root;
//   - everything under root's vendor/ directory, if any.
//
// Left out, as no import of the plugin can reach them: nested modules
// (directories with their own go.mod, such as test/ and demo/), testdata
// directories, and directories whose name starts with '.' or '_' (the go
// command ignores those three; test files are not part of a build). Only
// regular files are listed (symbolic links are not followed). Files fails
// if root's own package has no non-test .go file.
func Files(root string) ([]string, error) {
	var files []string
	rootGo := 0
	//nolint:gosec // G122: walks the plugin checkout the caller points at, not an attacker-controlled tree
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if !keepDir(p, rel, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !keepFile(rel, d.Name()) {
			return nil
		}
		if !strings.Contains(rel, "/") && strings.HasSuffix(rel, ".go") {
			rootGo++
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plugincopy: %w", err)
	}
	if rootGo == 0 {
		return nil, fmt.Errorf("plugincopy: no non-test .go file in plugin root %s", root)
	}
	return files, nil
}

// keepDir reports whether the walk enters the directory p (rel from the
// root, base name name).
func keepDir(p, rel, name string) bool {
	if rel == "vendor" || strings.HasPrefix(rel, "vendor/") {
		return true // vendored dependencies travel as they are
	}
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" {
		return false
	}
	if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
		return false // a nested module is not part of the plugin
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false // unreadable: not something Traefik could load either
	}
	return true
}

// keepFile reports whether the regular file rel (base name name) belongs
// in the archive.
func keepFile(rel, name string) bool {
	switch {
	case strings.HasPrefix(rel, "vendor/"):
		return true
	case rel == "go.mod" || rel == "go.sum" || rel == ".traefik.yml":
		return true
	default:
		return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
	}
}

// Copy copies the files Files lists from root to dst (created if missing),
// keeping their relative paths. Files are written with mode 0600 and
// directories with 0750: the copy is read by the process that made it, or
// by the Traefik it starts.
func Copy(root, dst string) error {
	files, err := Files(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return fmt.Errorf("plugincopy: %w", err)
	}
	for _, rel := range files {
		to := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
			return fmt.Errorf("plugincopy: %w", err)
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel))) //nolint:gosec // G304: a file of the plugin checkout the caller points at
		if err != nil {
			return fmt.Errorf("plugincopy: %w", err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil { //nolint:gosec // G703: under the destination the caller chose, at a path Files found in the plugin checkout
			return fmt.Errorf("plugincopy: %w", err)
		}
	}
	return nil
}

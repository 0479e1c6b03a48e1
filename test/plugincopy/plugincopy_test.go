package plugincopy

import (
	"github.com/authlayer/authlayer/test/testkit"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// pluginTree is a plugin with sub-packages at two depths, vendored code,
// and what its archive must not hold: test files (root and sub-package),
// a nested module, testdata, '.' and '_' directories, a README.
var pluginTree = map[string]string{
	"go.mod":                            "module example.com/plugin\n\ngo 1.21\n",
	"go.sum":                            "",
	".traefik.yml":                      "import: example.com/plugin\n",
	"plugin.go":                         "package plugin\n",
	"plugin_test.go":                    "package plugin\n",
	"README.md":                         "not code\n",
	"internal/hdr/hdr.go":               "package hdr\n",
	"internal/hdr/hdr_test.go":          "package hdr\n",
	"internal/hdr/notes.txt":            "not code\n",
	"internal/hdr/testdata/fixture.go":  "package fixture\n",
	"internal/deep/er/er.go":            "package er\n",
	"vendor/modules.txt":                "# example.com/dep v1.0.0\n",
	"vendor/example.com/dep/dep.go":     "package dep\n",
	"vendor/example.com/dep/LICENSE":    "license\n",
	"test/go.mod":                       "module example.com/plugin/test\n",
	"test/e2e/e2e.go":                   "package e2e\n",
	"tools/copier/go.mod":               "module example.com/plugin/tools/copier\n",
	"tools/copier/copier.go":            "package copier\n",
	"testdata/root.go":                  "package fixture\n",
	".git/hooks/hook.go":                "package hook\n",
	"_scratch/scratch.go":               "package scratch\n",
	"internal/.hidden/hidden.go":        "package hidden\n",
	"internal/_old/old.go":              "package old\n",
	"internal/hdr/sub/go.mod":           "module example.com/other\n",
	"internal/hdr/sub/nestedmodule.go":  "package sub\n",
	"internal/hdr/sub/more/deeper.go":   "package more\n",
	"internal/hdr/sub/more/deeper.yml":  "x: 1\n",
	"internal/empty/doc_test.go":        "package empty\n",
	"internal/hdr/hdr_internal_test.go": "package hdr\n",
}

// wantFiles is what Traefik's plugin archive would hold of pluginTree.
var wantFiles = []string{
	".traefik.yml",
	"go.mod",
	"go.sum",
	"internal/deep/er/er.go",
	"internal/hdr/hdr.go",
	"plugin.go",
	"vendor/example.com/dep/LICENSE",
	"vendor/example.com/dep/dep.go",
	"vendor/modules.txt",
}

func TestFilesHoldsSubpackagesAndLeavesOutTestsAndNestedModules(t *testing.T) {
	root := testkit.WriteTree(t, pluginTree)
	got, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("Files =\n  %q\nwant\n  %q", got, wantFiles)
	}
}

func TestCopyLaysOutTheFilesWithTheirContent(t *testing.T) {
	root := testkit.WriteTree(t, pluginTree)
	dst := filepath.Join(t.TempDir(), "plugins-local", "src", "example.com", "plugin")
	if err := Copy(root, dst); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dst, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		got = append(got, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if string(data) != pluginTree[rel] {
			t.Errorf("%s holds %q, want %q", rel, data, pluginTree[rel])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("copy holds\n  %q\nwant\n  %q", got, wantFiles)
	}
}

func TestFilesSkipsSymlinks(t *testing.T) {
	root := testkit.WriteTree(t, map[string]string{"go.mod": "module example.com/p\n", "p.go": "package p\n"})
	outside := testkit.WriteTree(t, map[string]string{"secret.go": "package secret\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.go"), filepath.Join(root, "link.go")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	got, err := Files(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"go.mod", "p.go"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Files = %q, want %q", got, want)
	}
}

func TestFilesRefusesARootWithoutGoSource(t *testing.T) {
	for name, tree := range map[string]map[string]string{
		"only tests":            {"go.mod": "module example.com/p\n", "p_test.go": "package p\n"},
		"only a sub-package":    {"go.mod": "module example.com/p\n", "internal/x/x.go": "package x\n"},
		"only a nested module":  {"go.mod": "module example.com/p\n", "test/go.mod": "module t\n", "test/t.go": "package t\n"},
		"nothing but a go.mod":  {"go.mod": "module example.com/p\n"},
		"nothing but a readme":  {"README.md": "x\n"},
		"only a testdata file":  {"testdata/p.go": "package p\n"},
		"only an ignored dir":   {"_x/p.go": "package p\n"},
		"only vendored sources": {"vendor/example.com/d/d.go": "package d\n"},
	} {
		root := testkit.WriteTree(t, tree)
		_, err := Files(root)
		if err == nil || !strings.Contains(err.Error(), "no non-test .go file") {
			t.Errorf("%s: err = %v, want one saying the root has no .go file", name, err)
		}
		if err := Copy(root, t.TempDir()); err == nil {
			t.Errorf("%s: Copy succeeded, want the same error", name)
		}
	}
}

func TestFilesOfAMissingRootFails(t *testing.T) {
	if _, err := Files(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("Files of a missing directory succeeded")
	}
}

package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The plugin is installed from the catalog by a release tag. Every place
// that tells a user which tag to install (the README's Install section,
// the Kubernetes demo's Helm values and notes) names the newest release in
// CHANGELOG.md: an older tag lacks what the README documents.

// releaseHeading is a released version's heading in CHANGELOG.md:
// "## [0.2.0] - 2026-11-27".
var releaseHeading = regexp.MustCompile(`^## \[(\d+)\.(\d+)\.(\d+)\] - \d{4}-\d{2}-\d{2}$`)

// pinPatterns are the ways a file pins the plugin's version: a YAML
// "version:" key (static configuration, Helm values), Traefik's CLI flag
// or label, and prose naming the version in backquotes.
var pinPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^\s*version:\s*["']?(v[0-9][^\s"']*)`),
	regexp.MustCompile(`experimental\.plugins\.authlayer\.version[=:]\s*["']?(v[0-9][^\s"']*)`),
	regexp.MustCompile("[Vv]ersion `(v[0-9][^`]*)`"),
	regexp.MustCompile(`authlayer@(v[0-9][^\s"'` + "`" + `]*)`),
}

// semverToken is any vX.Y.Z in a text.
var semverToken = regexp.MustCompile(`\bv(\d+\.\d+\.\d+)\b`)

// release is one released version.
type release struct {
	text       string // "0.2.0"
	major, min int
	patch      int
}

func (r release) newerThan(o release) bool {
	if r.major != o.major {
		return r.major > o.major
	}
	if r.min != o.min {
		return r.min > o.min
	}
	return r.patch > o.patch
}

// changelogReleases reads the released versions of CHANGELOG.md, in the
// order written, and checks each has its link definition.
func changelogReleases(t *testing.T) []release {
	t.Helper()
	raw, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	var out []release
	for _, line := range strings.Split(text, "\n") {
		m := releaseHeading.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		r := release{text: m[1] + "." + m[2] + "." + m[3]}
		r.major, _ = strconv.Atoi(m[1])
		r.min, _ = strconv.Atoi(m[2])
		r.patch, _ = strconv.Atoi(m[3])
		out = append(out, r)
		if !strings.Contains(text, "\n["+r.text+"]: ") {
			t.Errorf("CHANGELOG.md: release %s has no link definition [%s]: …", r.text, r.text)
		}
	}
	if len(out) == 0 {
		t.Fatal("CHANGELOG.md lists no release (## [X.Y.Z] - YYYY-MM-DD)")
	}
	return out
}

// newestRelease is the highest version CHANGELOG.md lists, which must also
// be the first one (newest on top, as Keep a Changelog writes it).
func newestRelease(t *testing.T) release {
	t.Helper()
	rs := changelogReleases(t)
	newest := rs[0]
	for _, r := range rs[1:] {
		if r.newerThan(newest) {
			t.Errorf("CHANGELOG.md: %s is listed below %s but is newer: newest first", r.text, newest.text)
			newest = r
		}
	}
	return newest
}

// pinnedFiles are the files that tell users which plugin version to
// install, relative to the repository root; those marked required must
// pin one (so the test cannot pass by finding nothing).
var pinnedFiles = []struct {
	path     string
	required bool
}{
	{"README.md", true},
	{"demo/kubernetes/traefik-values.yaml", true},
	{"demo/kubernetes/README.md", false},
	{"demo/README.md", false},
	{"demo/docker-compose.yml", false},
}

func TestPinnedPluginVersionIsTheNewestRelease(t *testing.T) {
	newest := newestRelease(t)
	want := "v" + newest.text
	for _, f := range pinnedFiles {
		raw, err := os.ReadFile(filepath.Join("../..", f.path))
		if err != nil {
			t.Fatal(err)
		}
		pins := 0
		for _, p := range pinPatterns {
			for _, m := range p.FindAllStringSubmatch(string(raw), -1) {
				pins++
				if m[1] != want {
					t.Errorf("%s pins the plugin at %s (%q); the newest release in CHANGELOG.md is %s", f.path, m[1], strings.TrimSpace(m[0]), want)
				}
			}
		}
		if f.required && pins == 0 {
			t.Errorf("%s pins no plugin version (want %s)", f.path, want)
		}
		t.Logf("%s: %d pin(s) of the plugin version", f.path, pins)
	}
}

// TestDocsNameNoOlderRelease: the README and the demo mention no older release of
// the plugin anywhere (other tools' versions, Yaegi's or Traefik's, are
// not releases of this plugin and are left alone).
func TestDocsNameNoOlderRelease(t *testing.T) {
	rs := changelogReleases(t)
	newest := newestRelease(t)
	older := map[string]bool{}
	for _, r := range rs {
		if r.text != newest.text {
			older[r.text] = true
		}
	}
	for _, f := range pinnedFiles {
		raw, err := os.ReadFile(filepath.Join("../..", f.path))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			for _, m := range semverToken.FindAllStringSubmatch(line, -1) {
				if older[m[1]] {
					t.Errorf("%s:%d names v%s, an older release (the newest is v%s): %s", f.path, i+1, m[1], newest.text, strings.TrimSpace(line))
				}
			}
		}
	}
}

// TestPinPatternsFindPins checks the patterns on the spellings users
// copy: the test above would pass vacuously if they found nothing.
func TestPinPatternsFindPins(t *testing.T) {
	for _, in := range []string{
		"experimental:\n  plugins:\n    authlayer:\n      moduleName: github.com/authlayer/authlayer\n      version: v0.1.0\n",
		"      version: \"v0.1.0\"\n",
		"--experimental.plugins.authlayer.version=v0.1.0",
		"- traefik.experimental.plugins.authlayer.version=v0.1.0",
		"Helm values (version `v0.1.0`)",
		"go get github.com/authlayer/authlayer@v0.1.0",
	} {
		found := ""
		for _, p := range pinPatterns {
			if m := p.FindStringSubmatch(in); m != nil {
				found = m[1]
			}
		}
		if found != "v0.1.0" {
			t.Errorf("no pattern finds the pin in %q (found %q)", in, found)
		}
	}
}

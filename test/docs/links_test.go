package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// headingAnchors are the anchors GitHub gives a Markdown file's headings:
// lower case, punctuation but '-' and '_' dropped, spaces turned into
// '-', a repeated anchor numbered (-1, -2, …). Fenced code is skipped.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 0x7f:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// localLink is a Markdown link to a fragment or a file of the repository.
var localLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestReadmeLinksResolve: every link of the README to one of its own
// sections names an existing heading, and every link to a file of the
// repository names an existing file (so moving a section or a file breaks
// a test, not a reader's click).
func TestReadmeLinksResolve(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	anchors := headingAnchors(text)
	checked := 0
	for _, m := range localLink.FindAllStringSubmatch(text, -1) {
		target := m[1]
		switch {
		case strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "https://"), strings.HasPrefix(target, "mailto:"):
			continue
		case strings.HasPrefix(target, "#"):
			if !anchors[target[1:]] {
				t.Errorf("README links to %s, which no heading has", target)
			}
		default:
			path, _, _ := strings.Cut(target, "#")
			if _, err := os.Stat(filepath.Join("../..", filepath.FromSlash(path))); err != nil {
				t.Errorf("README links to %s: %v", target, err)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d local links found: the pattern is broken", checked)
	}
}

func TestHeadingAnchors(t *testing.T) {
	got := headingAnchors("# a\n## Composition with Traefik's middlewares\n### `backend`\n## Locales (i18n)\n```\n# not a heading\n```\n## Does it fit my backend?\n## Every path is public, or an option seems ignored\n### `backend`\n")
	for _, want := range []string{"composition-with-traefiks-middlewares", "backend", "backend-1", "locales-i18n", "does-it-fit-my-backend", "every-path-is-public-or-an-option-seems-ignored"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in fenced code became a heading")
	}
}

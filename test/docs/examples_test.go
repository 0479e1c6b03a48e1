package docs

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	authlayer "github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

// The README's configuration examples are meant to be pasted: each one
// that configures the middleware (a file-provider document, Docker
// labels, a Kubernetes Middleware, or a block of options such as the
// response shapes) is decoded as Traefik decodes it and must be accepted
// by New, which refuses unknown option names, so a misspelled option in
// an example fails here.

// fence is one fenced code block of a Markdown file.
type fence struct {
	lang string
	line int // of the opening fence, 1-based
	body string
}

func fences(text string) []fence {
	var out []fence
	var cur *fence
	var body strings.Builder
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &fence{lang: strings.TrimPrefix(trimmed, "```"), line: i + 1}
			body.Reset()
		case cur != nil && trimmed == "```":
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	return out
}

// optionGroups are the top-level option names (Config's json names).
func optionGroups() map[string]bool {
	groups := map[string]bool{}
	t := reflect.TypeOf(authlayer.Config{})
	for i := 0; i < t.NumField(); i++ {
		if name := optionName(t.Field(i)); name != "" && name != "-" {
			groups[name] = true
		}
	}
	return groups
}

// example is one middleware configuration found in the README.
type example struct {
	where   string
	options map[string]interface{}
}

var (
	secretRef   = regexp.MustCompile(`urn:k8s:secret:([A-Za-z0-9.-]+):([A-Za-z0-9._-]+)`)
	pluginLabel = regexp.MustCompile(`^traefik\.http\.middlewares\.([^.]+)\.plugin\.authlayer\.`)
)

// examplesIn finds the middleware configurations of one YAML block.
func examplesIn(t *testing.T, f fence, groups map[string]bool) []example {
	t.Helper()
	var out []example
	dec := yaml.NewDecoder(strings.NewReader(f.body))
	for n := 0; ; n++ {
		var doc map[string]interface{}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Errorf("README line %d: a YAML block that does not parse: %v", f.line, err)
			return out
		}
		if doc == nil {
			continue
		}
		raw, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		where := "README line " + strconv.Itoa(f.line)
		switch {
		case doc["kind"] == "Middleware":
			secrets := map[string]map[string]string{}
			for _, m := range secretRef.FindAllStringSubmatch(string(raw), -1) {
				if secrets[m[1]] == nil {
					secrets[m[1]] = map[string]string{}
				}
				secrets[m[1]][m[2]] = "a-secret-value-from-kubernetes-0123456789"
			}
			opts, err := loader.FromCRDWithSecrets(raw, "authlayer", secrets)
			if err != nil {
				t.Errorf("%s: the Middleware does not decode: %v", where, err)
				continue
			}
			out = append(out, example{where + " (Kubernetes Middleware)", opts})
		case fileMiddlewares(doc) != nil:
			for _, name := range fileMiddlewares(doc) {
				opts, err := loader.FromYAML(raw, name, "authlayer")
				if err != nil {
					t.Errorf("%s: middleware %s does not decode: %v", where, name, err)
					continue
				}
				out = append(out, example{where + " (file provider, middleware " + name + ")", opts})
			}
		case doc["services"] != nil:
			out = append(out, composeExamples(t, where, doc)...)
		case isOptionBlock(doc, groups):
			wrapped := map[string]interface{}{"http": map[string]interface{}{"middlewares": map[string]interface{}{
				"example": map[string]interface{}{"plugin": map[string]interface{}{"authlayer": doc}},
			}}}
			raw, err := yaml.Marshal(wrapped)
			if err != nil {
				t.Fatal(err)
			}
			opts, err := loader.FromYAML(raw, "example", "authlayer")
			if err != nil {
				t.Errorf("%s: the options do not decode: %v", where, err)
				continue
			}
			out = append(out, example{where + " (options)", opts})
		}
	}
	return out
}

// fileMiddlewares are the names of http.middlewares.<name>.plugin.authlayer.
func fileMiddlewares(doc map[string]interface{}) []string {
	httpConf, _ := doc["http"].(map[string]interface{})
	mws, _ := httpConf["middlewares"].(map[string]interface{})
	var names []string
	for name, v := range mws {
		mw, _ := v.(map[string]interface{})
		plugin, _ := mw["plugin"].(map[string]interface{})
		if _, ok := plugin["authlayer"]; ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// isOptionBlock: every top-level key is an option group.
func isOptionBlock(doc map[string]interface{}, groups map[string]bool) bool {
	for k := range doc {
		if !groups[k] {
			return false
		}
	}
	return len(doc) > 0
}

// composeExamples reads the plugin's labels of a Compose file's services,
// and checks what a service routed by labels needs when Traefik runs with
// exposedbydefault=false: traefik.enable=true and the service's port.
func composeExamples(t *testing.T, where string, doc map[string]interface{}) []example {
	t.Helper()
	services, _ := doc["services"].(map[string]interface{})
	var out []example
	for svcName, v := range services {
		svc, _ := v.(map[string]interface{})
		labels := map[string]string{}
		switch ls := svc["labels"].(type) {
		case []interface{}:
			for _, l := range ls {
				k, val, _ := strings.Cut(l.(string), "=")
				labels[k] = val
			}
		case map[string]interface{}:
			for k, val := range ls {
				labels[k] = val.(string)
			}
		}
		routed := false
		names := map[string]bool{}
		for k := range labels {
			routed = routed || strings.HasPrefix(k, "traefik.http.routers.")
			if m := pluginLabel.FindStringSubmatch(k); m != nil {
				names[m[1]] = true
			}
		}
		if routed {
			if labels["traefik.enable"] != "true" {
				t.Errorf("%s: service %s is routed by labels without traefik.enable=true", where, svcName)
			}
			port := false
			for k := range labels {
				port = port || (strings.HasPrefix(k, "traefik.http.services.") && strings.HasSuffix(k, ".loadbalancer.server.port"))
			}
			if !port {
				t.Errorf("%s: service %s is routed by labels without traefik.http.services.<name>.loadbalancer.server.port", where, svcName)
			}
		}
		for name := range names {
			opts, err := loader.FromLabels(labels, name, "authlayer")
			if err != nil {
				t.Errorf("%s: the labels of middleware %s do not decode: %v", where, name, err)
				continue
			}
			out = append(out, example{where + " (Docker labels, middleware " + name + ")", opts})
		}
	}
	return out
}

// completeForNew fills what an options block leaves to the rest of the
// configuration: backend.url, and files for file: error pages.
func completeForNew(t *testing.T, opts map[string]interface{}) {
	t.Helper()
	backend, _ := opts["backend"].(map[string]interface{})
	if backend == nil {
		backend = map[string]interface{}{}
		opts["backend"] = backend
	}
	if backend["url"] == nil {
		backend["url"] = "http://auth:9001"
	}
	if pages, ok := opts["errorPages"].(map[string]interface{}); ok {
		for k, v := range pages {
			if s, _ := v.(string); strings.HasPrefix(s, "file:") {
				p := filepath.Join(t.TempDir(), "page.html")
				if err := os.WriteFile(p, []byte("<!doctype html><title>page</title>"), 0o600); err != nil {
					t.Fatal(err)
				}
				pages[k] = "file:" + p
			}
		}
	}
}

func TestReadmeConfigurationExamplesLoad(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	groups := optionGroups()
	newMiddleware := loader.Compiled()
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	count, labels := 0, 0
	for _, f := range fences(string(raw)) {
		if f.lang != "yaml" {
			continue
		}
		for _, ex := range examplesIn(t, f, groups) {
			count++
			if strings.Contains(ex.where, "Docker labels") {
				labels++
			}
			completeForNew(t, ex.options)
			if _, err := newMiddleware(ex.options, next, "readme@file"); err != nil {
				t.Errorf("%s: New refuses the example: %v", ex.where, err)
			} else {
				t.Logf("%s: accepted", ex.where)
			}
		}
	}
	if count < 8 || labels == 0 {
		t.Fatalf("only %d configuration examples found (%d with Docker labels): the README's blocks or this test's reading changed", count, labels)
	}
	t.Logf("%d configuration examples accepted by New", count)
}

// TestReadmeStaticFlags: the README shows Traefik's static side of the
// plugin as flags too (Docker's command:), which the Docker example needs.
func TestReadmeStaticFlags(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--experimental.plugins.authlayer.modulename=github.com/authlayer/authlayer",
		"--experimental.plugins.authlayer.version=",
		"--providers.docker.exposedbydefault=false",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the README lacks %s", want)
		}
	}
}

// TestReadmeResponseShapesMapRoles: each response-shape example (the
// blocks of "### Response shapes") maps the roles, the token type and
// both tokens: without roles every role rule answers 403, without the
// type no one is signed in.
func TestReadmeResponseShapesMapRoles(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "\n### Response shapes\n")
	if start < 0 {
		t.Fatal("the README has no \"### Response shapes\" section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	shapes := 0
	for _, f := range fences(section) {
		if f.lang != "yaml" {
			continue
		}
		var doc struct {
			Responses map[string]interface{} `yaml:"responses"`
		}
		if err := yaml.Unmarshal([]byte(f.body), &doc); err != nil {
			t.Errorf("response shape %d: %v", shapes+1, err)
			continue
		}
		shapes++
		for _, key := range []string{"user", "roles", "tokenType", "accessToken", "refreshToken"} {
			if v, ok := doc.Responses[key].(string); !ok || v == "" {
				t.Errorf("response shape %d (%.40q…) does not map responses.%s", shapes, strings.TrimSpace(f.body), key)
			}
		}
	}
	if shapes < 3 {
		t.Errorf("%d response shapes, want Django, .NET and Express", shapes)
	}
}

package loader

import (
	"errors"
	"github.com/authlayer/authlayer/test/testkit"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

// A throwaway plugin whose module path has a '-' (so its package is
// my_plugin), with a sub-package, and with files Traefik would not
// interpret: a broken test file, a broken nested module, a broken
// underscore directory.
var fakePlugin = map[string]string{
	"go.mod": "module example.com/my-plugin\n\ngo 1.21\n",
	"plugin.go": `package my_plugin

import (
	"context"
	"errors"
	"net/http"

	"example.com/my-plugin/internal/hdr"
)

type Inner struct {
	Header string
	Values []string
}

type Rule struct {
	Path  string
	Roles []string
}

type Config struct {
	Inner Inner
	Rules []Rule
	Count int
	On    bool
	Mode  string
}

func CreateConfig() *Config {
	return &Config{Inner: Inner{Header: "X-Default", Values: []string{"d"}}, Count: 1}
}

func New(ctx context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	switch config.Mode {
	case "fail":
		return nil, errors.New("my-plugin: mode: refused")
	case "nil":
		return nil, nil
	case "panic":
		panic("boom")
	}
	return &handler{next: next, header: config.Inner.Header, value: hdr.Value(name, config.Count)}, nil
}

type handler struct {
	next   http.Handler
	header string
	value  string
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	rw.Header().Set(h.header, h.value)
	h.next.ServeHTTP(rw, req)
}
`,
	"internal/hdr/hdr.go": `package hdr

import "strconv"

func Value(name string, n int) string { return name + "/" + strconv.Itoa(n) }
`,
	"plugin_test.go":           "package my_plugin\n\nthis does not parse\n",
	"nested/go.mod":            "module example.com/nested\n",
	"nested/nested.go":         "package nested\n\nthis does not parse\n",
	"_scratch/scratch.go":      "package scratch\n\nthis does not parse\n",
	"testdata/fixture.go":      "package fixture\n\nthis does not parse\n",
	".hidden/hidden.go":        "package hidden\n\nthis does not parse\n",
	"README.md":                "not code\n",
	"internal/hdr/hdr_test.go": "package hdr\n\nthis does not parse\n",
}

func TestYaegiLoadsLikeTraefik(t *testing.T) {
	dir := testkit.WriteTree(t, fakePlugin)
	p, err := LoadYaegi(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Import != "example.com/my-plugin" || p.BasePkg != "my_plugin" {
		t.Errorf("import %q, basePkg %q", p.Import, p.BasePkg)
	}
	files := append([]string(nil), p.Files...)
	sort.Strings(files)
	if want := []string{"go.mod", "internal/hdr/hdr.go", "plugin.go"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files = %q, want %q", files, want)
	}

	// Loaded once per directory, whatever the spelling of the path.
	again, err := LoadYaegi(filepath.Join(dir, "internal", ".."))
	if err != nil || again != p {
		t.Errorf("second load: %p, %v; want the same Plugin %p", again, err, p)
	}

	f := p.Factory()
	next := http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusTeapot) })
	h, err := f(map[string]interface{}{
		"inner": map[string]interface{}{"header": "X-Test"},
		"count": "7",
	}, next, "mw@file")
	if err != nil {
		t.Fatal(err)
	}
	ph, ok := h.(*PluginHandler)
	if !ok {
		t.Fatalf("handler is %T, want *PluginHandler", h)
	}
	if n, typ := ph.GetTracingInformation(); n != "mw@file" || typ != "Plugin" {
		t.Errorf("tracing information = %q, %q", n, typ)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot || rec.Header().Get("X-Test") != "mw@file/7" {
		t.Errorf("served %d with X-Test=%q", rec.Code, rec.Header().Get("X-Test"))
	}
}

func TestYaegiResultsAreCheckedLikeTraefik(t *testing.T) {
	p, err := LoadYaegi(testkit.WriteTree(t, fakePlugin))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Factory()
	next := http.NotFoundHandler()
	for mode, want := range map[string]string{
		"fail":  "my-plugin: mode: refused",
		"nil":   "invalid handler type",
		"panic": "panicked: boom",
	} {
		_, err := f(map[string]interface{}{"mode": mode}, next, "mw")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mode %s: err = %v, want it to contain %q", mode, err, want)
		}
	}
	_, err = f(map[string]interface{}{"count": "many"}, next, "mw")
	if err == nil || !strings.Contains(err.Error(), "failed to decode configuration") {
		t.Errorf("bad count: err = %v", err)
	}
}

func TestYaegiConfigDecodesAndCopies(t *testing.T) {
	p, err := LoadYaegi(testkit.WriteTree(t, fakePlugin))
	if err != nil {
		t.Fatal(err)
	}
	type inner struct {
		Header string
		Values []string
	}
	type rule struct {
		Path  string
		Roles []string
	}
	type config struct {
		Inner inner
		Rules []rule
		Count int
		On    bool
		Mode  string
	}

	v, err := p.Config(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got config
	if err := CopyConfig(&got, v); err != nil {
		t.Fatal(err)
	}
	if want := (config{Inner: inner{Header: "X-Default", Values: []string{"d"}}, Count: 1}); !reflect.DeepEqual(got, want) {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}

	v, err = p.Config(map[string]interface{}{
		"inner": map[string]interface{}{"values": "a,b"},
		"rules": []interface{}{map[string]interface{}{"path": "/x", "roles": "r1,r2"}},
		"on":    "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	got = config{}
	if err := CopyConfig(&got, v); err != nil {
		t.Fatal(err)
	}
	want := config{
		Inner: inner{Header: "X-Default", Values: []string{"a", "b"}},
		Rules: []rule{{Path: "/x", Roles: []string{"r1", "r2"}}},
		Count: 1,
		On:    true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded = %+v, want %+v", got, want)
	}

	var wrong struct{ Missing string }
	if err := CopyConfig(&wrong, v); err == nil {
		t.Error("CopyConfig into a struct with an unknown field succeeded")
	}
	var kind struct{ Count string }
	if err := CopyConfig(&kind, v); err == nil {
		t.Error("CopyConfig of an int into a string succeeded")
	}
}

func TestYaegiBasePkgFromManifest(t *testing.T) {
	dir := testkit.WriteTree(t, map[string]string{
		"go.mod":       "module example.com/thing\n",
		".traefik.yml": "displayName: x\ntype: middleware\nimport: example.com/thing\nbasePkg: other\nsummary: s\ntestData: {}\n",
		"p.go": `package other

import (
	"context"
	"net/http"
)

type Config struct{}

func CreateConfig() *Config { return &Config{} }

func New(_ context.Context, next http.Handler, _ *Config, _ string) (http.Handler, error) { return next, nil }
`,
	})
	p, err := LoadYaegi(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.BasePkg != "other" {
		t.Errorf("basePkg = %q", p.BasePkg)
	}
	if _, err := p.Factory()(nil, http.NotFoundHandler(), "x"); err != nil {
		t.Error(err)
	}
}

func TestYaegiFailedLoadIsCached(t *testing.T) {
	dir := testkit.WriteTree(t, map[string]string{
		"go.mod": "module example.com/broken\n",
		"p.go":   "package broken\n\nfunc New() {}\n",
	})
	_, err1 := LoadYaegi(dir)
	_, err2 := LoadYaegi(dir)
	if err1 == nil || !errors.Is(err2, err1) && err1.Error() != err2.Error() {
		t.Errorf("errors: %v / %v", err1, err2)
	}
	if !strings.Contains(err1.Error(), "CreateConfig") {
		t.Errorf("error %q does not name the missing CreateConfig", err1)
	}
}

func TestYaegiFactoryIsSafeForConcurrentUse(t *testing.T) {
	p, err := LoadYaegi(testkit.WriteTree(t, fakePlugin))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Factory()
	next := http.NotFoundHandler()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				h, err := f(map[string]interface{}{"count": "3"}, next, "mw")
				if err != nil {
					errs <- err
					return
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				if got := rec.Header().Get("X-Default"); got != "mw/3" {
					errs <- errors.New("X-Default = " + got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

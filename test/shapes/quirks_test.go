package shapes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/test/loader"
)

// These tests pin down surprising things Traefik's decoding does to a
// plugin's configuration, so that documentation and defaults can rely on
// them (and a change in the loader that loses one is noticed).

func decodeCompiled(t *testing.T, opts map[string]interface{}) *authlayer.Config {
	t.Helper()
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(opts, cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return cfg
}

// Label list indexes are sorted as strings, so index 10 comes right after
// index 0: [0],[10],[1],[2]... A list of more than ten entries written
// with indexes is silently reordered.
func TestLabelListIndexesSortAsStrings(t *testing.T) {
	labels := map[string]string{labelPrefix + "backend.url": "http://127.0.0.1:9001"}
	for i := 0; i <= 10; i++ {
		labels[fmt.Sprintf("%sroutes.protected[%d]", labelPrefix, i)] = fmt.Sprintf("/p%d", i)
		labels[fmt.Sprintf("%sroutes.roles[%d].path", labelPrefix, i)] = fmt.Sprintf("/r%d", i)
	}
	opts, err := loader.FromLabels(labels, middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := decodeCompiled(t, opts)
	wantOrder := []string{"/p0", "/p10", "/p1", "/p2", "/p3", "/p4", "/p5", "/p6", "/p7", "/p8", "/p9"}
	if !reflect.DeepEqual(cfg.Routes.Protected, wantOrder) {
		t.Errorf("routes.protected = %q, want %q", cfg.Routes.Protected, wantOrder)
	}
	var paths []string
	for _, r := range cfg.Routes.Roles {
		paths = append(paths, r.Path)
	}
	if wantPaths := strings.ReplaceAll(strings.Join(wantOrder, ","), "/p", "/r"); strings.Join(paths, ",") != wantPaths {
		t.Errorf("routes.roles paths = %q, want %q", paths, wantPaths)
	}
}

// Label list indexes are not positions: gaps collapse.
func TestLabelSparseIndexesCollapse(t *testing.T) {
	opts, err := loader.FromLabels(map[string]string{
		labelPrefix + "routes.protected[0]": "/a",
		labelPrefix + "routes.protected[7]": "/b",
	}, middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeCompiled(t, opts).Routes.Protected; !reflect.DeepEqual(got, []string{"/a", "/b"}) {
		t.Errorf("routes.protected = %q", got)
	}
}

// Both list forms work in labels: "a,b" split by the decode hook, and
// key[i] entries.
func TestLabelListForms(t *testing.T) {
	for _, labels := range []map[string]string{
		{labelPrefix + "routes.protected": "/a,/b"},
		{labelPrefix + "routes.protected[0]": "/a", labelPrefix + "routes.protected[1]": "/b"},
	} {
		opts, err := loader.FromLabels(labels, middlewareName, pluginName)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeCompiled(t, opts).Routes.Protected; !reflect.DeepEqual(got, []string{"/a", "/b"}) {
			t.Errorf("%v: routes.protected = %q", labels, got)
		}
	}
}

// The comma split keeps spaces: "409, 410" gives " 410".
func TestListSplitKeepsSpaces(t *testing.T) {
	opts, err := loader.FromLabels(map[string]string{
		labelPrefix + "refresh.reuseStatusCodes": "409, 410",
	}, middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeCompiled(t, opts).Refresh.ReuseStatusCodes; !reflect.DeepEqual(got, []string{"409", " 410"}) {
		t.Errorf("reuseStatusCodes = %q", got)
	}
}

// A label that sets the plugin itself (no option below it) yields an
// empty option map: the defaults are used.
func TestLabelPluginWithoutOptions(t *testing.T) {
	opts, err := loader.FromLabels(map[string]string{
		"traefik.http.middlewares.auth.plugin.authlayer": "true",
	}, middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts) != 0 {
		t.Errorf("options = %#v, want none", opts)
	}
}

// In a file, an empty mapping ("guest: {}") becomes the empty string, and
// decoding a string into a struct fails: the whole middleware is refused.
func TestFileEmptyMappingFailsTheMiddleware(t *testing.T) {
	doc := `
http:
  middlewares:
    auth:
      plugin:
        authlayer:
          backend:
            url: http://127.0.0.1:9001
          guest: {}
`
	opts, err := loader.FromYAML([]byte(doc), middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if got := opts["guest"]; got != "" {
		t.Fatalf("guest = %#v, want \"\"", got)
	}
	for _, f := range factories(t) {
		_, err := f.new(opts, okHandler, "auth@file")
		if err == nil || !strings.Contains(err.Error(), "expected a map") {
			t.Errorf("%s: err = %v, want a decode error", f.name, err)
		}
	}
}

// In a file, float scalars are formatted with six decimals ("1.500000"),
// integers and booleans become their text, and an empty list becomes "".
func TestFileScalarFormatting(t *testing.T) {
	doc := `
[http.middlewares.auth.plugin.authlayer.cache]
  ttl = 1.5
  maxEntries = 2.0
[http.middlewares.auth.plugin.authlayer.routes]
  protected = []
  protectedByDefault = true
`
	opts, err := loader.FromTOML([]byte(doc), middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]interface{}{
		"cache":  map[string]interface{}{"ttl": "1.500000", "maxEntries": "2"},
		"routes": map[string]interface{}{"protected": "", "protectedByDefault": "true"},
	}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("options = %#v, want %#v", opts, want)
	}
}

// A list of scalars in a file is typed by its "largest" element kind: mixed
// numbers and strings become strings, but booleans mixed with numbers fail.
func TestFileMixedLists(t *testing.T) {
	doc := "http:\n  middlewares:\n    auth:\n      plugin:\n        authlayer:\n          refresh:\n            reuseCodes: [1, token_reuse]\n"
	opts, err := loader.FromYAML([]byte(doc), middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, opts, "refresh.reuseCodes"); !reflect.DeepEqual(got, []interface{}{"1", "token_reuse"}) {
		t.Errorf("reuseCodes = %#v", got)
	}
	doc = "http:\n  middlewares:\n    auth:\n      plugin:\n        authlayer:\n          refresh:\n            reuseCodes: [true, 1]\n"
	if _, err := loader.FromYAML([]byte(doc), middlewareName, pluginName); err == nil {
		t.Error("a list mixing booleans and numbers was accepted")
	}
}

// File provider documents are Go templates (with sprig functions) first.
func TestFileTemplatesAreRendered(t *testing.T) {
	doc := "http:\n  middlewares:\n    auth:\n      plugin:\n        authlayer:\n          guest:\n            username: '{{ \"guest\" | upper }}'\n"
	opts, err := loader.FromYAML([]byte(doc), middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, opts, "guest.username"); got != "GUEST" {
		t.Errorf("guest.username = %#v, want GUEST", got)
	}
}

// Weak typing turns a CRD boolean into "1"/"0" for a string option and a
// float into a truncated int.
func TestCRDWeakTyping(t *testing.T) {
	spec := `{"plugin":{"authlayer":{"cookies":{"sameSite":true},"cache":{"maxEntries":500.9}}}}`
	opts, err := loader.FromCRD([]byte(spec), pluginName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := decodeCompiled(t, opts)
	if cfg.Cookies.SameSite != "1" || cfg.Cache.MaxEntries != 500 {
		t.Errorf("sameSite = %q, maxEntries = %d", cfg.Cookies.SameSite, cfg.Cache.MaxEntries)
	}
}

// The Kubernetes YAML-to-JSON conversion follows YAML 1.1: yes/on are true.
func TestCRDYAMLBooleans(t *testing.T) {
	spec := "plugin:\n  authlayer:\n    guest:\n      enabled: yes\n    cookies:\n      secure: off\n"
	opts, err := loader.FromCRD([]byte(spec), pluginName)
	if err != nil {
		t.Fatal(err)
	}
	if lookup(t, opts, "guest.enabled") != true || lookup(t, opts, "cookies.secure") != false {
		t.Errorf("options = %#v", opts)
	}
}

func TestCRDSecrets(t *testing.T) {
	spec := `{"plugin":{"authlayer":{"guest":{"password":"%s"},"routes":{"roles":[{"path":"urn:k8s:secret:s:path"}]}}}}`
	sec := map[string]map[string]string{"s": {"pw": "hunter2", "path": "/admin"}}

	opts, err := loader.FromCRDWithSecrets([]byte(fmt.Sprintf(spec, "urn:k8s:secret:s:pw")), pluginName, sec)
	if err != nil {
		t.Fatal(err)
	}
	if lookup(t, opts, "guest.password") != "hunter2" {
		t.Errorf("guest.password not substituted: %#v", opts)
	}
	roles := lookup(t, opts, "routes.roles").([]interface{})
	if roles[0].(map[string]interface{})["path"] != "/admin" {
		t.Errorf("secret inside a list not substituted: %#v", roles)
	}

	for _, bad := range []string{"urn:k8s:secret:s:nokey", "urn:k8s:secret:nosecret:pw", "urn:k8s:secret:s", "urn:k8s:secret:s:pw:extra"} {
		_, err := loader.FromCRDWithSecrets([]byte(fmt.Sprintf(spec, bad)), pluginName, sec)
		if !errors.Is(err, loader.ErrSecret) {
			t.Errorf("%s: err = %v, want a secret error", bad, err)
		}
	}
	// Only strings starting with the prefix are references.
	opts, err = loader.FromCRDWithSecrets([]byte(fmt.Sprintf(spec, "x urn:k8s:secret:s:pw")), pluginName, sec)
	if err != nil || lookup(t, opts, "guest.password") != "x urn:k8s:secret:s:pw" {
		t.Errorf("opts = %#v, err = %v", opts, err)
	}
}

// A middleware holds exactly one plugin, and no other middleware type.
func TestOnePluginPerMiddleware(t *testing.T) {
	if _, err := loader.FromLabels(map[string]string{
		labelPrefix + "backend.url":                    "http://127.0.0.1:9001",
		"traefik.http.middlewares.auth.plugin.other.x": "y",
	}, middlewareName, pluginName); err == nil {
		t.Error("two plugins in one middleware were accepted")
	}
	if _, err := loader.FromLabels(map[string]string{
		labelPrefix + "backend.url":                                    "http://127.0.0.1:9001",
		"traefik.http.middlewares.auth.headers.customRequestHeaders.X": "y",
	}, middlewareName, pluginName); err == nil {
		t.Error("a plugin and headers in one middleware were accepted")
	}
	if _, err := loader.FromCRD([]byte(`{"plugin":{"other":{}}}`), pluginName); err == nil {
		t.Error("another plugin's configuration was returned")
	}
}

// jwt.publicKeys in labels: a JWK holds commas, so it must be written
// with an index (publicKeys[0]=…); written plainly, the comma split
// breaks it and New refuses the option by name. A PEM goes on one line
// with \n for its newlines.
func TestLabelJWTPublicKeys(t *testing.T) {
	jwk := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}`
	pemOneLine := `-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n`
	base := map[string]string{
		labelPrefix + "backend.url": "http://127.0.0.1:9001",
		labelPrefix + "jwt.enabled": "true",
	}
	build := func(extra map[string]string) error {
		labels := map[string]string{}
		for k, v := range base {
			labels[k] = v
		}
		for k, v := range extra {
			labels[k] = v
		}
		opts, err := loader.FromLabels(labels, middlewareName, pluginName)
		if err != nil {
			t.Fatal(err)
		}
		cfg := decodeCompiled(t, opts)
		_, err = authlayer.New(context.Background(), http.NotFoundHandler(), cfg, "labels")
		return err
	}
	if err := build(map[string]string{labelPrefix + "jwt.publicKeys[0]": jwk, labelPrefix + "jwt.publicKeys[1]": pemOneLine}); err != nil {
		t.Errorf("indexed JWK and one-line PEM: %v", err)
	}
	if err := build(map[string]string{labelPrefix + "jwt.publicKeys": pemOneLine}); err != nil {
		t.Errorf("one-line PEM without an index: %v", err)
	}
	err := build(map[string]string{labelPrefix + "jwt.publicKeys": jwk})
	if err == nil || !strings.Contains(err.Error(), "jwt.publicKeys") {
		t.Errorf("JWK without an index (split on its commas): got %v, want an error naming jwt.publicKeys", err)
	}
}

// Package shapes checks that one authlayer configuration written in each
// shape Traefik v3 reads (Docker labels, file provider YAML and TOML,
// Kubernetes CRD JSON and YAML) reaches the plugin as the same Config, both
// through the compiled package and through the package interpreted by
// Yaegi as Traefik runs it, and that New names the option it refuses.
package shapes

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/test/loader"
)

// root is the plugin's source directory (the repository root).
const root = "../.."

const (
	middlewareName = "auth"
	pluginName     = "authlayer"
)

const labelPrefix = "traefik.http.middlewares." + middlewareName + ".plugin." + pluginName + "."

// sampleLabels is the sample configuration as Docker labels.
func sampleLabels() map[string]string {
	opts := map[string]string{
		"backend.url":                  "http://127.0.0.1:9001",
		"backend.timeout":              "5s",
		"backend.maxConcurrent":        "32",
		"cookies.secure":               "false",
		"cookies.sameSite":             "Strict",
		"cookies.domain":               "example.test",
		"cache.ttl":                    "10s",
		"cache.maxEntries":             "500",
		"guest.enabled":                "true",
		"guest.username":               "guest",
		"guest.password":               "s3cret",
		"refresh.reuseStatusCodes":     "409,410",
		"routes.protected":             "/a,/b",
		"routes.public":                "/pub",
		"routes.roles[0].path":         "/admin",
		"routes.roles[0].roles":        "admin,editor",
		"routes.roles[1].path":         "/ops",
		"routes.roles[1].roles":        "ops",
		"headers.user":                 "X-User",
		"headers.forwardAuthorization": "false",
	}
	labels := map[string]string{
		// Labels of other objects are present on real containers.
		"traefik.enable":                                     "true",
		"traefik.http.routers.app.rule":                      "Host(`app.test`)",
		"traefik.http.routers.app.middlewares":               middlewareName,
		"traefik.http.services.app.loadbalancer.server.port": "3000",
	}
	for k, v := range opts {
		labels[labelPrefix+k] = v
	}
	return labels
}

// sampleYAML is the sample configuration as a file provider document.
const sampleYAML = `
http:
  routers:
    app:
      rule: Host(` + "`app.test`" + `)
      middlewares: [auth]
      service: app
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:3000
  middlewares:
    auth:
      plugin:
        authlayer:
          backend:
            url: http://127.0.0.1:9001
            timeout: 5s
            maxConcurrent: 32
          cookies:
            secure: false
            sameSite: Strict
            domain: example.test
          cache:
            ttl: 10s
            maxEntries: 500
          guest:
            enabled: true
            username: guest
            password: s3cret
          refresh:
            reuseStatusCodes: [409, 410]
          routes:
            protected:
              - /a
              - /b
            public: [/pub]
            roles:
              - path: /admin
                roles: [admin, editor]
              - path: /ops
                roles: [ops]
          headers:
            user: X-User
            forwardAuthorization: false
`

// sampleTOML is the sample configuration as a TOML file provider document.
const sampleTOML = `
[http.routers.app]
  rule = "Host(` + "`app.test`" + `)"
  middlewares = ["auth"]
  service = "app"

[[http.services.app.loadBalancer.servers]]
  url = "http://127.0.0.1:3000"

[http.middlewares.auth.plugin.authlayer.backend]
  url = "http://127.0.0.1:9001"
  timeout = "5s"
  maxConcurrent = 32

[http.middlewares.auth.plugin.authlayer.cookies]
  secure = false
  sameSite = "Strict"
  domain = "example.test"

[http.middlewares.auth.plugin.authlayer.cache]
  ttl = "10s"
  maxEntries = 500

[http.middlewares.auth.plugin.authlayer.guest]
  enabled = true
  username = "guest"
  password = "s3cret"

[http.middlewares.auth.plugin.authlayer.refresh]
  reuseStatusCodes = [409, 410]

[http.middlewares.auth.plugin.authlayer.routes]
  protected = ["/a", "/b"]
  public = ["/pub"]

  [[http.middlewares.auth.plugin.authlayer.routes.roles]]
    path = "/admin"
    roles = ["admin", "editor"]

  [[http.middlewares.auth.plugin.authlayer.routes.roles]]
    path = "/ops"
    roles = ["ops"]

[http.middlewares.auth.plugin.authlayer.headers]
  user = "X-User"
  forwardAuthorization = false
`

// sampleCRD is the sample configuration as a Middleware spec in JSON, the
// guest password coming from a Secret.
const sampleCRD = `{
  "plugin": {
    "authlayer": {
      "backend": {"url": "http://127.0.0.1:9001", "timeout": "5s", "maxConcurrent": 32},
      "cookies": {"secure": false, "sameSite": "Strict", "domain": "example.test"},
      "cache": {"ttl": "10s", "maxEntries": 500},
      "guest": {"enabled": true, "username": "guest", "password": "urn:k8s:secret:authlayer-guest:password"},
      "refresh": {"reuseStatusCodes": [409, 410]},
      "routes": {
        "protected": ["/a", "/b"],
        "public": ["/pub"],
        "roles": [{"path": "/admin", "roles": ["admin", "editor"]}, {"path": "/ops", "roles": ["ops"]}]
      },
      "headers": {"user": "X-User", "forwardAuthorization": false}
    }
  }
}`

// sampleCRDManifest is the same Middleware as a YAML manifest (converted to
// JSON as kubectl does).
const sampleCRDManifest = `
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: auth
  namespace: default
spec:
  plugin:
    authlayer:
      backend:
        url: http://127.0.0.1:9001
        timeout: 5s
        maxConcurrent: 32
      cookies:
        secure: false
        sameSite: Strict
        domain: example.test
      cache:
        ttl: 10s
        maxEntries: 500
      guest:
        enabled: true
        username: guest
        password: urn:k8s:secret:authlayer-guest:password
      refresh:
        reuseStatusCodes: [409, 410]
      routes:
        protected: [/a, /b]
        public: [/pub]
        roles:
          - path: /admin
            roles: [admin, editor]
          - path: /ops
            roles: [ops]
      headers:
        user: X-User
        forwardAuthorization: false
`

var secrets = map[string]map[string]string{
	"authlayer-guest": {"password": "s3cret"},
}

// expected is the Config every shape must decode to.
func expected() *authlayer.Config {
	c := authlayer.CreateConfig()
	c.Backend.URL = "http://127.0.0.1:9001"
	c.Backend.Timeout = "5s"
	c.Backend.MaxConcurrent = 32
	c.Cookies.Secure = false
	c.Cookies.SameSite = "Strict"
	c.Cookies.Domain = "example.test"
	c.Cache.TTL = "10s"
	c.Cache.MaxEntries = 500
	c.Guest.Enabled = true
	c.Guest.Username = "guest"
	c.Guest.Password = "s3cret"
	c.Refresh.ReuseStatusCodes = []string{"409", "410"}
	c.Routes.Protected = []string{"/a", "/b"}
	c.Routes.Public = []string{"/pub"}
	c.Routes.Roles = []authlayer.RoleRule{
		{Path: "/admin", Roles: []string{"admin", "editor"}},
		{Path: "/ops", Roles: []string{"ops"}},
	}
	c.Headers.User = "X-User"
	c.Headers.ForwardAuthorization = false
	return c
}

type shape struct {
	name    string
	options map[string]interface{}
}

// shapes returns the sample configuration's raw option map in each shape.
func shapes(t *testing.T) []shape {
	t.Helper()
	var out []shape
	add := func(name string, opts map[string]interface{}, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, shape{name, opts})
	}
	opts, err := loader.FromLabels(sampleLabels(), middlewareName, pluginName)
	add("labels", opts, err)
	opts, err = loader.FromYAML([]byte(sampleYAML), middlewareName, pluginName)
	add("yaml", opts, err)
	opts, err = loader.FromTOML([]byte(sampleTOML), middlewareName, pluginName)
	add("toml", opts, err)
	opts, err = loader.FromCRDWithSecrets([]byte(sampleCRD), pluginName, secrets)
	add("crd-json", opts, err)
	opts, err = loader.FromCRDWithSecrets([]byte(sampleCRDManifest), pluginName, secrets)
	add("crd-yaml", opts, err)
	return out
}

func yaegiPlugin(t *testing.T) *loader.Plugin {
	t.Helper()
	p, err := loader.LoadYaegi(root)
	if err != nil {
		t.Fatalf("Yaegi load: %v", err)
	}
	return p
}

// lookup follows a dotted path of map keys in a raw option map.
func lookup(t *testing.T, opts map[string]interface{}, dotted string) interface{} {
	t.Helper()
	var cur interface{} = opts
	for _, k := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			t.Fatalf("%s: %T is not a map at %q", dotted, cur, k)
		}
		if cur, ok = m[k]; !ok {
			t.Fatalf("%s: no key %q (have %v)", dotted, k, keys(m))
		}
	}
	return cur
}

func keys(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRawOptionTypes pins down what each provider hands the plugin, before
// any decoding: labels give strings only; files give strings for scalars
// but typed []interface{} for lists of scalars; the CRD gives JSON types.
func TestRawOptionTypes(t *testing.T) {
	byName := map[string]map[string]interface{}{}
	for _, s := range shapes(t) {
		byName[s.name] = s.options
	}

	labels := byName["labels"]
	var walk func(string, interface{})
	walk = func(at string, v interface{}) {
		switch x := v.(type) {
		case map[string]interface{}:
			for k, e := range x {
				walk(at+"."+k, e)
			}
		case []interface{}:
			for _, e := range x {
				walk(at+"[]", e)
			}
		case string:
		default:
			t.Errorf("labels: %s is %T, want string", at, v)
		}
	}
	walk("", labels)
	if got := lookup(t, labels, "cache.maxEntries"); got != "500" {
		t.Errorf("labels cache.maxEntries = %#v, want \"500\"", got)
	}
	if got := lookup(t, labels, "routes.protected"); got != "/a,/b" {
		t.Errorf("labels routes.protected = %#v, want the unsplit string", got)
	}
	wantRoles := []interface{}{
		map[string]interface{}{"path": "/admin", "roles": "admin,editor"},
		map[string]interface{}{"path": "/ops", "roles": "ops"},
	}
	if got := lookup(t, labels, "routes.roles"); !reflect.DeepEqual(got, wantRoles) {
		t.Errorf("labels routes.roles = %#v, want %#v", got, wantRoles)
	}

	for _, name := range []string{"yaml", "toml"} {
		opts := byName[name]
		for path, want := range map[string]interface{}{
			"cache.maxEntries":         "500",
			"backend.maxConcurrent":    "32",
			"cookies.secure":           "false",
			"guest.enabled":            "true",
			"refresh.reuseStatusCodes": []interface{}{int64(409), int64(410)},
			"routes.protected":         []interface{}{"/a", "/b"},
		} {
			if got := lookup(t, opts, path); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s = %#v (%T), want %#v (%T)", name, path, got, got, want, want)
			}
		}
		roles := lookup(t, opts, "routes.roles")
		want := []interface{}{
			map[string]interface{}{"path": "/admin", "roles": []interface{}{"admin", "editor"}},
			map[string]interface{}{"path": "/ops", "roles": []interface{}{"ops"}},
		}
		if !reflect.DeepEqual(roles, want) {
			t.Errorf("%s routes.roles = %#v, want %#v", name, roles, want)
		}
	}

	for _, name := range []string{"crd-json", "crd-yaml"} {
		opts := byName[name]
		for path, want := range map[string]interface{}{
			"cache.maxEntries":         float64(500),
			"cookies.secure":           false,
			"guest.enabled":            true,
			"guest.password":           "s3cret",
			"refresh.reuseStatusCodes": []interface{}{float64(409), float64(410)},
		} {
			if got := lookup(t, opts, path); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s = %#v (%T), want %#v (%T)", name, path, got, got, want, want)
			}
		}
	}
}

// TestCompiledDecodeIsTheSameForEveryShape decodes each shape into the
// compiled Config with Traefik's mapstructure settings.
func TestCompiledDecodeIsTheSameForEveryShape(t *testing.T) {
	want := expected()
	for _, s := range shapes(t) {
		cfg := authlayer.CreateConfig()
		if err := loader.Decode(s.options, cfg); err != nil {
			t.Errorf("%s: decode: %v", s.name, err)
			continue
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("%s: decoded config differs\n got: %+v\nwant: %+v", s.name, *cfg, *want)
		}
	}
}

// TestYaegiDecodeIsTheSameForEveryShape decodes each shape into the Config
// of the interpreted plugin, exactly as Traefik does, and compares it with
// the expected compiled Config field by field and as JSON.
func TestYaegiDecodeIsTheSameForEveryShape(t *testing.T) {
	p := yaegiPlugin(t)
	want := expected()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shapes(t) {
		v, err := p.Config(s.options)
		if err != nil {
			t.Errorf("%s: Yaegi decode: %v", s.name, err)
			continue
		}
		var got authlayer.Config
		if err := loader.CopyConfig(&got, v); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("%s: interpreted config differs\n got: %+v\nwant: %+v", s.name, got, *want)
		}
		gotJSON, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: marshal interpreted config: %v", s.name, err)
		}
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s: interpreted config as JSON differs\n got: %s\nwant: %s", s.name, gotJSON, wantJSON)
		}
	}
}

// TestYaegiDefaultsMatchCompiled checks that an empty option map (decoding
// skipped, as in Traefik) gives CreateConfig's defaults in both worlds.
func TestYaegiDefaultsMatchCompiled(t *testing.T) {
	v, err := yaegiPlugin(t).Config(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got authlayer.Config
	if err := loader.CopyConfig(&got, v); err != nil {
		t.Fatal(err)
	}
	if want := authlayer.CreateConfig(); !reflect.DeepEqual(&got, want) {
		t.Errorf("interpreted defaults differ\n got: %+v\nwant: %+v", got, *want)
	}
}

type factory struct {
	name string
	new  loader.Factory
}

func factories(t *testing.T) []factory {
	t.Helper()
	return []factory{
		{"compiled", loader.Compiled()},
		{"yaegi", yaegiPlugin(t).Factory()},
	}
}

var okHandler = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
	rw.WriteHeader(http.StatusNoContent)
})

// TestNewAcceptsEveryShape builds the middleware from every shape, as
// Traefik would, compiled and interpreted.
func TestNewAcceptsEveryShape(t *testing.T) {
	for _, f := range factories(t) {
		for _, s := range shapes(t) {
			h, err := f.new(s.options, okHandler, middlewareName+"@"+s.name)
			if err != nil {
				t.Errorf("%s/%s: New: %v", f.name, s.name, err)
				continue
			}
			if h == nil {
				t.Errorf("%s/%s: New returned a nil handler", f.name, s.name)
			}
			if f.name == "yaegi" {
				ph, ok := h.(*loader.PluginHandler)
				if !ok {
					t.Fatalf("yaegi handler is %T, want Traefik's wrapper", h)
				}
				if n, typ := ph.GetTracingInformation(); n != middlewareName+"@"+s.name || typ != "Plugin" {
					t.Errorf("tracing information = %q, %q", n, typ)
				}
			}
		}
	}
}

// badLabels returns the sample labels changed by edit.
func badLabels(edit func(map[string]string)) map[string]string {
	l := sampleLabels()
	edit(l)
	return l
}

// badCRD returns the sample CRD options changed by edit (after secrets).
func badCRD(t *testing.T, edit func(map[string]interface{})) map[string]interface{} {
	t.Helper()
	opts, err := loader.FromCRDWithSecrets([]byte(sampleCRD), pluginName, secrets)
	if err != nil {
		t.Fatal(err)
	}
	edit(opts)
	return opts
}

// TestNewErrorNamesTheOption checks that a bad value fails New with an
// error naming the option as the user writes it, whatever the shape.
func TestNewErrorNamesTheOption(t *testing.T) {
	type errCase struct {
		option  string
		options map[string]interface{}
	}
	fromLabels := func(edit func(map[string]string)) map[string]interface{} {
		opts, err := loader.FromLabels(badLabels(edit), middlewareName, pluginName)
		if err != nil {
			t.Fatal(err)
		}
		return opts
	}
	cases := map[string]errCase{
		"labels: backend.url missing": {"backend.url", fromLabels(func(l map[string]string) {
			delete(l, labelPrefix+"backend.url")
		})},
		"labels: cache.ttl=abc": {"cache.ttl", fromLabels(func(l map[string]string) {
			l[labelPrefix+"cache.ttl"] = "abc"
		})},
		"labels: cookies.sameSite=Bogus": {"cookies.sameSite", fromLabels(func(l map[string]string) {
			l[labelPrefix+"cookies.sameSite"] = "Bogus"
		})},
		"crd: backend.url missing": {"backend.url", badCRD(t, func(o map[string]interface{}) {
			delete(o["backend"].(map[string]interface{}), "url")
		})},
		"crd: cache.ttl=abc": {"cache.ttl", badCRD(t, func(o map[string]interface{}) {
			o["cache"].(map[string]interface{})["ttl"] = "abc"
		})},
		"crd: cookies.sameSite=Bogus": {"cookies.sameSite", badCRD(t, func(o map[string]interface{}) {
			o["cookies"].(map[string]interface{})["sameSite"] = "Bogus"
		})},
		// A number where a duration string is expected: weak typing makes
		// it "2", which has no unit.
		"crd: cache.ttl=2 (a JSON number)": {"cache.ttl", badCRD(t, func(o map[string]interface{}) {
			o["cache"].(map[string]interface{})["ttl"] = float64(2)
		})},
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, f := range factories(t) {
		for _, n := range names {
			c := cases[n]
			h, err := f.new(c.options, okHandler, "auth@test")
			if err == nil {
				t.Errorf("%s/%s: New accepted it (handler %T)", f.name, n, h)
				continue
			}
			if !strings.Contains(err.Error(), c.option) {
				t.Errorf("%s/%s: error %q does not name %q", f.name, n, err, c.option)
			}
		}
	}
}

// TestDecodeErrorNamesTheGoField shows what the user sees when the value
// cannot even be decoded: mapstructure fails before New and names the Go
// field path (Cache.MaxEntries), not the option as written.
func TestDecodeErrorNamesTheGoField(t *testing.T) {
	opts, err := loader.FromLabels(badLabels(func(l map[string]string) {
		l[labelPrefix+"cache.maxEntries"] = "abc"
	}), middlewareName, pluginName)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range factories(t) {
		_, err := f.new(opts, okHandler, "auth@test")
		if err == nil {
			t.Errorf("%s: decoding \"abc\" into an int succeeded", f.name)
			continue
		}
		if !strings.Contains(err.Error(), "Cache.MaxEntries") {
			t.Errorf("%s: error %q does not name Cache.MaxEntries", f.name, err)
		}
	}
}

// typoShapes returns the sample configuration in every shape with two
// misspelled keys added: an option (routes.protectd) and a group
// (cookie.secure).
func typoShapes(t *testing.T) []shape {
	t.Helper()
	insert := func(doc, after, text string) string {
		t.Helper()
		if strings.Count(doc, after) != 1 {
			t.Fatalf("sample document: %q occurs %d times, want once", after, strings.Count(doc, after))
		}
		return strings.Replace(doc, after, after+text, 1)
	}
	var out []shape
	add := func(name string, opts map[string]interface{}, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, shape{name, opts})
	}
	labels := sampleLabels()
	labels[labelPrefix+"routes.protectd"] = "/x"
	labels[labelPrefix+"cookie.secure"] = "false"
	opts, err := loader.FromLabels(labels, middlewareName, pluginName)
	add("labels", opts, err)

	yamlDoc := insert(sampleYAML, "          routes:\n", "            protectd: [/x]\n")
	yamlDoc = insert(yamlDoc, "        authlayer:\n", "          cookie:\n            secure: false\n")
	opts, err = loader.FromYAML([]byte(yamlDoc), middlewareName, pluginName)
	add("yaml", opts, err)

	tomlDoc := insert(sampleTOML, "  public = [\"/pub\"]\n", "  protectd = [\"/x\"]\n")
	tomlDoc += "\n[http.middlewares.auth.plugin.authlayer.cookie]\n  secure = false\n"
	opts, err = loader.FromTOML([]byte(tomlDoc), middlewareName, pluginName)
	add("toml", opts, err)

	opts, err = loader.FromCRDWithSecrets([]byte(sampleCRD), pluginName, secrets)
	if err == nil {
		opts["routes"].(map[string]interface{})["protectd"] = []interface{}{"/x"}
		opts["cookie"] = map[string]interface{}{"secure": false}
	}
	add("crd-json", opts, err)

	manifest := insert(sampleCRDManifest, "      routes:\n", "        protectd: [/x]\n")
	manifest = insert(manifest, "    authlayer:\n", "      cookie:\n        secure: false\n")
	opts, err = loader.FromCRDWithSecrets([]byte(manifest), pluginName, secrets)
	add("crd-yaml", opts, err)
	return out
}

// TestUnknownOptionsRefusedInEveryShape: keys that are no option, in any
// shape a provider delivers, fail New (compiled and interpreted, decoded
// as Traefik decodes) with an error naming each key as written and the
// option probably meant. Traefik's decoder alone drops them, leaving
// every path public.
func TestUnknownOptionsRefusedInEveryShape(t *testing.T) {
	const want = `authlayer: unknown option "cookie.secure" (did you mean "cookies.secure"?); ` +
		`unknown option "routes.protectd" (did you mean "routes.protected"?)`
	for _, f := range factories(t) {
		for _, s := range typoShapes(t) {
			h, err := f.new(s.options, okHandler, middlewareName+"@"+s.name)
			if err == nil {
				t.Errorf("%s/%s: New accepted unknown options (handler %T)", f.name, s.name, h)
				continue
			}
			if err.Error() != want {
				t.Errorf("%s/%s: New: %v\nwant %s", f.name, s.name, err, want)
			}
		}
	}
}

// TestUnknownKeysDecodeIntoTheRemainFields pins down how Traefik's decoder
// (its pinned mapstructure, its settings) fills the remain fields, in the
// compiled and the interpreted Config: only unused keys, nested values as
// delivered, nothing when every key is an option.
func TestUnknownKeysDecodeIntoTheRemainFields(t *testing.T) {
	p := yaegiPlugin(t)
	for _, s := range typoShapes(t) {
		compiled := authlayer.CreateConfig()
		if err := loader.Decode(s.options, compiled); err != nil {
			t.Fatalf("%s: decode: %v", s.name, err)
		}
		v, err := p.Config(s.options)
		if err != nil {
			t.Fatalf("%s: Yaegi decode: %v", s.name, err)
		}
		var interpreted authlayer.Config
		if err := loader.CopyConfig(&interpreted, v); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for _, c := range []struct {
			world string
			cfg   *authlayer.Config
		}{{"compiled", compiled}, {"yaegi", &interpreted}} {
			if got := keys(c.cfg.Routes.Unknown); !reflect.DeepEqual(got, []string{"protectd"}) {
				t.Errorf("%s/%s: Routes.Unknown keys %v, want [protectd]", c.world, s.name, got)
			}
			if got := keys(c.cfg.Unknown); !reflect.DeepEqual(got, []string{"cookie"}) {
				t.Errorf("%s/%s: Unknown keys %v, want [cookie]", c.world, s.name, got)
			}
			if c.cfg.Backend.Unknown != nil || c.cfg.Cookies.Unknown != nil || c.cfg.Routes.Roles[0].Unknown != nil {
				t.Errorf("%s/%s: remain fields of groups without unknown keys are set", c.world, s.name)
			}
			if !reflect.DeepEqual(c.cfg.Routes.Protected, []string{"/a", "/b"}) || c.cfg.Cookies.Secure {
				t.Errorf("%s/%s: the known options changed: protected %v, cookies.secure %v", c.world, s.name, c.cfg.Routes.Protected, c.cfg.Cookies.Secure)
			}
		}
	}
}

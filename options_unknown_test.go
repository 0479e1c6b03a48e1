package authlayer

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// The decoder puts keys it cannot place into the Unknown fields (see
// options_unknown.go); these tests fill them directly. Decoding itself,
// as Traefik does it, is tested in test/loader, test/contract and
// test/shapes.

func TestUnknownOptionsRefusedNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		mutate func(*Config)
		want   string // the whole error
	}{
		{"misspelled route option", func(c *Config) { c.Routes.Unknown = map[string]interface{}{"protectd": "/a"} },
			`authlayer: unknown option "routes.protectd" (did you mean "routes.protected"?)`},
		{"misspelled backend option", func(c *Config) { c.Backend.Unknown = map[string]interface{}{"urll": "http://x"} },
			`authlayer: unknown option "backend.urll" (did you mean "backend.url"?)`},
		{"misspelled group", func(c *Config) {
			c.Unknown = map[string]interface{}{"backnd": map[string]interface{}{"url": "http://x"}}
		}, `authlayer: unknown option "backnd.url" (did you mean "backend.url"?)`},
		{"misspelled group, each option named", func(c *Config) {
			c.Unknown = map[string]interface{}{"cookie": map[string]interface{}{"secure": "false", "sameSite": "Strict"}}
		}, `authlayer: unknown option "cookie.sameSite" (did you mean "cookies.sameSite"?); unknown option "cookie.secure" (did you mean "cookies.secure"?)`},
		{"misspelled group holding a scalar", func(c *Config) { c.Unknown = map[string]interface{}{"backnd": "x"} },
			`authlayer: unknown option "backnd" (did you mean "backend"?)`},
		{"snake case", func(c *Config) { c.Routes.Unknown = map[string]interface{}{"login_url": "/in"} },
			`authlayer: unknown option "routes.login_url" (did you mean "routes.loginUrl"?)`},
		{"an option of another group", func(c *Config) { c.Backend.Unknown = map[string]interface{}{"secure": false} },
			`authlayer: unknown option "backend.secure" (did you mean "cookies.secure"?)`},
		{"an option at the top level", func(c *Config) { c.Unknown = map[string]interface{}{"protected": "/a"} },
			`authlayer: unknown option "protected" (did you mean "routes.protected"?)`},
		{"nothing close", func(c *Config) { c.Cache.Unknown = map[string]interface{}{"zzzzzz": 1} },
			`authlayer: unknown option "cache.zzzzzz"`},
		{"in a list of rules", func(c *Config) {
			c.Routes.Roles = []RoleRule{{Path: "/a", Roles: []string{"x"}}, {Path: "/b", Roles: []string{"y"}, Unknown: map[string]interface{}{"pathh": "/c"}}}
		}, `authlayer: unknown option "routes.roles[1].pathh" (did you mean "routes.roles[1].path"?)`},
		{"named like the remain field", func(c *Config) { c.Guest.Unknown = map[string]interface{}{"unknown": true} },
			`authlayer: unknown option "guest.unknown"`},
		{"set twice in different cases", func(c *Config) { c.Backend.Unknown = map[string]interface{}{"URL": "http://y"} },
			`authlayer: option "backend.url" is set twice (once as "URL"; option names ignore case): keep one`},
		{"several, sorted and bounded", func(c *Config) {
			c.Routes.Unknown = map[string]interface{}{"a1": 1, "a2": 2, "a3": 3, "a4": 4}
			c.Unknown = map[string]interface{}{"b1": 1, "b2": 2}
		}, `authlayer: unknown option "b1"; unknown option "b2"; unknown option "routes.a1"; unknown option "routes.a2"; unknown option "routes.a3"; and 1 more`},
	} {
		c := validConfig()
		tc.mutate(c)
		_, err := New(context.Background(), http.NotFoundHandler(), c, "unknown-options")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: New: got %v\nwant %s", tc.desc, err, tc.want)
		}
	}
}

// TestUnknownOptionsReportedBeforeOtherErrors: a typo is named rather than
// the error it causes (backend.urll leaves backend.url empty).
func TestUnknownOptionsReportedBeforeOtherErrors(t *testing.T) {
	c := CreateConfig()
	c.Backend.Unknown = map[string]interface{}{"urll": "http://127.0.0.1:1"}
	_, err := New(context.Background(), http.NotFoundHandler(), c, "unknown-first")
	if err == nil || !strings.Contains(err.Error(), `"backend.urll"`) {
		t.Errorf("New: got %v, want the unknown backend.urll named", err)
	}
}

// optionStructs calls visit for every option struct reachable from a
// Config, with its dotted prefix ("" for Config itself); a list of
// structs is visited through a one-element list.
func optionStructs(v reflect.Value, prefix string, visit func(v reflect.Value, prefix string)) {
	visit(v, prefix)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if prefix != "" {
			name = prefix + "." + name
		}
		switch {
		case fv.Kind() == reflect.Struct:
			optionStructs(fv, name, visit)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			if fv.Len() == 0 {
				fv.Set(reflect.MakeSlice(fv.Type(), 1, 1))
			}
			optionStructs(fv.Index(0), name+"[0]", visit)
		}
	}
}

// TestEveryOptionStructRefusesUnknownKeys: a key left in any option
// struct's remain field, a new struct's included, fails New naming it.
func TestEveryOptionStructRefusesUnknownKeys(t *testing.T) {
	var prefixes []string
	optionStructs(reflect.ValueOf(validConfig()).Elem(), "", func(_ reflect.Value, prefix string) {
		prefixes = append(prefixes, prefix)
	})
	if len(prefixes) < 18 {
		t.Fatalf("found %d option structs (%v), want the 18 of Config", len(prefixes), prefixes)
	}
	for _, target := range prefixes {
		c := validConfig()
		c.Routes.Roles = []RoleRule{{Path: "/admin", Roles: []string{"admin"}}}
		optionStructs(reflect.ValueOf(c).Elem(), "", func(v reflect.Value, prefix string) {
			if prefix == target {
				v.FieldByName("Unknown").Set(reflect.ValueOf(map[string]interface{}{"zzzzzz": "1"}))
			}
		})
		_, err := New(context.Background(), http.NotFoundHandler(), c, "unknown-every")
		want := `authlayer: unknown option "` + strings.TrimPrefix(target+".zzzzzz", ".") + `"`
		if err == nil || err.Error() != want {
			t.Errorf("%q: New: got %v, want %s", target, err, want)
		}
	}
}

// TestOptionStructsHaveOnlyOptionFields: every field of an option struct
// is exported (under Yaegi an unexported field is settable by a key
// "x<name>", past the remain field) and named by its json tag as the
// decoder matches it, and every struct has exactly one remain field, kept
// out of JSON (scope keys in state.go marshal the groups).
func TestOptionStructsHaveOnlyOptionFields(t *testing.T) {
	optionStructs(reflect.ValueOf(CreateConfig()).Elem(), "", func(v reflect.Value, prefix string) {
		tt := v.Type()
		remain := 0
		for i := 0; i < tt.NumField(); i++ {
			f := tt.Field(i)
			if f.PkgPath != "" {
				t.Errorf("%s: field %s is unexported", tt.Name(), f.Name)
			}
			if strings.Contains(f.Tag.Get("mapstructure"), ",remain") {
				remain++
				if f.Name != "Unknown" || f.Tag.Get("json") != "-" || f.Type != reflect.TypeOf(map[string]interface{}{}) {
					t.Errorf("%s: remain field %s %s `%s`, want Unknown map[string]interface{} with json:\"-\"", tt.Name(), f.Name, f.Type, f.Tag)
				}
				continue
			}
			if name := strings.Split(f.Tag.Get("json"), ",")[0]; !strings.EqualFold(name, f.Name) {
				t.Errorf("%s.%s: json name %q is not the field name in another case (the decoder matches field names)", tt.Name(), f.Name, name)
			}
		}
		if remain != 1 {
			t.Errorf("%s (%q): %d remain fields, want 1", tt.Name(), prefix, remain)
		}
	})

	c := CreateConfig()
	c.Unknown = map[string]interface{}{"zz1": 1}
	c.Backend.Unknown = map[string]interface{}{"zz2": 1}
	raw, err := json.Marshal([]interface{}{c, c.Backend})
	if err != nil || strings.Contains(string(raw), "zz") || strings.Contains(string(raw), `"Unknown"`) {
		t.Errorf("JSON of a Config with unknown keys: %s (%v), want no trace of them", raw, err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"protectd", "protected", 1},
		{"ulr", "url", 1}, {"kitten", "sitting", 3}, {"backnd", "backend", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

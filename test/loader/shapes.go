package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"text/template"
	"unicode"

	"github.com/Masterminds/sprig/v3"
	"github.com/traefik/paerser/file"
	"github.com/traefik/paerser/parser"
	k8syaml "sigs.k8s.io/yaml"
)

// The functions in this file turn a middleware's configuration, written in
// one of the shapes Traefik v3 reads, into the raw option map Traefik hands
// the plugin (its dynamic.PluginConf, a map[string]interface{}), going
// through the same libraries and steps:
//
//   - Docker (and other label-based) providers: github.com/traefik/paerser
//     v0.2.2 parser.Decode of the labels into the dynamic configuration.
//   - File provider: the document is first rendered as a Go text/template
//     with the sprig functions (as Traefik always does for files), then
//     decoded by paerser's file.DecodeContent.
//   - Kubernetes CRD provider: the Middleware spec's plugin entry is
//     marshalled and unmarshalled with encoding/json and every string
//     "urn:k8s:secret:<name>:<key>" is replaced by that secret's value.
//
// Traefik then deep-copies every configuration with a JSON-style copy that
// only knows maps, []interface{}, string, int64, bool, float64, nil and
// json.Number (it panics on anything else); the functions here make the
// same copy and report such a value as an error.

// PluginConf mirrors Traefik's dynamic.PluginConf.
type PluginConf map[string]interface{}

// dynConfig mirrors the parts of Traefik's dynamic.Configuration that
// matter here. Sections other than HTTP middlewares are absorbed as raw maps
// so that a full dynamic configuration document decodes.
type dynConfig struct {
	HTTP *httpConfig
	TCP  map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	UDP  map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	TLS  map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
}

type httpConfig struct {
	Routers           map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	Services          map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	Middlewares       map[string]*middlewareConfig
	Models            map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	ServersTransports map[string]interface{} `label:"-" file:"allowEmpty"`
}

// middlewareConfig holds the plugin map and, as raw maps, Traefik's other
// middleware types, so that a document defining them still decodes; a
// middleware that sets one of them next to a plugin is refused, as Traefik
// refuses multi-type middlewares.
type middlewareConfig struct {
	Plugin map[string]PluginConf

	AddPrefix         map[string]interface{}
	StripPrefix       map[string]interface{}
	StripPrefixRegex  map[string]interface{}
	ReplacePath       map[string]interface{}
	ReplacePathRegex  map[string]interface{}
	Chain             map[string]interface{}
	IPWhiteList       map[string]interface{}
	IPAllowList       map[string]interface{}
	Headers           map[string]interface{}
	EncodedCharacters map[string]interface{}
	Errors            map[string]interface{}
	RateLimit         map[string]interface{}
	RedirectRegex     map[string]interface{}
	RedirectScheme    map[string]interface{}
	BasicAuth         map[string]interface{}
	DigestAuth        map[string]interface{}
	ForwardAuth       map[string]interface{}
	InFlightReq       map[string]interface{}
	Buffering         map[string]interface{}
	CircuitBreaker    map[string]interface{}
	Compress          map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	PassTLSClientCert map[string]interface{}
	Retry             map[string]interface{}
	ContentType       map[string]interface{} `label:"allowEmpty" file:"allowEmpty"`
	GrpcWeb           map[string]interface{}
}

// FromLabels returns the option map Traefik gives the plugin named plugin
// (the alias under experimental.plugins / localPlugins) for the middleware
// named middleware, from container labels such as
//
//	traefik.http.middlewares.<middleware>.plugin.<plugin>.backend.url=http://x
//
// Only labels under traefik.http.middlewares.<middleware>. are read (the
// prefix is matched case-insensitively, as paerser does). Every scalar comes
// out as a string; "a[0].b" keys make []interface{} of maps.
func FromLabels(labels map[string]string, middleware, plugin string) (map[string]interface{}, error) {
	conf := &dynConfig{HTTP: &httpConfig{}}
	prefix := parser.DefaultRootName + ".http.middlewares." + middleware + "."
	if err := parser.Decode(labels, conf, parser.DefaultRootName, prefix); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	return pluginOptions(conf, middleware, plugin)
}

// FromYAML returns the option map the file provider gives the plugin from a
// YAML (or JSON) dynamic configuration document holding
// http.middlewares.<middleware>.plugin.<plugin>.
func FromYAML(doc []byte, middleware, plugin string) (map[string]interface{}, error) {
	return fromFile(doc, ".yaml", middleware, plugin)
}

// FromTOML is FromYAML for a TOML document
// ([http.middlewares.<middleware>.plugin.<plugin>...]).
func FromTOML(doc []byte, middleware, plugin string) (map[string]interface{}, error) {
	return fromFile(doc, ".toml", middleware, plugin)
}

func fromFile(doc []byte, ext, middleware, plugin string) (map[string]interface{}, error) {
	rendered, err := renderFileTemplate(string(doc))
	if err != nil {
		return nil, fmt.Errorf("file: template: %w", err)
	}
	conf := &dynConfig{HTTP: &httpConfig{}}
	if err := file.DecodeContent(rendered, ext, conf); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return pluginOptions(conf, middleware, plugin)
}

// renderFileTemplate renders a file provider document as Traefik does
// before parsing it: text/template with the sprig functions plus "split"
// and "normalize", executed with the value false.
func renderFileTemplate(content string) (string, error) {
	funcs := sprig.TxtFuncMap()
	funcs["normalize"] = normalizeName
	funcs["split"] = strings.Split
	tmpl, err := template.New("dynamic").Funcs(funcs).Parse(content)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, false); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// normalizeName joins the runs of letters and digits of name with '-'.
func normalizeName(name string) string {
	parts := strings.FieldsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	return strings.Join(parts, "-")
}

// pluginOptions picks the plugin's option map out of a decoded dynamic
// configuration and deep-copies it as Traefik does.
func pluginOptions(conf *dynConfig, middleware, plugin string) (map[string]interface{}, error) {
	if conf.HTTP == nil || conf.HTTP.Middlewares == nil {
		return nil, fmt.Errorf("no middleware %q", middleware)
	}
	m, ok := conf.HTTP.Middlewares[middleware]
	if !ok || m == nil {
		names := make([]string, 0, len(conf.HTTP.Middlewares))
		for n := range conf.HTTP.Middlewares {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no middleware %q (found %q)", middleware, names)
	}
	mv := reflect.ValueOf(m).Elem()
	for i := 0; i < mv.NumField(); i++ {
		name := mv.Type().Field(i).Name
		if name != "Plugin" && !mv.Field(i).IsNil() {
			return nil, fmt.Errorf("middleware %q: cannot create middleware: multi-types middleware not supported (%s and plugin)", middleware, name)
		}
	}
	return selectPlugin(m.Plugin, plugin)
}

// selectPlugin does what Traefik does with a middleware's plugin map:
// exactly one entry, whose key names the plugin.
func selectPlugin(plugins map[string]PluginConf, plugin string) (map[string]interface{}, error) {
	if len(plugins) != 1 {
		return nil, fmt.Errorf("plugin: invalid configuration: no configuration or too many plugin definition (%d)", len(plugins))
	}
	conf, ok := plugins[plugin]
	if !ok {
		for k := range plugins {
			return nil, fmt.Errorf("plugin: the middleware uses plugin %q, not %q", k, plugin)
		}
	}
	if conf == nil {
		return nil, nil
	}
	out, err := deepCopyJSON(map[string]interface{}(conf), "")
	if err != nil {
		return nil, err
	}
	return out.(map[string]interface{}), nil
}

// deepCopyJSON copies v as Traefik's PluginConf.DeepCopy does, failing
// where Traefik would panic.
func deepCopyJSON(v interface{}, where string) (interface{}, error) {
	switch x := v.(type) {
	case map[string]interface{}:
		if x == nil {
			return x, nil
		}
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			c, err := deepCopyJSON(e, where+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []interface{}:
		if x == nil {
			return x, nil
		}
		out := make([]interface{}, len(x))
		for i, e := range x {
			c, err := deepCopyJSON(e, fmt.Sprintf("%s[%d]", where, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case string, int64, bool, float64, nil, json.Number:
		return x, nil
	default:
		return nil, fmt.Errorf("option %s: Traefik cannot deep-copy a %T (it would panic)", strings.TrimPrefix(where, "."), v)
	}
}

// FromCRD returns the option map Traefik's Kubernetes CRD provider gives
// the plugin from the spec of a traefik.io/v1alpha1 Middleware, as JSON
// ({"plugin":{"<plugin>":{...}}}) or as YAML (converted to JSON the way
// kubectl does, with sigs.k8s.io/yaml); a whole Middleware object (with
// apiVersion and spec) is accepted too. Values keep their JSON types:
// float64 numbers, bool, string, map[string]interface{}, []interface{}.
// A "urn:k8s:secret:..." string is an error here: use FromCRDWithSecrets.
func FromCRD(spec []byte, plugin string) (map[string]interface{}, error) {
	return FromCRDWithSecrets(spec, plugin, nil)
}

// ErrSecret is wrapped by the errors FromCRDWithSecrets returns for a
// secret reference it cannot resolve.
var ErrSecret = errors.New("secret reference")

// FromCRDWithSecrets is FromCRD with the Middleware's namespace secrets:
// secrets[name][key] is the (decoded) value of key in Secret name. Every
// string value, at any depth, of the form "urn:k8s:secret:<name>:<key>" is
// replaced by that value, as Traefik does; a malformed reference, a missing
// secret or a missing key is an error (Traefik then drops the middleware).
func FromCRDWithSecrets(spec []byte, plugin string, secrets map[string]map[string]string) (map[string]interface{}, error) {
	js := spec
	if !json.Valid(spec) {
		var err error
		if js, err = k8syaml.YAMLToJSON(spec); err != nil {
			return nil, fmt.Errorf("crd: %w", err)
		}
	}
	var mw struct {
		Plugin map[string]json.RawMessage `json:"plugin"`
		// A whole Middleware object is accepted too.
		APIVersion string          `json:"apiVersion"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(js, &mw); err != nil {
		return nil, fmt.Errorf("crd: %w", err)
	}
	if mw.Plugin == nil && mw.APIVersion != "" && len(mw.Spec) > 0 {
		if err := json.Unmarshal(mw.Spec, &mw); err != nil {
			return nil, fmt.Errorf("crd: spec: %w", err)
		}
	}
	if mw.Plugin == nil {
		return nil, errors.New("crd: the spec has no plugin")
	}
	data, err := json.Marshal(mw.Plugin)
	if err != nil {
		return nil, fmt.Errorf("crd: %w", err)
	}
	pcMap := map[string]PluginConf{}
	if err := json.Unmarshal(data, &pcMap); err != nil {
		return nil, fmt.Errorf("crd: %w", err)
	}
	for _, pc := range pcMap {
		for key := range pc {
			if pc[key], err = resolveSecrets(pc[key], secrets); err != nil {
				return nil, fmt.Errorf("crd: option %s: %w", key, err)
			}
		}
	}
	return selectPlugin(pcMap, plugin)
}

const secretURNPrefix = "urn:k8s:secret:"

func resolveSecrets(v interface{}, secrets map[string]map[string]string) (interface{}, error) {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, secretURNPrefix) {
			return x, nil
		}
		parts := strings.Split(x, ":")
		if len(parts) != 5 {
			return nil, fmt.Errorf("%w: malformed secret URN %q", ErrSecret, x)
		}
		secret, ok := secrets[parts[3]]
		if !ok {
			return nil, fmt.Errorf("%w: secret %s is not found", ErrSecret, parts[3])
		}
		val, ok := secret[parts[4]]
		if !ok {
			return nil, fmt.Errorf("%w: key %q not found in secret %s", ErrSecret, parts[4], parts[3])
		}
		return val, nil
	case []interface{}:
		for i := range x {
			r, err := resolveSecrets(x[i], secrets)
			if err != nil {
				return nil, err
			}
			x[i] = r
		}
	case map[string]interface{}:
		for k := range x {
			r, err := resolveSecrets(x[k], secrets)
			if err != nil {
				return nil, err
			}
			x[k] = r
		}
	}
	return v, nil
}

// Package devstack runs the demo without Docker: it reads the middleware's
// options from docker-compose.yml's labels (so the compose file and the
// local run can never disagree), and puts either a real Traefik binary or a
// small dev host (authlayer interpreted by Yaegi, as Traefik does) in front
// of the demo's auth backend and app.
package devstack

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

// Names used by the compose file's labels.
const (
	// MiddlewareName is the middleware's name in the labels
	// (traefik.http.middlewares.<MiddlewareName>...).
	MiddlewareName = "authlayer"
	// PluginName is the plugin's alias in Traefik's static configuration
	// (experimental.localPlugins.<PluginName>).
	PluginName = "authlayer"
	// ModuleName is the plugin's module path.
	ModuleName = "github.com/authlayer/authlayer"
	// LabelPrefix is what every label configuring the plugin starts with.
	LabelPrefix = "traefik.http.middlewares." + MiddlewareName + ".plugin." + PluginName + "."
	// AppService and BackendService are the compose services.
	AppService     = "app"
	BackendService = "authbackend"
)

// Service is the part of a compose service devstack reads.
type Service struct {
	Labels      map[string]string
	Environment map[string]string
}

// composeFile is the part of docker-compose.yml devstack reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Labels      yaml.Node `yaml:"labels"`
	Environment yaml.Node `yaml:"environment"`
	// Extends names a service whose labels and environment this one
	// starts from (docker-compose.cluster.yml extends docker-compose.yml's
	// app and authbackend).
	Extends struct {
		File    string `yaml:"file"`
		Service string `yaml:"service"`
	} `yaml:"extends"`
}

// maxExtends bounds a chain of extends.
const maxExtends = 4

// ReadCompose parses a compose file and returns its services' labels and
// environments. Both compose spellings are accepted: a list of "KEY=VALUE"
// strings and a map. A service that extends another (extends.service,
// with or without extends.file, relative to this file) starts from that
// service's labels and environment, its own winning, as Compose merges
// them. Values are interpolated with their defaults: "${NAME:-default}"
// and "${NAME-default}" are the default, whatever the environment holds
// (a local run and the tests see the file's values; `docker compose`
// takes the shell's), and "$$" is "$"; any other "$" is an error.
func ReadCompose(path string) (map[string]Service, error) {
	return readCompose(path, 0)
}

func readCompose(path string, depth int) (map[string]Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(cf.Services) == 0 {
		return nil, fmt.Errorf("%s: no services", path)
	}
	out := make(map[string]Service, len(cf.Services))
	for name := range cf.Services {
		svc, err := resolveService(path, cf, name, depth)
		if err != nil {
			return nil, err
		}
		out[name] = svc
	}
	return out, nil
}

// resolveService reads one service of cf (read from path), following its
// extends.
func resolveService(path string, cf composeFile, name string, depth int) (Service, error) {
	svc := cf.Services[name]
	labels, err := keyValues(&svc.Labels)
	if err != nil {
		return Service{}, fmt.Errorf("%s: services.%s.labels: %w", path, name, err)
	}
	env, err := keyValues(&svc.Environment)
	if err != nil {
		return Service{}, fmt.Errorf("%s: services.%s.environment: %w", path, name, err)
	}
	own := Service{Labels: labels, Environment: env}
	ext := svc.Extends
	if ext.Service == "" {
		if ext.File != "" {
			return Service{}, fmt.Errorf("%s: services.%s.extends: no service", path, name)
		}
		return own, nil
	}
	if depth >= maxExtends {
		return Service{}, fmt.Errorf("%s: services.%s.extends: more than %d levels", path, name, maxExtends)
	}
	var base Service
	if ext.File == "" {
		if ext.Service == name {
			return Service{}, fmt.Errorf("%s: services.%s extends itself", path, name)
		}
		if _, ok := cf.Services[ext.Service]; !ok {
			return Service{}, fmt.Errorf("%s: services.%s.extends: no service %q", path, name, ext.Service)
		}
		if base, err = resolveService(path, cf, ext.Service, depth+1); err != nil {
			return Service{}, err
		}
	} else {
		other := ext.File
		if !filepath.IsAbs(other) {
			other = filepath.Join(filepath.Dir(path), other)
		}
		services, err := readCompose(other, depth+1)
		if err != nil {
			return Service{}, fmt.Errorf("%s: services.%s.extends: %w", path, name, err)
		}
		var ok bool
		if base, ok = services[ext.Service]; !ok {
			return Service{}, fmt.Errorf("%s: services.%s.extends: %s has no service %q", path, name, other, ext.Service)
		}
	}
	return Service{Labels: merged(base.Labels, own.Labels), Environment: merged(base.Environment, own.Environment)}, nil
}

// merged returns base's entries overridden by over's.
func merged(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// interpolate replaces "${NAME:-default}" and "${NAME-default}" with their
// default and "$$" with "$" (see ReadCompose).
func interpolate(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("%q: unclosed ${", s)
			}
			expr := rest[1:end]
			name, def, ok := strings.Cut(expr, "-")
			if !ok || !validVarName(strings.TrimSuffix(name, ":")) {
				return "", fmt.Errorf("%q: ${%s} has no default (write ${NAME:-default}, or $$ for a $)", s, expr)
			}
			b.WriteString(def)
			i += end + 1
		default:
			return "", fmt.Errorf("%q: a $ that is neither ${NAME:-default} nor $$", s)
		}
	}
	return b.String(), nil
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// keyValues reads a compose "list or map" field.
func keyValues(n *yaml.Node) (map[string]string, error) {
	out := make(map[string]string)
	switch n.Kind {
	case 0: // absent
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return nil, err
		}
		for _, item := range items {
			k, v, ok := strings.Cut(item, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%q: want KEY=VALUE", item)
			}
			v, err := interpolate(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = v
		}
	case yaml.MappingNode:
		var m map[string]interface{}
		if err := n.Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			if v == nil {
				out[k] = ""
				continue
			}
			value, err := interpolate(fmt.Sprint(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = value
		}
	default:
		return nil, errors.New("want a list of KEY=VALUE or a map")
	}
	return out, nil
}

// PluginLabels returns the labels that configure the plugin (those under
// LabelPrefix, matched case-insensitively as Traefik does), with the
// backend URL's host replaced by backendHost when it is not empty.
func PluginLabels(labels map[string]string, backendHost string) (map[string]string, error) {
	out := make(map[string]string)
	for k, v := range labels {
		if !strings.HasPrefix(strings.ToLower(k), LabelPrefix) {
			continue
		}
		if backendHost != "" && strings.EqualFold(k[len(LabelPrefix):], "backend.url") {
			u, err := url.Parse(v)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("label %s: %q is not an absolute URL", k, v)
			}
			u.Host = backendHost
			v = u.String()
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no label starts with %s", LabelPrefix)
	}
	return out, nil
}

// Setup is what the compose file says, for a local run.
type Setup struct {
	// Options is the option map Traefik would give the plugin, with the
	// backend URL pointed at the local backend.
	Options map[string]interface{}
	// Labels are the plugin labels Options were made from.
	Labels map[string]string
	// Backend settings read from the same labels, so that the local
	// backend agrees with the middleware: its guest credentials, and
	// whether it issues refresh tokens (cookies.refresh set: dual-token
	// mode).
	GuestEnabled  bool
	GuestUsername string
	GuestPassword string
	RefreshCookie string
	// SigningKey is the backend's Ed25519 signing key, from the backend
	// service's AUTH_JWT_PRIVATE_KEY; nil when the compose file sets none.
	// The labels' jwt.publicKeys hold its public half.
	SigningKey ed25519.PrivateKey
}

// LoadSetup reads composePath, takes the app service's plugin labels,
// points backend.url at backendAddr ("host:port") and converts them with
// loader.FromLabels, exactly as Traefik's Docker provider would; and reads
// the backend service's signing key.
func LoadSetup(composePath, backendAddr string) (*Setup, error) {
	services, err := ReadCompose(composePath)
	if err != nil {
		return nil, err
	}
	app, ok := services[AppService]
	if !ok {
		return nil, fmt.Errorf("%s: no %q service", composePath, AppService)
	}
	if _, _, err := net.SplitHostPort(backendAddr); err != nil {
		return nil, fmt.Errorf("backend address %q: %w", backendAddr, err)
	}
	labels, err := PluginLabels(app.Labels, backendAddr)
	if err != nil {
		return nil, fmt.Errorf("%s: services.%s: %w", composePath, AppService, err)
	}
	opts, err := loader.FromLabels(labels, MiddlewareName, PluginName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", composePath, err)
	}
	s := &Setup{Options: opts, Labels: labels}
	s.GuestEnabled, _ = strconv.ParseBool(option(labels, "guest.enabled"))
	s.GuestUsername = option(labels, "guest.username")
	s.GuestPassword = option(labels, "guest.password")
	s.RefreshCookie = option(labels, "cookies.refresh")
	if raw := services[BackendService].Environment[authbackend.EnvPrivateKey]; raw != "" {
		if s.SigningKey, err = authbackend.ParsePrivateKey(raw); err != nil {
			// The error never quotes the key.
			return nil, fmt.Errorf("%s: services.%s.environment.%s: %w", composePath, BackendService, authbackend.EnvPrivateKey, err)
		}
	}
	return s, nil
}

// Option returns the value of the plugin label with the given option key
// (for example "refresh.proactiveWindow"), or "".
func (s *Setup) Option(key string) string {
	return option(s.Labels, key)
}

// option returns the plugin label with the given option key (for example
// "guest.enabled"), matched case-insensitively, or "".
func option(labels map[string]string, key string) string {
	for k, v := range labels {
		if strings.EqualFold(k, LabelPrefix+key) {
			return v
		}
	}
	return ""
}

// WithOptions returns a copy of s with the given options (keys after the
// label prefix, for example "cluster.redis.endpoints") set to the given
// values, as labels would, and Options decoded again. The setup's other
// settings (guest credentials, signing key) are kept.
func (s *Setup) WithOptions(values map[string]string) (*Setup, error) {
	labels := make(map[string]string, len(s.Labels)+len(values))
	for k, v := range s.Labels {
		labels[k] = v
	}
	for key, v := range values {
		for k := range labels {
			if strings.EqualFold(k, LabelPrefix+key) {
				delete(labels, k)
			}
		}
		labels[LabelPrefix+key] = v
	}
	opts, err := loader.FromLabels(labels, MiddlewareName, PluginName)
	if err != nil {
		return nil, err
	}
	out := *s
	out.Labels, out.Options = labels, opts
	return &out, nil
}

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
	Services map[string]struct {
		Labels      yaml.Node `yaml:"labels"`
		Environment yaml.Node `yaml:"environment"`
	} `yaml:"services"`
}

// ReadCompose parses a compose file and returns its services' labels and
// environments. Both compose spellings are accepted: a list of "KEY=VALUE"
// strings and a map.
func ReadCompose(path string) (map[string]Service, error) {
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
	for name, svc := range cf.Services {
		labels, err := keyValues(&svc.Labels)
		if err != nil {
			return nil, fmt.Errorf("%s: services.%s.labels: %w", path, name, err)
		}
		env, err := keyValues(&svc.Environment)
		if err != nil {
			return nil, fmt.Errorf("%s: services.%s.environment: %w", path, name, err)
		}
		out[name] = Service{Labels: labels, Environment: env}
	}
	return out, nil
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
			out[k] = fmt.Sprint(v)
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

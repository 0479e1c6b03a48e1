package demo_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

const (
	kubeDir = "kubernetes"
	// kubeNamespace is the demo's namespace in the manifests.
	kubeNamespace = "authlayer-demo"
	// kubeMiddlewareName is the name Traefik's CRD provider gives the
	// Middleware: <namespace>-<name>@kubernetescrd.
	kubeMiddlewareName = kubeNamespace + "-" + devstack.MiddlewareName + "@kubernetescrd"
)

// kubeObject is the part of a Kubernetes object these tests read.
type kubeObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
	Spec       yaml.Node         `yaml:"spec"`
	// raw is the document as written.
	raw []byte
}

// readKubeObjects reads every YAML document of a manifest file.
func readKubeObjects(t *testing.T, file string) []*kubeObject {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubeDir, file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*kubeObject
	for i := 0; i < 100; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		obj := &kubeObject{}
		if err := node.Decode(obj); err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		raw, err := yaml.Marshal(&node)
		if err != nil {
			t.Fatal(err)
		}
		obj.raw = raw
		out = append(out, obj)
	}
	t.Fatalf("%s: more than 100 documents", file)
	return nil
}

// kubeObjects reads every manifest kustomization.yaml lists, keyed by
// "Kind/name".
func kubeObjects(t *testing.T) map[string]*kubeObject {
	t.Helper()
	var kust struct {
		Kind      string   `yaml:"kind"`
		Resources []string `yaml:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kust); err != nil || kust.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: kind %q, %v", kust.Kind, err)
	}
	out := map[string]*kubeObject{}
	for _, file := range kust.Resources {
		for _, obj := range readKubeObjects(t, file) {
			key := obj.Kind + "/" + obj.Metadata.Name
			if _, dup := out[key]; dup {
				t.Fatalf("%s: %s defined twice", file, key)
			}
			if obj.Kind != "Namespace" && obj.Metadata.Namespace != kubeNamespace {
				t.Errorf("%s: %s is in namespace %q, want %q", file, key, obj.Metadata.Namespace, kubeNamespace)
			}
			out[key] = obj
		}
	}
	// Every manifest in the directory is applied.
	listed := map[string]bool{"kustomization.yaml": true, "traefik-values.yaml": true}
	for _, f := range kust.Resources {
		listed[f] = true
	}
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	return out
}

func kubeObj(t *testing.T, objs map[string]*kubeObject, key string) *kubeObject {
	t.Helper()
	obj, ok := objs[key]
	if !ok {
		keys := make([]string, 0, len(objs))
		for k := range objs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("no %s in the manifests (have %v)", key, keys)
	}
	return obj
}

// kubeSecrets returns the manifests' Secrets as FromCRDWithSecrets takes
// them: secrets[name][key] = decoded value.
func kubeSecrets(t *testing.T, objs map[string]*kubeObject) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, obj := range objs {
		if obj.Kind != "Secret" {
			continue
		}
		values := map[string]string{}
		for k, v := range obj.Data {
			dec, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("Secret %s: data.%s is not base64: %v", obj.Metadata.Name, k, err)
			}
			values[k] = string(dec)
		}
		for k, v := range obj.StringData {
			values[k] = v
		}
		out[obj.Metadata.Name] = values
	}
	return out
}

// TestKubernetesMiddlewareMatchesCompose decodes the Middleware CRD as
// Traefik's Kubernetes provider does (secret references resolved) and
// checks that it configures authlayer exactly as the compose labels do,
// compiled and interpreted by Yaegi, but for the backend URL's host; and
// that New accepts it.
func TestKubernetesMiddlewareMatchesCompose(t *testing.T) {
	objs := kubeObjects(t)
	mw := kubeObj(t, objs, "Middleware/"+devstack.MiddlewareName)
	if mw.APIVersion != "traefik.io/v1alpha1" {
		t.Errorf("Middleware apiVersion %q, want traefik.io/v1alpha1", mw.APIVersion)
	}
	secrets := kubeSecrets(t, objs)

	// Without the Secrets, the guest password cannot be resolved: the
	// Middleware really reads it from one.
	if _, err := loader.FromCRD(mw.raw, devstack.PluginName); !errors.Is(err, loader.ErrSecret) {
		t.Errorf("FromCRD without secrets: err = %v, want a secret reference error", err)
	}
	opts, err := loader.FromCRDWithSecrets(mw.raw, devstack.PluginName, secrets)
	if err != nil {
		t.Fatalf("FromCRDWithSecrets: %v", err)
	}

	// The backend URL names the backend's Service in the demo namespace.
	crdCfg := authlayer.CreateConfig()
	if err := loader.Decode(opts, crdCfg); err != nil {
		t.Fatalf("decode the CRD options: %v", err)
	}
	backendURL, err := url.Parse(crdCfg.Backend.URL)
	if err != nil {
		t.Fatalf("backend.url %q: %v", crdCfg.Backend.URL, err)
	}
	svcPort := servicePort(t, kubeObj(t, objs, "Service/authbackend"))
	if want := fmt.Sprintf("authbackend.%s.svc:%d", kubeNamespace, svcPort); backendURL.Scheme != "http" || backendURL.Host != want || backendURL.Path != "" {
		t.Errorf("backend.url = %q, want http://%s (the authbackend Service)", crdCfg.Backend.URL, want)
	}

	// The compose labels, with backend.url pointed at the same host.
	setup, err := devstack.LoadSetup(composePath, backendURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	composeCfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, composeCfg); err != nil {
		t.Fatalf("decode the compose labels: %v", err)
	}
	if composeCfg.Guest.Password == "" || composeCfg.Backend.URL != crdCfg.Backend.URL {
		t.Fatalf("compose configuration: guest password %q, backend %q", composeCfg.Guest.Password, composeCfg.Backend.URL)
	}

	// The public key: a PEM block in the CRD, one line (\n for newlines)
	// in a label; authlayer reads both the same way, and both must be the
	// public half of the key the backend's Secret holds.
	if len(crdCfg.JWT.PublicKeys) != 1 {
		t.Fatalf("the Middleware's jwt.publicKeys has %d entries, want the backend's key only", len(crdCfg.JWT.PublicKeys))
	}
	key, err := authbackend.ParsePrivateKey(secrets["authbackend-jwt"]["private-key"])
	if err != nil {
		t.Fatalf("Secret authbackend-jwt: private-key: %v", err)
	}
	assertPublicKeyOf(t, "the Middleware's jwt.publicKeys", crdCfg.JWT.PublicKeys[0], key)
	normalizePublicKeys(crdCfg)
	normalizePublicKeys(composeCfg)

	// Compiled: through loader.Compiled's decoding.
	if !reflect.DeepEqual(crdCfg, composeCfg) {
		t.Errorf("the CRD and the compose labels configure authlayer differently (CRD, compose):\n%s", strings.Join(fieldDiff("config", reflect.ValueOf(crdCfg), reflect.ValueOf(composeCfg)), "\n"))
	}
	if _, err := loader.Compiled()(opts, http.NotFoundHandler(), kubeMiddlewareName); err != nil {
		t.Errorf("compiled New refused the CRD configuration: %v", err)
	}
	if _, err := authlayer.New(context.Background(), http.NotFoundHandler(), crdCfg, kubeMiddlewareName); err != nil {
		t.Errorf("New refused the CRD configuration: %v", err)
	}

	// Interpreted by Yaegi, as Traefik runs the plugin.
	plugin, err := loader.LoadYaegi("..")
	if err != nil {
		t.Fatalf("Yaegi: %v", err)
	}
	for _, c := range []struct {
		what string
		opts map[string]interface{}
	}{{"CRD", opts}, {"compose labels", setup.Options}} {
		v, err := plugin.Config(c.opts)
		if err != nil {
			t.Fatalf("Yaegi: decode the %s options: %v", c.what, err)
		}
		var got authlayer.Config
		if err := loader.CopyConfig(&got, v); err != nil {
			t.Fatalf("Yaegi: %s: %v", c.what, err)
		}
		normalizePublicKeys(&got)
		if !reflect.DeepEqual(&got, composeCfg) {
			t.Errorf("Yaegi: the %s options decode differently from the compiled compose configuration (Yaegi, compiled):\n%s", c.what, strings.Join(fieldDiff("config", reflect.ValueOf(&got), reflect.ValueOf(composeCfg)), "\n"))
		}
		if _, err := plugin.New(context.Background(), http.NotFoundHandler(), v, kubeMiddlewareName); err != nil {
			t.Errorf("Yaegi: New refused the %s configuration: %v", c.what, err)
		}
	}
}

// normalizePublicKeys writes cfg's jwt.publicKeys as authlayer reads them:
// \n as a newline, surrounding space trimmed.
func normalizePublicKeys(cfg *authlayer.Config) {
	for i, k := range cfg.JWT.PublicKeys {
		cfg.JWT.PublicKeys[i] = strings.TrimSpace(strings.ReplaceAll(k, `\n`, "\n"))
	}
}

// fieldDiff lists the fields where a and b differ, as "path: a != b".
func fieldDiff(path string, a, b reflect.Value) []string {
	if a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer && !a.IsNil() && !b.IsNil() {
		return fieldDiff(path, a.Elem(), b.Elem())
	}
	if a.Kind() == reflect.Struct && a.Type() == b.Type() {
		var out []string
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				out = append(out, fieldDiff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))...)
			}
		}
		return out
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return nil
	}
	return []string{fmt.Sprintf("  %s: %#v != %#v", path, a.Interface(), b.Interface())}
}

// servicePort returns the only port of a Service.
func servicePort(t *testing.T, svc *kubeObject) int {
	t.Helper()
	var spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	if err := svc.Spec.Decode(&spec); err != nil || len(spec.Ports) != 1 {
		t.Fatalf("Service %s: want one port (%v)", svc.Metadata.Name, err)
	}
	return spec.Ports[0].Port
}

// deploymentSpec is the part of a Deployment's spec these tests read.
type deploymentSpec struct {
	Replicas int `yaml:"replicas"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Containers []struct {
				Image string `yaml:"image"`
				Ports []struct {
					Name          string `yaml:"name"`
					ContainerPort int    `yaml:"containerPort"`
				} `yaml:"ports"`
				Env []struct {
					Name      string `yaml:"name"`
					Value     string `yaml:"value"`
					ValueFrom *struct {
						SecretKeyRef struct {
							Name string `yaml:"name"`
							Key  string `yaml:"key"`
						} `yaml:"secretKeyRef"`
					} `yaml:"valueFrom"`
				} `yaml:"env"`
			} `yaml:"containers"`
		} `yaml:"spec"`
	} `yaml:"template"`
}

// TestKubernetesManifestsAgree checks the wiring between the manifests, and
// with the compose file: the Helm values enable the plugin from the catalog,
// the IngressRoute routes as the compose labels do, every Service reaches
// its Deployment's port, and the backend runs with the compose file's
// settings and the Secrets' values.
func TestKubernetesManifestsAgree(t *testing.T) {
	objs := kubeObjects(t)
	secrets := kubeSecrets(t, objs)
	services, err := devstack.ReadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}

	// Helm values: the plugin from the catalog, under the name the
	// Middleware uses.
	var values struct {
		Image struct {
			Tag string `yaml:"tag"`
		} `yaml:"image"`
		Experimental struct {
			Plugins map[string]struct {
				ModuleName string `yaml:"moduleName"`
				Version    string `yaml:"version"`
			} `yaml:"plugins"`
		} `yaml:"experimental"`
		Providers struct {
			KubernetesCRD struct {
				Enabled bool `yaml:"enabled"`
			} `yaml:"kubernetesCRD"`
		} `yaml:"providers"`
	}
	data, err := os.ReadFile(filepath.Join(kubeDir, "traefik-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("traefik-values.yaml: %v", err)
	}
	plugin := values.Experimental.Plugins[devstack.PluginName]
	// The version is a release tag; test/docs checks that it is the newest
	// release in CHANGELOG.md.
	if plugin.ModuleName != devstack.ModuleName || !releaseTag.MatchString(plugin.Version) {
		t.Errorf("traefik-values.yaml: experimental.plugins.%s = %+v, want moduleName %s and a release tag vX.Y.Z", devstack.PluginName, plugin, devstack.ModuleName)
	}
	if !values.Providers.KubernetesCRD.Enabled {
		t.Error("traefik-values.yaml: the kubernetesCRD provider is off")
	}
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if data, err = os.ReadFile(composePath); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimPrefix(compose.Services["traefik"].Image, "traefik:"); values.Image.Tag != want {
		t.Errorf("traefik-values.yaml: image.tag %q, want the compose file's %q", values.Image.Tag, want)
	}

	// IngressRoute: everything through the middleware to the app, as the
	// compose file's one router; nothing routes to the backend.
	var route struct {
		EntryPoints []string `yaml:"entryPoints"`
		Routes      []struct {
			Match       string `yaml:"match"`
			Middlewares []struct {
				Name string `yaml:"name"`
			} `yaml:"middlewares"`
			Services []struct {
				Name string `yaml:"name"`
				Port int    `yaml:"port"`
			} `yaml:"services"`
		} `yaml:"routes"`
	}
	ir := kubeObj(t, objs, "IngressRoute/app")
	if ir.APIVersion != "traefik.io/v1alpha1" {
		t.Errorf("IngressRoute apiVersion %q", ir.APIVersion)
	}
	if err := ir.Spec.Decode(&route); err != nil {
		t.Fatal(err)
	}
	routed := map[string]string{}
	for _, r := range route.Routes {
		if len(r.Services) != 1 {
			t.Fatalf("route %s: want one service", r.Match)
		}
		svc := r.Services[0]
		if got := servicePort(t, kubeObj(t, objs, "Service/"+svc.Name)); got != svc.Port {
			t.Errorf("route %s: service %s port %d, but the Service listens on %d", r.Match, svc.Name, svc.Port, got)
		}
		var mws []string
		for _, m := range r.Middlewares {
			kubeObj(t, objs, "Middleware/"+m.Name)
			mws = append(mws, m.Name)
		}
		routed[r.Match] = svc.Name + " via [" + strings.Join(mws, ",") + "]"
	}
	appLabels := services[devstack.AppService].Labels
	want := map[string]string{
		appLabels["traefik.http.routers.app.rule"]: "app via [" + appLabels["traefik.http.routers.app.middlewares"] + "]",
	}
	if !reflect.DeepEqual(routed, want) {
		t.Errorf("IngressRoute routes %v, want the compose routers %v", routed, want)
	}
	if len(route.EntryPoints) != 1 || route.EntryPoints[0] != "web" {
		t.Errorf("IngressRoute entryPoints %v, want [web]", route.EntryPoints)
	}

	// Deployments and Services: selectors match, ports line up with the
	// compose file's (the backend's from AUTH_ADDR: it has no router).
	composePorts := map[string]string{
		"authbackend": strings.TrimPrefix(services[devstack.BackendService].Environment["AUTH_ADDR"], ":"),
		"app":         appLabels["traefik.http.services.app.loadbalancer.server.port"],
	}
	for name, composePort := range composePorts {
		var dep deploymentSpec
		if err := kubeObj(t, objs, "Deployment/"+name).Spec.Decode(&dep); err != nil {
			t.Fatal(err)
		}
		if len(dep.Template.Spec.Containers) != 1 {
			t.Fatalf("Deployment %s: want one container", name)
		}
		c := dep.Template.Spec.Containers[0]
		if len(c.Ports) != 1 || fmt.Sprint(c.Ports[0].ContainerPort) != composePort {
			t.Errorf("Deployment %s: container ports %+v, want %s as in the compose file", name, c.Ports, composePort)
		}
		var svc struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		}
		if err := kubeObj(t, objs, "Service/"+name).Spec.Decode(&svc); err != nil {
			t.Fatal(err)
		}
		if len(svc.Selector) == 0 || !reflect.DeepEqual(svc.Selector, dep.Selector.MatchLabels) {
			t.Errorf("Service %s selects %v, Deployment %s's pods match %v", name, svc.Selector, name, dep.Selector.MatchLabels)
		}
		for k, v := range dep.Selector.MatchLabels {
			if dep.Template.Metadata.Labels[k] != v {
				t.Errorf("Deployment %s: its pods lack the selector label %s=%s", name, k, v)
			}
		}
		if len(c.Ports) == 1 && (len(svc.Ports) != 1 || svc.Ports[0].TargetPort != c.Ports[0].Name) {
			t.Errorf("Service %s: targetPort %+v, want the container port %q", name, svc.Ports, c.Ports[0].Name)
		}
		if name != "authbackend" {
			continue
		}
		if dep.Replicas != 1 {
			t.Errorf("Deployment authbackend: %d replicas; the demo backend keeps sessions in memory, want 1", dep.Replicas)
		}
		// The backend's environment: the compose file's values, secrets from
		// the Secrets.
		env := map[string]string{}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil:
				ref := e.ValueFrom.SecretKeyRef
				v, ok := secrets[ref.Name][ref.Key]
				if !ok {
					t.Errorf("Deployment authbackend: %s reads missing secret key %s/%s", e.Name, ref.Name, ref.Key)
				}
				env[e.Name] = v
			default:
				env[e.Name] = e.Value
			}
		}
		if !reflect.DeepEqual(env, services[devstack.BackendService].Environment) {
			t.Errorf("Deployment authbackend: environment %v\nwant the compose file's %v", env, services[devstack.BackendService].Environment)
		}
	}
}

// releaseTag is a plugin release tag as the catalog takes it.
var releaseTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

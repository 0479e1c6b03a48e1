package demo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

// kubeClusterDir is the cluster overlay, a sibling of kubeDir (kustomize
// refuses a base that contains its overlay).
const kubeClusterDir = "kubernetes-cluster"

// kubeCluster is the overlay as kustomize builds it, read without
// kustomize: the base's objects, the overlay's, and the base Middleware
// with the overlay's patch merged in.
type kubeCluster struct {
	objs       map[string]*kubeObject
	secrets    map[string]map[string]string
	middleware []byte // the patched Middleware, YAML
}

// readKubeCluster reads kubernetes-cluster/kustomization.yaml: its
// resources (the base directory and files of its own) and its patches
// (merged into the base's objects as kustomize merges a patch into a
// custom resource: maps merged key by key, anything else replaced).
func readKubeCluster(t *testing.T) *kubeCluster {
	t.Helper()
	var kust struct {
		Kind      string   `yaml:"kind"`
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
	}
	data, err := os.ReadFile(filepath.Join(kubeClusterDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kust); err != nil || kust.Kind != "Kustomization" {
		t.Fatalf("%s/kustomization.yaml: kind %q, %v", kubeClusterDir, kust.Kind, err)
	}
	if len(kust.Resources) == 0 || kust.Resources[0] != "../"+kubeDir {
		t.Fatalf("%s/kustomization.yaml: resources %v, want ../%s first (the single-replica demo)", kubeClusterDir, kust.Resources, kubeDir)
	}
	objs := kubeObjects(t)
	listed := map[string]bool{"kustomization.yaml": true, "traefik-values.yaml": true}
	for _, file := range kust.Resources[1:] {
		listed[file] = true
		for _, obj := range readKubeObjects(t, filepath.Join("..", kubeClusterDir, file)) {
			key := obj.Kind + "/" + obj.Metadata.Name
			if _, dup := objs[key]; dup {
				t.Fatalf("%s: %s is already defined", file, key)
			}
			if obj.Metadata.Namespace != kubeNamespace {
				t.Errorf("%s: %s is in namespace %q, want %q", file, key, obj.Metadata.Namespace, kubeNamespace)
			}
			objs[key] = obj
		}
	}
	c := &kubeCluster{objs: objs}
	for _, p := range kust.Patches {
		listed[p.Path] = true
		patches := readKubeObjects(t, filepath.Join("..", kubeClusterDir, p.Path))
		if len(patches) != 1 {
			t.Fatalf("%s: want one object", p.Path)
		}
		patch := patches[0]
		target := kubeObj(t, objs, patch.Kind+"/"+patch.Metadata.Name)
		if patch.APIVersion != target.APIVersion || patch.Metadata.Namespace != target.Metadata.Namespace {
			t.Errorf("%s: %s %s/%s does not match the object it patches", p.Path, patch.APIVersion, patch.Metadata.Namespace, patch.Metadata.Name)
		}
		var base, over map[string]interface{}
		if err := yaml.Unmarshal(target.raw, &base); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(patch.raw, &over); err != nil {
			t.Fatal(err)
		}
		merged, err := yaml.Marshal(mergePatch(base, over))
		if err != nil {
			t.Fatal(err)
		}
		if patch.Kind != "Middleware" {
			t.Fatalf("%s patches a %s: only the Middleware is expected", p.Path, patch.Kind)
		}
		c.middleware = merged
	}
	if c.middleware == nil {
		t.Fatalf("%s/kustomization.yaml patches no Middleware", kubeClusterDir)
	}
	files, err := filepath.Glob(filepath.Join(kubeClusterDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in %s/kustomization.yaml", f, kubeClusterDir)
		}
	}
	c.secrets = kubeSecrets(t, objs)
	return c
}

// mergePatch merges over into base as a JSON merge patch does.
func mergePatch(base, over map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]interface{})
		om, ook := v.(map[string]interface{})
		if bok && ook {
			out[k] = mergePatch(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

// TestKubernetesClusterMiddlewareMatchesCompose: the overlay's Middleware
// (the base's, patched), decoded as Traefik's Kubernetes provider does
// with the Secrets, configures authlayer as docker-compose.cluster.yml's
// labels do, but for the hosts of the backend and of Redis; its Redis
// password and cluster secret are the compose file's demo values, read
// from Secrets; New accepts it, compiled and under Yaegi.
func TestKubernetesClusterMiddlewareMatchesCompose(t *testing.T) {
	c := readKubeCluster(t)
	if _, err := loader.FromCRDWithSecrets(c.middleware, devstack.PluginName, kubeSecrets(t, kubeObjects(t))); !errors.Is(err, loader.ErrSecret) {
		t.Errorf("the patched Middleware with the base's Secrets only: err = %v, want a secret reference error (the cluster secrets come from the overlay)", err)
	}
	opts, err := loader.FromCRDWithSecrets(c.middleware, devstack.PluginName, c.secrets)
	if err != nil {
		t.Fatalf("FromCRDWithSecrets: %v", err)
	}
	cluster, _ := lowerKeyMap(opts)["cluster"].(map[string]interface{})
	redis, _ := cluster["redis"].(map[string]interface{})
	endpoints, _ := redis["endpoints"].([]interface{})
	if len(endpoints) != 1 {
		t.Fatalf("cluster.redis.endpoints %v, want the redis Service", redis["endpoints"])
	}
	host, port, err := net.SplitHostPort(fmt.Sprint(endpoints[0]))
	if err != nil || host != "redis."+kubeNamespace+".svc" || port != strconv.Itoa(servicePort(t, kubeObj(t, c.objs, "Service/redis"))) {
		t.Errorf("cluster.redis.endpoints[0] = %v, want the redis Service's DNS name and port", endpoints[0])
	}

	requireClusterMode(t)
	crdCfg := authlayer.CreateConfig()
	if err := loader.Decode(opts, crdCfg); err != nil {
		t.Fatalf("decode the CRD options: %v", err)
	}
	backendHost := strings.TrimPrefix(crdCfg.Backend.URL, "http://")
	setup, err := devstack.LoadSetup(clusterComposePath, backendHost)
	if err != nil {
		t.Fatal(err)
	}
	if setup, err = setup.WithOptions(map[string]string{"cluster.redis.endpoints": fmt.Sprint(endpoints[0])}); err != nil {
		t.Fatal(err)
	}
	composeCfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, composeCfg); err != nil {
		t.Fatalf("decode the compose labels: %v", err)
	}
	normalizePublicKeys(crdCfg)
	normalizePublicKeys(composeCfg)
	if !reflect.DeepEqual(crdCfg, composeCfg) {
		t.Errorf("the cluster overlay's Middleware and docker-compose.cluster.yml configure authlayer differently (CRD, compose):\n%s",
			strings.Join(fieldDiff("config", reflect.ValueOf(crdCfg), reflect.ValueOf(composeCfg)), "\n"))
	}
	if _, err := loader.Compiled()(opts, http.NotFoundHandler(), kubeMiddlewareName); err != nil {
		t.Errorf("compiled New refused the cluster overlay's Middleware: %v", err)
	}
	plugin, err := loader.LoadYaegi("..")
	if err != nil {
		t.Fatalf("Yaegi: %v", err)
	}
	v, err := plugin.Config(opts)
	if err != nil {
		t.Fatalf("Yaegi: decode: %v", err)
	}
	var got authlayer.Config
	if err := loader.CopyConfig(&got, v); err != nil {
		t.Fatal(err)
	}
	normalizePublicKeys(&got)
	if !reflect.DeepEqual(&got, composeCfg) {
		t.Errorf("Yaegi decodes the cluster overlay's Middleware differently:\n%s", strings.Join(fieldDiff("config", reflect.ValueOf(&got), reflect.ValueOf(composeCfg)), "\n"))
	}
}

// lowerKeyMap lower-cases the keys of an option map, recursively.
func lowerKeyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]interface{}); ok {
			v = lowerKeyMap(sub)
		}
		out[strings.ToLower(k)] = v
	}
	return out
}

// TestKubernetesClusterRedis: the Redis Deployment and Service agree with
// each other and with the Middleware; Redis loads the ACL file of the
// Secret authlayer-redis, which gives the Middleware's user the rules the
// devstack tests check against a real redis-server and the SHA-256 of the
// password the Middleware reads from the same Secret; the Helm values run
// two Traefik replicas.
func TestKubernetesClusterRedis(t *testing.T) {
	c := readKubeCluster(t)
	opts, err := loader.FromCRDWithSecrets(c.middleware, devstack.PluginName, c.secrets)
	if err != nil {
		t.Fatal(err)
	}
	cluster, _ := lowerKeyMap(opts)["cluster"].(map[string]interface{})
	redis, _ := cluster["redis"].(map[string]interface{})
	user, password := fmt.Sprint(redis["username"]), fmt.Sprint(redis["password"])
	prefix := devstack.KeyPrefix
	if p, ok := cluster["keyprefix"].(string); ok {
		prefix = p
	}
	if user != devstack.RedisUser || prefix != devstack.KeyPrefix || password == "" {
		t.Errorf("the Middleware's cluster options: user %q, prefix %q, password set %v", user, prefix, password != "")
	}
	sum := sha256.Sum256([]byte(password))
	wantACL := "user default off\nuser " + user + " on #" + hex.EncodeToString(sum[:]) + " " + devstack.RedisACLRules(prefix) + "\n"
	if got := c.secrets["authlayer-redis"]["users.acl"]; got != wantACL {
		t.Errorf("Secret authlayer-redis users.acl =\n%s\nwant\n%s", got, wantACL)
	}
	setup, err := devstack.LoadSetup(clusterComposePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	if password != setup.Option("cluster.redis.password") || fmt.Sprint(cluster["secret"]) != setup.Option("cluster.secret") {
		t.Error("the Secrets' Redis password and cluster secret are not docker-compose.cluster.yml's demo values")
	}

	// The Deployment: its pods match the Service, listen on its target
	// port, and load the Secret's ACL file.
	var dep struct {
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
					Image string   `yaml:"image"`
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					VolumeMounts []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
						Items      []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}
	if err := kubeObj(t, c.objs, "Deployment/redis").Spec.Decode(&dep); err != nil {
		t.Fatal(err)
	}
	if dep.Replicas != 1 || len(dep.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment redis: %d replicas, %d containers; want one of each", dep.Replicas, len(dep.Template.Spec.Containers))
	}
	ctr := dep.Template.Spec.Containers[0]
	if !strings.HasPrefix(ctr.Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7.x", ctr.Image)
	}
	var svc struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	if err := kubeObj(t, c.objs, "Service/redis").Spec.Decode(&svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Selector) == 0 || !reflect.DeepEqual(svc.Selector, dep.Selector.MatchLabels) {
		t.Errorf("Service redis selects %v, the Deployment's pods match %v", svc.Selector, dep.Selector.MatchLabels)
	}
	for k, v := range dep.Selector.MatchLabels {
		if dep.Template.Metadata.Labels[k] != v {
			t.Errorf("Deployment redis: its pods lack the selector label %s=%s", k, v)
		}
	}
	if len(svc.Ports) != 1 || len(ctr.Ports) != 1 || svc.Ports[0].TargetPort != ctr.Ports[0].Name || ctr.Ports[0].ContainerPort != 6379 {
		t.Errorf("Service redis ports %+v, container ports %+v: want the Service to target the container's 6379", svc.Ports, ctr.Ports)
	}
	aclPath := ""
	for i, a := range ctr.Args {
		if a == "--aclfile" && i+1 < len(ctr.Args) {
			aclPath = ctr.Args[i+1]
		}
	}
	mounted := ""
	for _, m := range ctr.VolumeMounts {
		for _, v := range dep.Template.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != "authlayer-redis" {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Key == "users.acl" {
					mounted = filepath.Join(m.MountPath, it.Path)
				}
			}
		}
	}
	if aclPath == "" || aclPath != mounted {
		t.Errorf("redis loads the ACL file %q, the Secret's users.acl is mounted at %q", aclPath, mounted)
	}

	// Helm values: two Traefik replicas.
	var values struct {
		Deployment struct {
			Replicas int `yaml:"replicas"`
		} `yaml:"deployment"`
		Experimental map[string]interface{} `yaml:"experimental"`
	}
	data, err := os.ReadFile(filepath.Join(kubeClusterDir, "traefik-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	if values.Deployment.Replicas != 2 {
		t.Errorf("%s/traefik-values.yaml: deployment.replicas %d, want 2", kubeClusterDir, values.Deployment.Replicas)
	}
	if values.Experimental != nil {
		t.Errorf("%s/traefik-values.yaml sets experimental: the plugin and its version come from %s/traefik-values.yaml", kubeClusterDir, kubeDir)
	}
}

// TestKubernetesClusterKustomizeBuild builds the overlay with `kubectl
// kustomize` when kubectl is on PATH (skipped otherwise) and checks that
// kustomize's Middleware is the one readKubeCluster merges.
func TestKubernetesClusterKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("skipped: no kubectl on PATH")
	}
	out, err := exec.Command(kubectl, "kustomize", kubeClusterDir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", kubeClusterDir, err)
	}
	c := readKubeCluster(t)
	dec := yaml.NewDecoder(bytes.NewReader(out))
	kinds := map[string]bool{}
	for i := 0; i < 100; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var obj kubeObject
		if err := node.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		kinds[obj.Kind+"/"+obj.Metadata.Name] = true
		if obj.Kind != "Middleware" {
			continue
		}
		raw, _ := yaml.Marshal(&node)
		built, err := loader.FromCRDWithSecrets(raw, devstack.PluginName, c.secrets)
		if err != nil {
			t.Fatal(err)
		}
		merged, err := loader.FromCRDWithSecrets(c.middleware, devstack.PluginName, c.secrets)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(built, merged) {
			t.Errorf("kustomize's Middleware differs from the test's merge:\nkustomize %v\ntest      %v", built, merged)
		}
	}
	for key := range c.objs {
		if !kinds[key] {
			t.Errorf("kubectl kustomize %s does not output %s", kubeClusterDir, key)
		}
	}
	if len(kinds) != len(c.objs) {
		t.Errorf("kubectl kustomize output %d objects, the test reads %d", len(kinds), len(c.objs))
	}
}

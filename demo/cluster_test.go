package demo_test

import (
	"context"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/demo/roundrobin"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

const clusterComposePath = "docker-compose.cluster.yml"

// requireClusterMode skips when the plugin has no cluster options yet.
func requireClusterMode(t *testing.T) {
	t.Helper()
	if _, ok := reflect.TypeOf(authlayer.Config{}).FieldByName("Cluster"); !ok {
		t.Skip("skipped: the plugin has no cluster options (authlayer.Config.Cluster) yet")
	}
}

// clusterComposeDoc is the part of docker-compose.cluster.yml these tests
// read as written (devstack.ReadCompose gives the labels and environments
// with extends and defaults applied).
type clusterComposeDoc struct {
	Name     string `yaml:"name"`
	Services map[string]struct {
		Image     string   `yaml:"image"`
		User      string   `yaml:"user"`
		Command   []string `yaml:"command"`
		Ports     []string `yaml:"ports"`
		Volumes   []string `yaml:"volumes"`
		DependsOn []string `yaml:"depends_on"`
		Build     struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
			Target     string `yaml:"target"`
		} `yaml:"build"`
		Extends struct {
			File    string `yaml:"file"`
			Service string `yaml:"service"`
		} `yaml:"extends"`
	} `yaml:"services"`
}

// TestComposeClusterFile checks the wiring of docker-compose.cluster.yml:
// two Traefik replicas exactly like docker-compose.yml's one, without a
// published port; the round-robin front on 8080 over both; Redis with the
// ACL devstack checks against a real redis-server and the password the
// labels give authlayer; the backend and the app extended from
// docker-compose.yml, the app's labels all kept, with the cluster options
// added.
func TestComposeClusterFile(t *testing.T) {
	var base composeDoc
	var doc clusterComposeDoc
	for path, v := range map[string]interface{}{composePath: &base, clusterComposePath: &doc} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if doc.Name == "" || doc.Name == "authlayer-demo" {
		t.Errorf("name %q: want a project name of its own, not the single-replica demo's", doc.Name)
	}
	baseTraefik := base.Services["traefik"]
	entryPort := ""
	for _, arg := range baseTraefik.Command {
		if v, ok := strings.CutPrefix(arg, "--entrypoints.web.address=:"); ok {
			entryPort = v
		}
	}
	if entryPort == "" {
		t.Fatal("docker-compose.yml: the traefik command sets no web entry point")
	}
	replicaNames := []string{"traefik-1", "traefik-2"}
	for _, name := range replicaNames {
		r, ok := doc.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if r.Image != baseTraefik.Image || !reflect.DeepEqual(r.Command, baseTraefik.Command) || !reflect.DeepEqual(r.Volumes, baseTraefik.Volumes) {
			t.Errorf("%s: image %q, command %q, volumes %q; want docker-compose.yml's traefik (%q, %q, %q)",
				name, r.Image, r.Command, r.Volumes, baseTraefik.Image, baseTraefik.Command, baseTraefik.Volumes)
		}
		if len(r.Ports) != 0 {
			t.Errorf("%s publishes %v: only the front does", name, r.Ports)
		}
		if !contains(r.DependsOn, "redis") {
			t.Errorf("%s does not depend on redis: %v", name, r.DependsOn)
		}
	}

	// The front.
	front := doc.Services["front"]
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if front.Build.Context != ".." || front.Build.Dockerfile != "demo/Dockerfile" || !strings.Contains(string(dockerfile), " AS "+front.Build.Target+"\n") || front.Build.Target != "roundrobin" {
		t.Errorf("front build %+v: want target roundrobin of demo/Dockerfile", front.Build)
	}
	if !strings.Contains(string(dockerfile), "./roundrobin/cmd/roundrobin") {
		t.Error("the Dockerfile does not build ./roundrobin/cmd/roundrobin")
	}
	if !reflect.DeepEqual(front.Ports, []string{"8080:8080"}) {
		t.Errorf("front ports %v, want 8080:8080", front.Ports)
	}
	services, err := devstack.ReadCompose(clusterComposePath)
	if err != nil {
		t.Fatal(err)
	}
	frontEnv := services["front"].Environment
	replicas, err := roundrobin.ParseReplicas(frontEnv["FRONT_REPLICAS"])
	if err != nil {
		t.Fatalf("FRONT_REPLICAS: %v", err)
	}
	var hosts []string
	for _, u := range replicas {
		hosts = append(hosts, u.Host)
	}
	if want := []string{"traefik-1:" + entryPort, "traefik-2:" + entryPort}; !reflect.DeepEqual(hosts, want) {
		t.Errorf("the front's replicas %v, want %v", hosts, want)
	}
	if frontEnv["FRONT_ADDR"] != ":8080" {
		t.Errorf("FRONT_ADDR %q, want :8080 (the published port)", frontEnv["FRONT_ADDR"])
	}

	// The backend and the app are docker-compose.yml's.
	for _, name := range []string{"authbackend", "app"} {
		if e := doc.Services[name].Extends; e.File != composePath || e.Service != name {
			t.Errorf("%s extends %+v, want docker-compose.yml's %s", name, e, name)
		}
	}
	baseServices, err := devstack.ReadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	appLabels := services["app"].Labels
	for k, v := range baseServices["app"].Labels {
		if appLabels[k] != v {
			t.Errorf("app label %s = %q, want docker-compose.yml's %q", k, appLabels[k], v)
		}
	}
	if !reflect.DeepEqual(services["authbackend"].Environment, baseServices["authbackend"].Environment) {
		t.Error("the cluster's authbackend environment differs from docker-compose.yml's")
	}
	var clusterKeys []string
	for k := range appLabels {
		if _, inBase := baseServices["app"].Labels[k]; !inBase {
			clusterKeys = append(clusterKeys, k)
			if !strings.HasPrefix(k, devstack.LabelPrefix+"cluster.") {
				t.Errorf("app label %s: the cluster file adds only cluster options", k)
			}
		}
	}
	if len(clusterKeys) == 0 {
		t.Fatal("the cluster file adds no cluster option")
	}

	// Redis: the ACL the replicas' user gets, with the labels' password.
	setup, err := devstack.LoadSetup(clusterComposePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	redis := doc.Services["redis"]
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis image %q, want redis:7.x", redis.Image)
	}
	user, prefix := setup.Option("cluster.redis.username"), setup.Option("cluster.keyPrefix")
	if user != devstack.RedisUser || prefix != devstack.KeyPrefix {
		t.Errorf("cluster.redis.username %q, cluster.keyPrefix %q; want %q and %q", user, prefix, devstack.RedisUser, devstack.KeyPrefix)
	}
	script := strings.Join(redis.Command, "\n")
	for _, want := range []string{
		`user default off\n`,
		"user " + user + " on >%s " + devstack.RedisACLRules(prefix) + `\n`,
		`"$$REDIS_PASSWORD"`,
		"exec redis-server --aclfile ",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("redis command lacks %q:\n%s", want, script)
		}
	}
	if redis.User != "redis" {
		t.Errorf("redis runs as %q, want the image's redis user", redis.User)
	}
	password := services["redis"].Environment["REDIS_PASSWORD"]
	if password == "" || password != setup.Option("cluster.redis.password") {
		t.Errorf("REDIS_PASSWORD %q and the label cluster.redis.password %q differ", password, setup.Option("cluster.redis.password"))
	}
	if _, err := devstack.RedisACLFile(user, password, prefix); err != nil {
		t.Errorf("the demo password cannot be written in an ACL file: %v", err)
	}
	if ep := setup.Option("cluster.redis.endpoints"); ep != "redis:6379" {
		t.Errorf("cluster.redis.endpoints %q, want the redis service, redis:6379", ep)
	}
	if len(setup.Option("cluster.secret")) < 32 {
		t.Error("cluster.secret: want at least 32 bytes")
	}

	// The options make a valid middleware, compiled and under Yaegi (New
	// does no network I/O: redis:6379 is not dialled).
	requireClusterMode(t)
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	c := reflect.ValueOf(cfg).Elem().FieldByName("Cluster")
	got := map[string]interface{}{
		"secret":    c.FieldByName("Secret").Interface(),
		"keyPrefix": c.FieldByName("KeyPrefix").Interface(),
		"endpoints": c.FieldByName("Redis").FieldByName("Endpoints").Interface(),
		"username":  c.FieldByName("Redis").FieldByName("Username").Interface(),
		"password":  c.FieldByName("Redis").FieldByName("Password").Interface(),
	}
	want := map[string]interface{}{
		"secret": setup.Option("cluster.secret"), "keyPrefix": prefix, "endpoints": []string{"redis:6379"},
		"username": user, "password": password,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded cluster options %v, want %v", got, want)
	}
	if _, err := authlayer.New(context.Background(), http.NotFoundHandler(), cfg, devstack.DevHostMiddlewareName); err != nil {
		t.Errorf("New refused the cluster configuration: %v", err)
	}
	factory, err := loader.Yaegi("..")
	if err != nil {
		t.Fatalf("Yaegi: %v", err)
	}
	if _, err := factory(setup.Options, http.NotFoundHandler(), devstack.DevHostMiddlewareName); err != nil {
		t.Errorf("interpreted New refused the cluster configuration: %v", err)
	}
}

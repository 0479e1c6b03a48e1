package devstack

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

const extendsBase = `
services:
  app:
    labels:
      - "traefik.enable=true"
      - "` + LabelPrefix + `backend.url=http://authbackend:9001"
      - "` + LabelPrefix + `guest.username=base"
    environment:
      A: "1"
  authbackend:
    environment:
      KEEP: "yes"
`

const extendsCluster = `
x-anchor: &common
  image: whatever
services:
  one: *common
  app:
    extends:
      file: base.yml
      service: app
    labels:
      - "` + LabelPrefix + `guest.username=cluster"
      - "` + LabelPrefix + `cluster.redis.password=${AUTHLAYER_REDIS_PASSWORD:-demo-pass}"
      - "` + LabelPrefix + `cluster.secret=${SECRET-dollar}$$sign"
  authbackend:
    extends:
      file: base.yml
      service: authbackend
  local:
    extends:
      service: app
    environment:
      B: "2"
`

// TestReadComposeExtends: a service that extends another, in another file
// or in the same one, starts from its labels and environment, its own
// winning; values take their ${NAME:-default} defaults.
func TestReadComposeExtends(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "base.yml", extendsBase)
	path := writeFile(t, dir, "cluster.yml", extendsCluster)
	t.Setenv("AUTHLAYER_REDIS_PASSWORD", "from-the-environment") // ignored on purpose
	services, err := ReadCompose(path)
	if err != nil {
		t.Fatal(err)
	}
	app := services["app"]
	for k, want := range map[string]string{
		"traefik.enable":                       "true",
		LabelPrefix + "backend.url":            "http://authbackend:9001",
		LabelPrefix + "guest.username":         "cluster",
		LabelPrefix + "cluster.redis.password": "demo-pass",
		LabelPrefix + "cluster.secret":         "dollar$sign",
	} {
		if app.Labels[k] != want {
			t.Errorf("app label %s = %q, want %q", k, app.Labels[k], want)
		}
	}
	if app.Environment["A"] != "1" || services["authbackend"].Environment["KEEP"] != "yes" {
		t.Errorf("environments not inherited: app %v, authbackend %v", app.Environment, services["authbackend"].Environment)
	}
	local := services["local"]
	if local.Labels[LabelPrefix+"guest.username"] != "cluster" || local.Environment["A"] != "1" || local.Environment["B"] != "2" {
		t.Errorf("same-file extends: %+v", local)
	}
	s, err := LoadSetup(path, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Option("cluster.redis.password") != "demo-pass" || s.Option("guest.username") != "cluster" {
		t.Errorf("LoadSetup through extends: labels %v", s.Labels)
	}
}

func TestReadComposeExtendsErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "base.yml", extendsBase)
	for name, content := range map[string]string{
		"missing-service.yml": "services:\n  app:\n    extends:\n      file: base.yml\n      service: nope\n",
		"missing-file.yml":    "services:\n  app:\n    extends:\n      file: nope.yml\n      service: app\n",
		"self.yml":            "services:\n  app:\n    extends:\n      service: app\n",
		"loop.yml":            "services:\n  a:\n    extends:\n      service: b\n  b:\n    extends:\n      service: a\n",
		"no-service.yml":      "services:\n  app:\n    extends:\n      file: base.yml\n",
		"no-default.yml":      "services:\n  app:\n    labels:\n      - \"x=${NAME}\"\n",
		"bare-dollar.yml":     "services:\n  app:\n    environment:\n      X: \"$NAME\"\n",
		"unclosed.yml":        "services:\n  app:\n    environment:\n      X: \"${NAME:-a\"\n",
	} {
		if _, err := ReadCompose(writeFile(t, dir, name, content)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestInterpolate(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                  "plain",
		"${A:-x}":                "x",
		"${A-x}":                 "x",
		"${A:-}":                 "",
		"pre-${A_1:-a-b-c}-post": "pre-a-b-c-post",
		"$$":                     "$",
		"a$$b${B:-c}":            "a$bc",
	} {
		got, err := interpolate(in)
		if err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"$A", "${A}", "${1A:-x}", "${:-x}", "${A:-x", "$"} {
		if got, err := interpolate(bad); err == nil {
			t.Errorf("interpolate(%q) = %q, want an error", bad, got)
		}
	}
}

// TestWithOptions: options set by key replace the labels' (matched
// case-insensitively) and Options follow; the original is unchanged.
func TestWithOptions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "base.yml", extendsBase)
	path := writeFile(t, dir, "cluster.yml", extendsCluster)
	s, err := LoadSetup(path, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.WithOptions(map[string]string{"CLUSTER.redis.password": "other", "cluster.redis.endpoints": "127.0.0.1:6379"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Option("cluster.redis.password") != "other" || c.Option("cluster.redis.endpoints") != "127.0.0.1:6379" || s.Option("cluster.redis.password") != "demo-pass" {
		t.Errorf("WithOptions: new %q %q, original %q", c.Option("cluster.redis.password"), c.Option("cluster.redis.endpoints"), s.Option("cluster.redis.password"))
	}
	cluster, _ := lowerKeys(c.Options).(map[string]interface{})["cluster"].(map[string]interface{})
	redis, _ := cluster["redis"].(map[string]interface{})
	if redis["password"] != "other" || redis["endpoints"] != "127.0.0.1:6379" {
		t.Errorf("Options.cluster = %#v", cluster)
	}
	if !reflect.DeepEqual(c.SigningKey, s.SigningKey) || c.GuestUsername != s.GuestUsername {
		t.Error("WithOptions dropped the setup's other settings")
	}
}

func TestRedisACLFile(t *testing.T) {
	got, err := RedisACLFile("u", "pw", "p:")
	if err != nil {
		t.Fatal(err)
	}
	want := "user default off\nuser u on >pw resetkeys ~p:* resetchannels &p:* -@all +auth +hello +select +ping +time +get +mget +set +del +pexpire +publish +subscribe +unsubscribe +scan +eval +evalsha +script|load\n"
	if got != want {
		t.Errorf("RedisACLFile =\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"", "a b", "a\nuser x on nopass +@all"} {
		if _, err := RedisACLFile("u", bad, "p:"); err == nil {
			t.Errorf("password %q: no error", bad)
		}
	}
}

// redisServer returns the redis-server to run, or skips (fails with
// AUTHLAYER_REQUIRE_REDIS=1).
func redisServer(t *testing.T) string {
	t.Helper()
	bin, err := FindRedis("")
	if err != nil {
		if os.Getenv("AUTHLAYER_REQUIRE_REDIS") == "1" {
			t.Fatalf("AUTHLAYER_REQUIRE_REDIS=1: %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
	return bin
}

// startRedis runs redis-server with WriteRedisConfig's files on a free
// loopback port for the test's duration.
func startRedis(t *testing.T, user, password, prefix string) (addr string, d RedisDirs) {
	t.Helper()
	bin := redisServer(t)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	d, err = WriteRedisConfig(t.TempDir(), addr, user, password, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{d.Config, d.ACL, d.Password} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", filepath.Base(f), st.Mode().Perm(), err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- RunRedis(ctx, bin, d, &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunRedis after cancel: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("redis-server did not stop within 15s")
		}
	})
	errc := make(chan error, 1)
	go func() {
		// Report an early exit to WaitRedis (not after the test).
		select {
		case err := <-done:
			errc <- err
			done <- err
		case <-ctx.Done():
		}
	}()
	if err := WaitRedis(ctx, addr, user, password, 10*time.Second, errc); err != nil {
		t.Fatalf("redis-server: %v\n%s", err, out.String())
	}
	return addr, d
}

// TestRedisACL runs redis-server with the demo's ACL and checks, as the
// ACL user, every command authlayer sends, on keys and channels under the
// prefix, and that keys, channels and commands outside it are refused,
// as is the default user.
func TestRedisACL(t *testing.T) {
	const user, password, prefix = "authlayer", "s3cret-for-the-test", "authlayer:"
	addr, d := startRedis(t, user, password, prefix)
	if b, _ := os.ReadFile(d.Password); strings.TrimSpace(string(b)) != password {
		t.Error("the password file does not hold the password")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	do := func(args ...string) (interface{}, error) {
		return RedisCommand(ctx, addr, user, password, args...)
	}
	script := "return redis.call('GET', KEYS[1])"
	for _, args := range [][]string{
		{"PING"},
		{"HELLO", "2"},
		{"SELECT", "0"},
		{"SET", prefix + "k", "v", "PX", "10000"},
		{"SET", prefix + "lock", "1", "NX", "PX", "10000"},
		{"GET", prefix + "k"},
		{"MGET", prefix + "k", prefix + "lock"},
		{"PEXPIRE", prefix + "k", "5000"},
		{"DEL", prefix + "k"},
		{"PUBLISH", prefix + "logout", "x"},
		{"SCAN", "0", "MATCH", prefix + "*", "COUNT", "100"},
		{"EVAL", script, "1", prefix + "k"},
		{"SCRIPT", "LOAD", script},
		{"EVALSHA", "e5e1d2a0fa3a4d1b6a0e7f3c5a8e0b7b3f5a9c11", "1", prefix + "k"}, // NOSCRIPT: allowed, unknown
	} {
		_, err := do(args...)
		var rerr *RedisError
		allowed := err == nil || (args[0] == "EVALSHA" && errors.As(err, &rerr) && strings.HasPrefix(rerr.Text, "NOSCRIPT"))
		if !allowed {
			t.Errorf("%s as %s: %v, want it allowed", strings.Join(args, " "), user, err)
		}
	}
	// What the plugin's scripts call (a script's calls are checked
	// against the ACL too): each command of aclScriptCalls, on a key under
	// the prefix.
	for cmd, lua := range aclScriptCalls {
		if _, err := do("EVAL", lua, "1", prefix+"script"); err != nil {
			t.Errorf("a script calling %s as %s: %v, want it allowed", cmd, user, err)
		}
	}
	if _, err := do("EVAL", "return redis.call('INCR', KEYS[1])", "1", prefix+"n"); err == nil {
		t.Error("a script calling INCR: allowed, want refused (the ACL lists the commands)")
	}
	sha, err := do("SCRIPT", "LOAD", script)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do("EVALSHA", sha.(string), "1", prefix+"k"); err != nil {
		t.Errorf("EVALSHA of a loaded script: %v", err)
	}
	for _, args := range [][]string{
		{"SET", "other", "v"},
		{"GET", "other"},
		{"EVAL", script, "1", "other"},
		{"PUBLISH", "other", "x"},
		{"KEYS", "*"},
		{"FLUSHALL"},
		{"CONFIG", "GET", "port"},
		{"SCRIPT", "FLUSH"},
		{"CLIENT", "LIST"},
		{"SHUTDOWN"},
		{"INCR", prefix + "n"},
	} {
		_, err := do(args...)
		var rerr *RedisError
		if !errors.As(err, &rerr) || !strings.HasPrefix(rerr.Text, "NOPERM") {
			t.Errorf("%s as %s: %v, want NOPERM", strings.Join(args, " "), user, err)
		}
	}
	// SUBSCRIBE answers a push, read by hand.
	for channel, want := range map[string]string{prefix + "logout": "*3", "other": "-NOPERM"} {
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(append(respCommand([]string{"AUTH", user, password}), respCommand([]string{"SUBSCRIBE", channel})...))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		got := string(buf[:n])
		if !strings.HasPrefix(got, "+OK\r\n") {
			got2 := make([]byte, 512)
			m, _ := c.Read(got2)
			got += string(got2[:m])
		}
		if rest := strings.TrimPrefix(got, "+OK\r\n"); !strings.HasPrefix(rest, want) {
			t.Errorf("SUBSCRIBE %s: %q, want %s", channel, got, want)
		}
		c.Close()
	}
	if _, err := RedisCommand(ctx, addr, "", "", "PING"); err == nil {
		t.Error("the default user answered PING: it must be off")
	}
	if _, err := RedisCommand(ctx, addr, user, "wrong", "PING"); err == nil {
		t.Error("a wrong password was accepted")
	}
	keys, err := RedisKeys(ctx, addr, user, password, 100)
	if err != nil || !containsString(keys, prefix+"lock") {
		t.Errorf("RedisKeys = %v, %v; want %slock among them", keys, err, prefix)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q outside the prefix", k)
		}
	}
}

// aclCommands are the commands TestRedisACL runs directly as the ACL user,
// and aclScriptCalls those it runs from a script.
var (
	aclCommands = map[string]bool{
		"AUTH": true, "HELLO": true, "SELECT": true, "PING": true, "GET": true, "MGET": true, "SET": true, "DEL": true,
		"PEXPIRE": true, "PUBLISH": true, "SUBSCRIBE": true, "UNSUBSCRIBE": true, "SCAN": true,
		"EVAL": true, "EVALSHA": true, "SCRIPT": true,
	}
	aclScriptCalls = map[string]string{
		"GET":     "return redis.call('GET', KEYS[1])",
		"SET":     "return redis.call('SET', KEYS[1], 'v', 'NX', 'PX', 10000)",
		"PEXPIRE": "return redis.call('PEXPIRE', KEYS[1], 5000)",
		"DEL":     "return redis.call('DEL', KEYS[1])",
		"TIME":    "local t = redis.call('TIME') return t[1]",
	}
)

// pluginCommands are the ways the plugin's source names a Redis command:
// a script's redis.call('X', a redis.Do(client, deadline, "X", and a
// pipelined or handshake command []string{"X", ...}.
var pluginCommands = []*regexp.Regexp{
	regexp.MustCompile(`redis\.call\('([A-Z]+)'`),
	regexp.MustCompile(`redis\.Do\([^,]+, *[^,]+, *"([A-Z]+)"`),
	regexp.MustCompile(`\[\]string\{"([A-Z]+)"`),
}

// TestRedisACLCoversThePlugin reads the plugin's source (the root
// package and internal/redis, tests left out) for the Redis commands it
// sends and its scripts call, and checks that TestRedisACL runs each one
// as the demo's ACL user: a command added to the plugin fails here until
// the ACL (RedisACLRules, docker-compose.cluster.yml, the Kubernetes
// Secret) and TestRedisACL have it.
func TestRedisACLCoversThePlugin(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../../*.go", "../../../internal/redis/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	found := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, re := range pluginCommands {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				kind := "sent"
				if i == 0 {
					kind = "script"
				}
				found[kind+" "+m[1]] = filepath.Base(f)
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no Redis command in the plugin's source: the patterns no longer match it")
	}
	for key, file := range found {
		kind, cmd, _ := strings.Cut(key, " ")
		covered := aclCommands[cmd]
		if kind == "script" {
			_, covered = aclScriptCalls[cmd]
		}
		if !covered {
			t.Errorf("%s: the plugin's %s command %s is not checked against the demo's ACL: add it to RedisACLRules and to TestRedisACL", file, kind, cmd)
		}
		if !strings.Contains(RedisACLRules("p:"), "+"+strings.ToLower(cmd)) {
			t.Errorf("%s: RedisACLRules does not allow %s, which the plugin's %s uses", file, cmd, kind)
		}
	}
	t.Logf("the plugin's commands: %v", found)
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

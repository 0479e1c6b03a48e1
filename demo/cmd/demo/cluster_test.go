package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/demo/roundrobin"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// logoutWithin is how soon a logout through one replica must be refused
// by the other.
const logoutWithin = time.Second

// requireClusterMode skips when the plugin has no cluster options yet.
func requireClusterMode(t *testing.T) {
	t.Helper()
	if _, ok := reflect.TypeOf(authlayer.Config{}).FieldByName("Cluster"); !ok {
		t.Skip("skipped: the plugin has no cluster options (authlayer.Config.Cluster) yet")
	}
}

// requireRedis returns the redis-server to run, or skips without one
// (fails with AUTHLAYER_REQUIRE_REDIS=1).
func requireRedis(t *testing.T) string {
	t.Helper()
	bin, err := devstack.FindRedis("")
	if err != nil {
		if os.Getenv("AUTHLAYER_REQUIRE_REDIS") == "1" {
			t.Fatalf("AUTHLAYER_REQUIRE_REDIS=1: %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
	return bin
}

// syncBuffer is a strings.Builder safe for the logger's concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startCluster runs runCluster with f until stop is called (at the latest
// when the test ends), and returns where its parts listen and its log.
func startCluster(t *testing.T, f flags, startTimeout time.Duration) (info clusterInfo, logs *syncBuffer, stop func()) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	readyc := make(chan clusterInfo, 1)
	done := make(chan error, 1)
	go func() { done <- runCluster(ctx, f, log.New(logs, "", 0), func(info clusterInfo) { readyc <- info }) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runCluster returned %v after cancel", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("runCluster did not stop within 30s of cancel")
		}
	}
	t.Cleanup(stop)
	select {
	case info = <-readyc:
		return info, logs, stop
	case err := <-done:
		stopped = true
		t.Fatalf("runCluster: %v\n%s", err, logs.String())
	case <-time.After(startTimeout):
		t.Fatalf("the cluster demo did not start within %s\n%s", startTimeout, logs.String())
	}
	return info, logs, stop
}

// clusterFlags are runCluster's flags for a test: every port a free
// loopback one.
func clusterFlags(front, traefikBin string) flags {
	return flags{
		listen: "127.0.0.1:0", backend: "127.0.0.1:0", app: "127.0.0.1:0",
		compose: "../../docker-compose.cluster.yml", pluginRoot: "../../..", front: front, traefikBin: traefikBin,
		accessTTL: 20 * time.Second, refreshTTL: time.Hour, reuseGrace: 10 * time.Second,
		cluster: true,
	}
}

// TestRunClusterDevHost runs the cluster demo as `make demo-cluster`
// does without Traefik (two dev hosts, each its own Yaegi interpreter)
// and checks what cluster mode promises (checkCluster); then that
// everything stops, Redis included.
func TestRunClusterDevHost(t *testing.T) {
	requireRedis(t)
	requireClusterMode(t)
	info, logs, stop := startCluster(t, clusterFlags("devhost", ""), 120*time.Second)
	checkCluster(t, info)
	if !strings.Contains(logs.String(), "dev host: authlayer interpreted by Yaegi v0.16.1, -front devhost") {
		t.Errorf("the log does not say what the replicas run:\n%s", logs.String())
	}
	stop()
	checkStopped(t, info)
}

// TestRunClusterTraefik is TestRunClusterDevHost with two real Traefik
// processes (TRAEFIK_BIN, PATH, or the build-traefik cache; skipped
// without one unless AUTHLAYER_REQUIRE_TRAEFIK=1).
func TestRunClusterTraefik(t *testing.T) {
	requireRedis(t)
	requireClusterMode(t)
	bin := traefikrun.Binary(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	f := clusterFlags("traefik", bin)
	f.listen = fmt.Sprintf("127.0.0.1:%d", port)
	info, logs, stop := startCluster(t, f, 180*time.Second)
	checkCluster(t, info)
	if !strings.Contains(logs.String(), "traefik binary at "+bin) {
		t.Errorf("the log does not say what the replicas run:\n%s", logs.String())
	}
	stop()
	checkStopped(t, info)
}

// checkStopped checks that, once the demo stopped, the front, the
// replicas and Redis no longer listen.
func checkStopped(t *testing.T, info clusterInfo) {
	t.Helper()
	addrs := []string{strings.TrimPrefix(info.Front, "http://"), info.Redis}
	for _, r := range info.Replicas {
		addrs = append(addrs, strings.TrimPrefix(r, "http://"))
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo stopped", addr)
		}
	}
}

// clusterClient never follows redirects and keeps no cookies: the test
// sends each cookie where it wants it.
var clusterClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// clusterReply is what clusterDo keeps of a response (the body is read
// and closed).
type clusterReply struct {
	StatusCode int
	Header     http.Header
	Cookies    []*http.Cookie
}

func clusterDo(t *testing.T, method, target string, cookies []*http.Cookie, form url.Values) (clusterReply, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(target)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", u.Scheme+"://"+u.Host) // CSRF is on
	}
	req.Header.Set("Accept", "application/json")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := clusterClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return clusterReply{StatusCode: resp.StatusCode, Header: resp.Header, Cookies: resp.Cookies()}, string(b)
}

// checkCluster checks, through the demo's front and on each replica
// directly: requests alternate between the replicas; a login through one
// is valid on the other; a logout through one is refused by the other
// within logoutWithin; Redis holds only keys under the prefix, none of
// which names a token or the user.
func checkCluster(t *testing.T, info clusterInfo) {
	t.Helper()
	if len(info.Replicas) != 2 {
		t.Fatalf("replicas %v, want 2", info.Replicas)
	}
	// Alternation.
	var seen []string
	for i := 0; i < 4; i++ {
		resp, body := clusterDo(t, http.MethodGet, info.Front+"/api/public/hello", nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"visitor":"guest"`) {
			t.Errorf("GET /api/public/hello through the front = %d %s, want 200 as a guest", resp.StatusCode, body)
		}
		seen = append(seen, resp.Header.Get(roundrobin.Header))
	}
	if s := strings.Join(seen, ","); s != "1,2,1,2" && s != "2,1,2,1" {
		t.Errorf("%s over four requests: %s, want the replicas in turn", roundrobin.Header, s)
	}

	// A login through the front, at one replica.
	resp, _ := clusterDo(t, http.MethodPost, info.Front+"/auth/login", nil,
		url.Values{"username": {"alice"}, "password": {"alice"}, "redirect": {"/dashboard"}})
	var access, refresh *http.Cookie
	for _, c := range resp.Cookies {
		switch c.Name {
		case "userToken":
			access = c
		case "refreshToken":
			refresh = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || access == nil || refresh == nil || access.Value == "" {
		t.Fatalf("login through the front: %d, cookies %v; want 303 with userToken and refreshToken", resp.StatusCode, resp.Cookies)
	}
	t.Logf("logged in through replica %s", resp.Header.Get(roundrobin.Header))
	// Valid on both replicas: the access cookie alone (no refresh to fall
	// back on).
	for i, r := range info.Replicas {
		resp, body := clusterDo(t, http.MethodGet, r+"/api/me", []*http.Cookie{access}, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "alice") {
			t.Errorf("GET /api/me on replica %d with the login's access cookie = %d %s, want alice", i+1, resp.StatusCode, body)
		}
	}

	// A logout through the front, at one replica; the other must refuse
	// the access cookie within logoutWithin.
	resp, _ = clusterDo(t, http.MethodPost, info.Front+"/auth/logout", []*http.Cookie{access, refresh}, url.Values{})
	loggedOut := time.Now()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("logout through the front = %d", resp.StatusCode)
	}
	via := resp.Header.Get(roundrobin.Header)
	other := info.Replicas[0]
	if via == "1" {
		other = info.Replicas[1]
	}
	var status int
	for {
		resp, _ := clusterDo(t, http.MethodGet, other+"/api/me", []*http.Cookie{access}, nil)
		status = resp.StatusCode
		if status == http.StatusUnauthorized || time.Since(loggedOut) > logoutWithin {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status != http.StatusUnauthorized {
		t.Errorf("after a logout through replica %s, the other replica (%s) still answers %d to the access cookie %s later, want 401 within %s",
			via, other, status, time.Since(loggedOut).Round(time.Millisecond), logoutWithin)
	} else {
		t.Logf("logout through replica %s refused by the other within %s", via, time.Since(loggedOut).Round(time.Millisecond))
	}
	for i, r := range info.Replicas {
		if resp, body := clusterDo(t, http.MethodGet, r+"/api/me", []*http.Cookie{access, refresh}, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replica %d: the logged-out cookies = %d %s, want 401", i+1, resp.StatusCode, body)
		}
	}

	// Redis: keys under the prefix only, no token or user name in any.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := devstack.RedisKeys(ctx, info.Redis, info.RedisUser, info.RedisPassword, 10000)
	if err != nil {
		t.Fatalf("SCAN as %s: %v", info.RedisUser, err)
	}
	if len(keys) == 0 {
		t.Error("Redis holds no key after a login and a logout")
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, info.KeyPrefix) {
			t.Errorf("key %q is outside the prefix %q", k, info.KeyPrefix)
		}
		for _, secret := range []string{access.Value, refresh.Value, strings.Split(access.Value, ".")[0], "alice"} {
			if secret != "" && strings.Contains(k, secret) {
				t.Errorf("key %q holds a token or the user name", k)
			}
		}
	}
	t.Logf("%d keys in Redis, e.g. %q", len(keys), firstOf(keys))
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestBusyFrontPortSaysSoCluster: the cluster demo on a busy port stops
// at once with a message naming `make demo-cluster PORT=`.
func TestBusyFrontPortSaysSoCluster(t *testing.T) {
	addr := busyPort(t)
	_, port, _ := net.SplitHostPort(addr)
	f := clusterFlags("devhost", "")
	f.listen = addr
	f.redisBin = "/bin/true" // never started: the port is checked first
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := runCluster(ctx, f, log.New(&logs, "", 0), func(clusterInfo) { t.Error("the stack announced itself on a busy port") })
	if err == nil {
		t.Fatal("runCluster on a busy port returned no error")
	}
	for _, want := range []string{"port " + port + " is already in use", "make demo-cluster PORT=", "./cmd/demo -cluster -port "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

func TestPickClusterFront(t *testing.T) {
	if bin, _, err := pickClusterFront(flags{front: "devhost", traefikBin: "/opt/traefik"}); bin != "" || err != nil {
		t.Errorf("devhost: %q %v", bin, err)
	}
	if _, _, err := pickClusterFront(flags{front: "nginx"}); err == nil {
		t.Error("unknown front: no error")
	}
	if bin, _, err := pickClusterFront(flags{front: "auto", traefikBin: "/opt/traefik"}); bin != "/opt/traefik" || err != nil {
		t.Errorf("-traefik: %q %v", bin, err)
	}
	t.Setenv("TRAEFIK_BIN", "/opt/from-env/traefik")
	if bin, _, err := pickClusterFront(flags{front: "auto"}); bin != "/opt/from-env/traefik" || err != nil {
		t.Errorf("TRAEFIK_BIN: %q %v", bin, err)
	}
	// The build-traefik cache, when neither is set and PATH has none.
	t.Setenv("TRAEFIK_BIN", "")
	t.Setenv("PATH", t.TempDir())
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	if bin, _, err := pickClusterFront(flags{front: "auto"}); bin != "" || err != nil {
		t.Errorf("no traefik anywhere: %q %v, want dev hosts", bin, err)
	}
	if _, _, err := pickClusterFront(flags{front: "traefik"}); err == nil {
		t.Error("-front traefik without a binary: no error")
	}
	cached := filepath.Join(cache, "authlayer", "traefik-"+traefikrun.Version, "traefik")
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if bin, source, err := pickClusterFront(flags{front: "auto"}); bin != cached || err != nil {
		t.Errorf("build-traefik cache: %q (%s) %v, want %s", bin, source, err, cached)
	}
}

func TestParseFlagsCluster(t *testing.T) {
	f, err := parseFlags([]string{"-cluster", "-port", "8081", "-redis-server", "/opt/redis-server"}, io.Discard)
	if err != nil || !f.cluster || f.listen != "127.0.0.1:8081" || f.compose != "docker-compose.cluster.yml" || f.redisBin != "/opt/redis-server" {
		t.Errorf("parseFlags(-cluster …) = %+v, %v", f, err)
	}
	f, err = parseFlags(nil, io.Discard)
	if err != nil || f.cluster || f.compose != "docker-compose.yml" {
		t.Errorf("parseFlags() = %+v, %v; want the single-replica compose file", f, err)
	}
	f, err = parseFlags([]string{"-cluster", "-compose", "other.yml"}, io.Discard)
	if err != nil || f.compose != "other.yml" {
		t.Errorf("parseFlags(-cluster -compose other.yml) = %+v, %v", f, err)
	}
}

// TestMakeDemoClusterPassesPort: `make demo-cluster PORT=8081` runs the
// demo with -cluster -port 8081; without PORT= on the command line, no
// -port.
func TestMakeDemoClusterPassesPort(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../../..", "demo-cluster", "PORT=8081").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo-cluster PORT=8081: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "./cmd/demo -cluster -port 8081") {
		t.Errorf("make demo-cluster PORT=8081 does not pass -cluster -port 8081:\n%s", out)
	}
	cmd := exec.Command("make", "-s", "-n", "-C", "../../..", "demo-cluster")
	cmd.Env = append(os.Environ(), "PORT=3000")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo-cluster: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "./cmd/demo -cluster") || strings.Contains(string(out), "-port") {
		t.Errorf("make demo-cluster with PORT only in the environment:\n%s", out)
	}
}

// Package traefikrun runs a real Traefik binary with authlayer as a local
// plugin, for end-to-end tests and benchmarks.
//
// Start copies the plugin's source under
// <work dir>/plugins-local/src/github.com/authlayer/authlayer, writes a
// static configuration (one "web" entry point and the API with pprof on a
// separate "traefik" entry point, both on free loopback ports; the file
// provider watching a directory; configuration reloads not throttled) and
// starts Traefik in that directory. Reload rewrites the dynamic
// configuration atomically and returns once Traefik serves it.
//
// The binary is, in this order: $TRAEFIK_BIN, `traefik` on PATH, or the
// one ../shared/tools/build-traefik leaves in its cache. Without one the
// test is skipped, or fails when AUTHLAYER_REQUIRE_TRAEFIK=1.
package traefikrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/plugincopy"
	"gopkg.in/yaml.v3"
)

// Names of the plugin as Traefik knows it.
const (
	// ModuleName is the plugin's module path (experimental.localPlugins).
	ModuleName = "github.com/authlayer/authlayer"
	// PluginName is the alias under experimental.localPlugins, the key
	// under a middleware's "plugin" in the dynamic configuration.
	PluginName = "authlayer"
)

// Environment variables.
const (
	// EnvBin names the Traefik binary to use.
	EnvBin = "TRAEFIK_BIN"
	// EnvRequire set to 1 turns "no binary" from a skip into a failure.
	EnvRequire = "AUTHLAYER_REQUIRE_TRAEFIK"
	// EnvPluginRoot, when set, is the plugin source to load instead of the
	// repository holding the test (for example an export of a commit:
	// `git archive HEAD | tar -x -C /tmp/p`).
	EnvPluginRoot = "AUTHLAYER_PLUGIN_ROOT"
)

// Version is the Traefik version the project tests against (the one
// ../shared/tools/build-traefik builds and CI downloads).
const Version = "v3.7.13"

// Bounds of every wait.
const (
	pollEvery       = 20 * time.Millisecond
	defaultStart    = 60 * time.Second
	defaultReload   = 20 * time.Second
	stopGrace       = 5 * time.Second
	startAttempts   = 3
	markerPriority  = 1000000
	markerPathRoot  = "/__traefikrun/marker/"
	markerRouter    = "traefikrun-marker"
	markerService   = "traefikrun-marker"
	markerBody      = "traefikrun marker"
	maxLogReadBytes = 64 << 20
)

// Options configure Start. The zero value is usable.
type Options struct {
	// LogLevel is Traefik's log.level (TRACE, DEBUG, INFO, WARN, ERROR);
	// "" means INFO. Plugins' log.Print output appears at ERROR, their
	// fmt.Print output only at DEBUG.
	LogLevel string
	// PluginRoot is the plugin repository's root; "" means
	// $AUTHLAYER_PLUGIN_ROOT, else the directory above the working
	// directory holding .traefik.yml and a go.mod for ModuleName.
	PluginRoot string
	// Dynamic is the first dynamic configuration (YAML), served when Start
	// returns; "" starts with no routers but the harness's marker.
	Dynamic string
	// ForwardedTrustedIPs is the web entry point's
	// forwardedHeaders.trustedIPs (for example "127.0.0.1/32"): requests
	// from these peers keep their X-Forwarded-* headers.
	ForwardedTrustedIPs []string
	// AccessLog turns on Traefik's access log (to access.log in Dir).
	AccessLog bool
	// StartTimeout bounds Start (plugin load included); 0 means 60 s.
	StartTimeout time.Duration
	// ReloadTimeout bounds each Reload; 0 means 20 s.
	ReloadTimeout time.Duration
	// LocalPlugins are other local plugins to load (see LocalPlugin).
	LocalPlugins []LocalPlugin
}

// Traefik is one running Traefik process.
type Traefik struct {
	// URL is the web entry point's base URL, http://127.0.0.1:<port>.
	URL string
	// APIURL is the API's base URL (the "traefik" entry point), serving
	// /api/... and /debug/pprof/....
	APIURL string
	// Dir is Traefik's working directory.
	Dir string
	// Bin is the binary.
	Bin string

	opts        Options
	dynamicDir  string
	logPath     string
	outPath     string
	cmd         *exec.Cmd
	exited      chan struct{}
	waitErr     error
	client      *http.Client
	marker      *httptest.Server
	mu          sync.Mutex // guards gen and lastDynamic
	gen         int
	stopOnce    sync.Once
	lastDynamic string
}

// FindBinary returns the Traefik binary to use and where it was found, or
// "" and why there is none.
func FindBinary() (path, source string, why string) {
	if p := os.Getenv(EnvBin); p != "" {
		return p, "$" + EnvBin, ""
	}
	if p, err := exec.LookPath("traefik"); err == nil {
		return p, "PATH", ""
	}
	if p := cachedBinary(); p != "" {
		return p, "the build-traefik cache", ""
	}
	return "", "", fmt.Sprintf("no Traefik binary: set %s, put traefik on PATH, or run ../shared/tools/build-traefik (see README, Development)", EnvBin)
}

// cachedBinary is the binary ../shared/tools/build-traefik leaves behind,
// if it is there.
func cachedBinary() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	p := filepath.Join(base, "authlayer", "traefik-"+Version, "traefik")
	//nolint:gosec // G703: the path is build-traefik's cache under the user's own cache directory
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// Binary returns the binary, or skips the test (fails it when
// AUTHLAYER_REQUIRE_TRAEFIK=1). A $TRAEFIK_BIN that cannot be run always
// fails: it was asked for.
func Binary(t testing.TB) string {
	t.Helper()
	p, source, why := FindBinary()
	if p == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s=1 and %s", EnvRequire, why)
		}
		t.Skipf("skipped: %s", why)
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs // Traefik runs in its own directory
	}
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		t.Fatalf("Traefik binary %q (from %s) is not an executable file (%v)", p, source, err)
	}
	return p
}

// BinaryVersion runs `<bin> version` and returns the version line.
func BinaryVersion(bin string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s version: %w (%s)", bin, err, strings.TrimSpace(string(out)))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Version:" {
			return f[1], nil
		}
	}
	return strings.TrimSpace(string(out)), nil
}

// FindPluginRoot walks up from dir to the plugin repository's root.
func FindPluginRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for i := 0; i < 32; i++ {
		if isPluginRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("traefikrun: no directory above the working directory holds .traefik.yml and a go.mod for " + ModuleName)
}

func isPluginRoot(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".traefik.yml")); err != nil {
		return false
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == ModuleName
		}
	}
	return false
}

// CopyPlugin copies what Traefik's plugin archive would hold of the plugin
// in root into dst: the non-test .go files of root and of its
// sub-packages, go.mod, go.sum, .traefik.yml and vendor/ (see
// plugincopy.Files for what is left out).
func CopyPlugin(root, dst string) error {
	return plugincopy.Copy(root, dst)
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// Start starts Traefik and returns once it serves opts.Dynamic. The
// process is stopped when the test ends; on failure the end of its log is
// printed.
func Start(t testing.TB, opts Options) *Traefik {
	t.Helper()
	bin := Binary(t)
	version, err := BinaryVersion(bin)
	if err != nil {
		t.Fatalf("traefikrun: %v", err)
	}
	// Official releases print the version without the "v".
	if strings.TrimPrefix(version, "v") != strings.TrimPrefix(Version, "v") {
		t.Logf("traefikrun: %s is Traefik %s; the project tests against %s", bin, version, Version)
	}
	root := opts.PluginRoot
	if root == "" {
		root = os.Getenv(EnvPluginRoot)
	}
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatalf("traefikrun: %v", err)
		}
		if root, err = FindPluginRoot(wd); err != nil {
			t.Fatal(err)
		}
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "INFO"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStart
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = defaultReload
	}

	marker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, markerBody)
	}))
	t.Cleanup(marker.Close)

	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		tr, err := start(t, bin, root, opts, marker)
		if err == nil {
			t.Logf("traefikrun: Traefik %s (%s) pid %d serving %s, API %s, dir %s", version, bin, tr.PID(), tr.URL, tr.APIURL, tr.Dir)
			return tr
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
		t.Logf("traefikrun: attempt %d: %v; retrying with other ports", attempt, err)
	}
	t.Fatalf("traefikrun: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("a port was taken before Traefik bound it")

func start(t testing.TB, bin, root string, opts Options, marker *httptest.Server) (*Traefik, error) {
	dir := t.TempDir()
	if err := CopyPlugin(root, filepath.Join(dir, "plugins-local", "src", filepath.FromSlash(ModuleName))); err != nil {
		return nil, err
	}
	if err := copyLocalPlugins(dir, opts.LocalPlugins); err != nil {
		return nil, err
	}
	webPort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if apiPort == webPort {
		return nil, errPortTaken
	}
	tr := &Traefik{
		URL:        fmt.Sprintf("http://127.0.0.1:%d", webPort),
		APIURL:     fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		Dir:        dir,
		Bin:        bin,
		opts:       opts,
		dynamicDir: filepath.Join(dir, "dynamic"),
		logPath:    filepath.Join(dir, "traefik.log"),
		outPath:    filepath.Join(dir, "stdout.log"),
		exited:     make(chan struct{}),
		marker:     marker,
		client: &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if err := os.MkdirAll(tr.dynamicDir, 0o750); err != nil {
		return nil, err
	}
	static := tr.staticConfig(webPort, apiPort)
	staticPath := filepath.Join(dir, "traefik.yml")
	if err := os.WriteFile(staticPath, static, 0o600); err != nil {
		return nil, err
	}
	// The first dynamic configuration is in place before Traefik starts.
	if err := tr.writeDynamic(opts.Dynamic, 1); err != nil {
		return nil, err
	}

	out, err := os.Create(tr.outPath)
	if err != nil {
		return nil, err
	}
	// Stop ends the process (SIGTERM, then SIGKILL), not a context.
	//nolint:gosec // G204: running the Traefik binary the developer chose is the point
	cmd := exec.CommandContext(context.Background(), bin, "--configFile="+staticPath)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	tr.cmd = cmd
	go func() {
		tr.waitErr = cmd.Wait()
		_ = out.Close()
		close(tr.exited)
	}()
	t.Cleanup(func() {
		tr.Stop()
		if t.Failed() {
			t.Logf("traefikrun: Traefik log (last 60 lines of %s):\n%s", tr.logPath, tail(tr.Logs(), 60))
			if o := tr.Output(); strings.TrimSpace(o) != "" {
				t.Logf("traefikrun: Traefik stdout/stderr (last 30 lines):\n%s", tail(o, 30))
			}
		}
	})

	if err := tr.waitGeneration(1, opts.StartTimeout); err != nil {
		logs := tr.Logs()
		tr.Stop()
		if strings.Contains(logs, "address already in use") {
			return nil, errPortTaken
		}
		return nil, fmt.Errorf("Traefik did not serve its first configuration: %w\nlog:\n%s\nstdout/stderr:\n%s", err, tail(logs, 40), tail(tr.Output(), 20))
	}
	// Traefik loads plugins before it serves anything: a plugin that does
	// not compile under Yaegi is reported by now, and every router using
	// it would answer 404.
	for _, line := range strings.Split(tr.Logs(), "\n") {
		if strings.Contains(line, "Plugins are disabled") {
			tr.Stop()
			return nil, fmt.Errorf("Traefik could not load the plugin from %s: %s", root, line)
		}
	}
	return tr, nil
}

func (tr *Traefik) staticConfig(webPort, apiPort int) []byte {
	web := map[string]interface{}{
		"address":   fmt.Sprintf("127.0.0.1:%d", webPort),
		"asDefault": true,
		"transport": map[string]interface{}{"lifeCycle": map[string]interface{}{"graceTimeOut": "1s"}},
	}
	if len(tr.opts.ForwardedTrustedIPs) > 0 {
		web["forwardedHeaders"] = map[string]interface{}{"trustedIPs": tr.opts.ForwardedTrustedIPs}
	}
	static := map[string]interface{}{
		"global": map[string]interface{}{"checkNewVersion": false, "sendAnonymousUsage": false},
		"log": map[string]interface{}{
			"level":    tr.opts.LogLevel,
			"filePath": tr.logPath,
			"noColor":  true,
		},
		"entryPoints": map[string]interface{}{
			"web": web,
			"traefik": map[string]interface{}{
				"address":   fmt.Sprintf("127.0.0.1:%d", apiPort),
				"transport": map[string]interface{}{"lifeCycle": map[string]interface{}{"graceTimeOut": "1s"}},
			},
		},
		"api": map[string]interface{}{"insecure": true, "debug": true, "dashboard": false},
		"providers": map[string]interface{}{
			// Every file change is applied at once (the default waits 2 s
			// between two configurations).
			"providersThrottleDuration": "0s",
			"file":                      map[string]interface{}{"directory": tr.dynamicDir, "watch": true},
		},
		"experimental": map[string]interface{}{"localPlugins": map[string]interface{}{
			PluginName: map[string]interface{}{"moduleName": ModuleName},
		}},
	}
	tr.addLocalPlugins(static)
	if tr.opts.AccessLog {
		static["accessLog"] = map[string]interface{}{"filePath": filepath.Join(tr.Dir, "access.log")}
	}
	data, err := yaml.Marshal(static)
	if err != nil {
		panic(err) // plain maps of strings: cannot happen
	}
	return data
}

// PID is the Traefik process id (for /proc/<pid>/stat).
func (tr *Traefik) PID() int {
	if tr.cmd == nil || tr.cmd.Process == nil {
		return 0
	}
	return tr.cmd.Process.Pid
}

// Client is an HTTP client for tests: 5 s timeout, redirects not followed,
// no cookie jar.
func (tr *Traefik) Client() *http.Client { return tr.client }

// Running reports whether the process is still alive.
func (tr *Traefik) Running() bool {
	select {
	case <-tr.exited:
		return false
	default:
		return true
	}
}

// Logs returns Traefik's log so far.
func (tr *Traefik) Logs() string { return readCapped(tr.logPath) }

// Output returns what the process wrote to stdout and stderr (plugins'
// os.Stdout writes, such as authlayer's audit lines, go there).
func (tr *Traefik) Output() string { return readCapped(tr.outPath) }

func readCapped(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, maxLogReadBytes))
	return string(data)
}

// LogSize is the length of Traefik's log so far, for WaitLogSince.
func (tr *Traefik) LogSize() int { return len(tr.Logs()) }

// WaitLog waits (bounded by d) until a line of Traefik's log matches re,
// and returns that line.
func (tr *Traefik) WaitLog(t testing.TB, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	return tr.WaitLogSince(t, 0, re, d)
}

// WaitLogSince is WaitLog over the log written after offset (a LogSize).
func (tr *Traefik) WaitLogSince(t testing.TB, offset int, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for i := 0; i < int(d/pollEvery)+1; i++ {
		logs := tr.Logs()
		if offset <= len(logs) {
			for _, line := range strings.Split(logs[offset:], "\n") {
				if re.MatchString(line) {
					return line
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("traefikrun: no log line matching %q within %v; log ends:\n%s", re, d, tail(tr.Logs(), 30))
	return ""
}

// Generation is the number of dynamic configurations written so far (the
// first is 1).
func (tr *Traefik) Generation() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.gen
}

// Reload replaces the dynamic configuration with dynamicYAML (written
// atomically into the watched directory) and returns once Traefik serves
// it.
func (tr *Traefik) Reload(t testing.TB, dynamicYAML string) {
	t.Helper()
	tr.mu.Lock()
	gen := tr.gen + 1
	tr.mu.Unlock()
	if err := tr.writeDynamic(dynamicYAML, gen); err != nil {
		t.Fatalf("traefikrun: reload: %v", err)
	}
	if err := tr.waitGeneration(gen, tr.opts.ReloadTimeout); err != nil {
		t.Fatalf("traefikrun: reload %d: %v; log ends:\n%s", gen, err, tail(tr.Logs(), 30))
	}
}

// Dynamic returns the last dynamic configuration written (with the
// harness's marker router).
func (tr *Traefik) Dynamic() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.lastDynamic
}

// writeDynamic adds the marker router for generation gen to dynamicYAML
// and writes it atomically: a temporary file outside the watched
// directory, renamed into it.
func (tr *Traefik) writeDynamic(dynamicYAML string, gen int) error {
	doc := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(dynamicYAML), &doc); err != nil {
		return fmt.Errorf("dynamic configuration is not YAML: %w", err)
	}
	if doc == nil {
		doc = map[string]interface{}{}
	}
	httpSection, err := section(doc, "http")
	if err != nil {
		return err
	}
	routers, err := section(httpSection, "routers")
	if err != nil {
		return err
	}
	services, err := section(httpSection, "services")
	if err != nil {
		return err
	}
	routers[markerRouter] = map[string]interface{}{
		"rule":        fmt.Sprintf("Path(`%s%d`)", markerPathRoot, gen),
		"entryPoints": []string{"web"},
		"priority":    markerPriority,
		"service":     markerService,
	}
	services[markerService] = map[string]interface{}{"loadBalancer": map[string]interface{}{
		"servers": []interface{}{map[string]interface{}{"url": tr.marker.URL}},
	}}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	tmp := filepath.Join(tr.Dir, fmt.Sprintf("dynamic-%d.yml.tmp", gen))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(tr.dynamicDir, "dynamic.yml")); err != nil {
		return err
	}
	tr.mu.Lock()
	tr.gen = gen
	tr.lastDynamic = string(data)
	tr.mu.Unlock()
	return nil
}

// section returns doc[key] as a map, creating it when absent.
func section(doc map[string]interface{}, key string) (map[string]interface{}, error) {
	v, ok := doc[key]
	if !ok || v == nil {
		m := map[string]interface{}{}
		doc[key] = m
		return m, nil
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("dynamic configuration: %q is a %T, want a mapping", key, v)
	}
	return m, nil
}

// waitGeneration polls the marker route of generation gen until it
// answers, the process exits, or d passes.
func (tr *Traefik) waitGeneration(gen int, d time.Duration) error {
	url := fmt.Sprintf("%s%s%d", tr.URL, markerPathRoot, gen)
	deadline := time.Now().Add(d)
	var last string
	for i := 0; i < int(d/pollEvery)+1; i++ {
		select {
		case <-tr.exited:
			return fmt.Errorf("Traefik exited (%v)", tr.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := tr.client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == markerBody {
				cancel()
				return nil
			}
			last = fmt.Sprintf("status %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		cancel()
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(pollEvery)
	}
	return fmt.Errorf("configuration %d not served within %v (last answer: %s)", gen, d, last)
}

// Stop stops Traefik (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (tr *Traefik) Stop() {
	tr.stopOnce.Do(func() {
		if tr.cmd == nil || tr.cmd.Process == nil {
			return
		}
		_ = tr.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-tr.exited:
			return
		case <-time.After(stopGrace):
		}
		_ = tr.cmd.Process.Kill()
		select {
		case <-tr.exited:
		case <-time.After(stopGrace):
		}
	})
}

// Get sends a GET to the API entry point (path such as
// "/api/http/routers/x@file") and returns the status and body.
func (tr *Traefik) Get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.APIURL+path, nil)
	if err != nil {
		t.Fatalf("traefikrun: GET %s: %v", path, err)
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		t.Fatalf("traefikrun: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		t.Fatalf("traefikrun: GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

var goroutineTotal = regexp.MustCompile(`(?m)^goroutine profile: total (\d+)$`)

// Goroutines returns the goroutine total of Traefik's process, from
// /debug/pprof/goroutine?debug=1 (api.debug).
func (tr *Traefik) Goroutines(t testing.TB) int {
	t.Helper()
	code, body := tr.Get(t, "/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK {
		t.Fatalf("traefikrun: goroutine profile: status %d", code)
	}
	m := goroutineTotal.FindSubmatch(body)
	if m == nil {
		t.Fatalf("traefikrun: goroutine profile without a total: %.200s", body)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatalf("traefikrun: goroutine total %q: %v", m[1], err)
	}
	return n
}

// GoroutineProfile returns /debug/pprof/goroutine?debug=1 as text.
func (tr *Traefik) GoroutineProfile(t testing.TB) string {
	t.Helper()
	_, body := tr.Get(t, "/debug/pprof/goroutine?debug=1")
	return string(body)
}

// ProcStat returns the fields of /proc/<pid>/stat after the command name
// (field 3, the state, is index 0), for CPU (utime index 11, stime 12, in
// clock ticks) and RSS (index 21, in pages).
func (tr *Traefik) ProcStat() ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", tr.PID()))
	if err != nil {
		return nil, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc stat %q", s)
	}
	return strings.Fields(s[i+1:]), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

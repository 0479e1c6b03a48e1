package loader

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/authlayer/authlayer/test/plugincopy"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
	"gopkg.in/yaml.v3"
)

// goPath is the GOPATH the interpreter sees. The plugin's sources are laid
// out under goPath/src/<import path>, as Traefik lays out local plugins
// under ./plugins-local/src/<module name>.
const goPath = "plugins-local"

// Plugin is the plugin package interpreted by Yaegi v0.16.1, set up the way
// Traefik v3 sets up a local Yaegi plugin: one interpreter for the life of
// the process, standard-library symbols only, the package imported by its
// manifest's import path, and New and CreateConfig evaluated once.
//
// A Plugin is loaded once per root directory per process (LoadYaegi caches
// it) and all its methods are safe for concurrent use. Calls into the
// interpreter that build middlewares (CreateConfig, New) are serialized, as
// Traefik builds its routers one after the other; the handlers New returns
// serve concurrently.
type Plugin struct {
	// Root is the absolute directory the sources were read from.
	Root string
	// Import is the package's import path (.traefik.yml "import", else the
	// module path from go.mod).
	Import string
	// BasePkg is the package name the symbols are evaluated under
	// (.traefik.yml "basePkg", else path.Base(Import) with '-' made '_').
	BasePkg string
	// Files lists the files given to the interpreter, relative to Root.
	Files []string
	// LoadTime is how long creating the interpreter, importing the package
	// and evaluating New and CreateConfig took.
	LoadTime time.Duration

	mu             sync.Mutex
	fnNew          reflect.Value
	fnCreateConfig reflect.Value
}

type cacheEntry struct {
	once   sync.Once
	plugin *Plugin
	err    error
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*cacheEntry{}
)

// Yaegi returns a Factory that builds middlewares from the plugin source in
// rootDir, interpreted by Yaegi exactly as Traefik v3 does. The interpreter
// is created once per rootDir per process and shared by every Factory; New
// receives context.Background(). The returned handler is wrapped the way
// Traefik wraps a plugin's handler (see Plugin.New).
func Yaegi(rootDir string) (Factory, error) {
	p, err := LoadYaegi(rootDir)
	if err != nil {
		return nil, err
	}
	return p.Factory(), nil
}

// LoadYaegi interprets the plugin source in rootDir, or returns the Plugin
// already loaded from that directory by this process. A failed load is
// cached too: the same error is returned on every later call.
func LoadYaegi(rootDir string) (*Plugin, error) {
	abs, err := filepath.Abs(rootDir)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}

	cacheMu.Lock()
	entry := cache[abs]
	if entry == nil {
		entry = &cacheEntry{}
		cache[abs] = entry
	}
	cacheMu.Unlock()

	entry.once.Do(func() {
		entry.plugin, entry.err = load(abs)
	})
	return entry.plugin, entry.err
}

// interpStderr is the interpreters' standard error. Yaegi binds the
// plugin's log package to it (log.Printf writes there, not to the host's
// log output), as Traefik binds it to its own logger at error level.
var interpStderr = &swapWriter{w: os.Stderr}

// CaptureStderr sends what interpreted plugins write to standard error
// (their log lines) to w as well as to os.Stderr, until restore is
// called.
func CaptureStderr(w io.Writer) (restore func()) {
	interpStderr.set(io.MultiWriter(os.Stderr, w))
	return func() { interpStderr.set(os.Stderr) }
}

// swapWriter is an io.Writer whose destination can be changed while
// interpreters hold it.
type swapWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *swapWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *swapWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Factory returns a Factory that calls Build with context.Background().
func (p *Plugin) Factory() Factory {
	return func(options map[string]interface{}, next http.Handler, name string) (http.Handler, error) {
		return p.Build(context.Background(), options, next, name)
	}
}

// Build does what Traefik does for one router using the middleware:
// CreateConfig, decode options into its result (skipped for an empty map),
// then New(ctx, next, config, name).
func (p *Plugin) Build(ctx context.Context, options map[string]interface{}, next http.Handler, name string) (http.Handler, error) {
	cfg, err := p.Config(options)
	if err != nil {
		return nil, err
	}
	return p.New(ctx, next, cfg, name)
}

// Config calls the interpreted CreateConfig and decodes options into its
// result with Traefik's mapstructure settings (see Decode). It returns the
// interpreted *Config; copy it into a compiled value with CopyConfig.
func (p *Plugin) Config(options map[string]interface{}) (cfg interface{}, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer recoverInto(&err, "CreateConfig")

	results := p.fnCreateConfig.Call(nil)
	if len(results) != 1 {
		return nil, fmt.Errorf("invalid number of return for the CreateConfig function: %d", len(results))
	}
	vConfig := results[0]
	if err := Decode(options, vConfig.Interface()); err != nil {
		return nil, fmt.Errorf("failed to decode configuration: %w", err)
	}
	return vConfig.Interface(), nil
}

// New calls the interpreted New with a config returned by Config and, as
// Traefik does, returns New's error as is, refuses a result that is not an
// http.Handler, and wraps the handler in a value that only forwards
// ServeHTTP and reports (name, "Plugin") as its tracing information, so a
// caller never sees the plugin's own handler type.
func (p *Plugin) New(ctx context.Context, next http.Handler, cfg interface{}, name string) (h http.Handler, err error) {
	if cfg == nil {
		return nil, errors.New("loader: nil config")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer recoverInto(&err, "New")

	if ctx == nil {
		ctx = context.Background()
	}
	args := []reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(next), reflect.ValueOf(cfg), reflect.ValueOf(name)}
	if next == nil {
		args[1] = reflect.Zero(reflect.TypeOf((*http.Handler)(nil)).Elem())
	}
	results := p.fnNew.Call(args)
	if len(results) > 1 && results[1].Interface() != nil {
		e, ok := results[1].Interface().(error)
		if !ok {
			return nil, fmt.Errorf("invalid error type: %T", results[0].Interface())
		}
		return nil, e
	}
	handler, ok := results[0].Interface().(http.Handler)
	if !ok {
		return nil, fmt.Errorf("invalid handler type: %T", results[0].Interface())
	}
	return &PluginHandler{name: name, h: handler}, nil
}

// PluginHandler is the wrapper Traefik puts around the handler a plugin's
// New returns: it forwards ServeHTTP and answers GetTracingInformation.
type PluginHandler struct {
	name string
	h    http.Handler
}

// ServeHTTP forwards to the plugin's handler.
func (w *PluginHandler) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	w.h.ServeHTTP(rw, req)
}

// GetTracingInformation returns the middleware name and the type "Plugin".
func (w *PluginHandler) GetTracingInformation() (string, string) {
	return w.name, "Plugin"
}

func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("loader: interpreted %s panicked: %v", what, r)
	}
}

// load builds the interpreter for the plugin in root (an absolute path).
func load(root string) (*Plugin, error) {
	start := time.Now()

	modulePath, err := readModulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	imp, basePkg, err := readManifest(filepath.Join(root, ".traefik.yml"))
	if err != nil {
		return nil, err
	}
	if imp == "" {
		imp = modulePath
	}
	if basePkg == "" {
		basePkg = strings.ReplaceAll(path.Base(imp), "-", "_")
	}

	srcFS, files, err := sourceFS(root, modulePath)
	if err != nil {
		return nil, err
	}

	i := interp.New(interp.Options{
		GoPath:               goPath,
		Env:                  os.Environ(),
		SourcecodeFilesystem: srcFS,
		Stderr:               interpStderr,
	})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, fmt.Errorf("loader: failed to load symbols: %w", err)
	}
	if _, err := i.Eval(fmt.Sprintf("import %q", imp)); err != nil {
		return nil, fmt.Errorf("loader: failed to import plugin code %q: %w", imp, err)
	}
	fnNew, err := i.Eval(basePkg + ".New")
	if err != nil {
		return nil, fmt.Errorf("loader: failed to eval New: %w", err)
	}
	fnCreateConfig, err := i.Eval(basePkg + ".CreateConfig")
	if err != nil {
		return nil, fmt.Errorf("loader: failed to eval CreateConfig: %w", err)
	}
	if fnNew.Kind() != reflect.Func || fnCreateConfig.Kind() != reflect.Func {
		return nil, fmt.Errorf("loader: New (%s) and CreateConfig (%s) must be functions", fnNew.Kind(), fnCreateConfig.Kind())
	}

	return &Plugin{
		Root:           root,
		Import:         imp,
		BasePkg:        basePkg,
		Files:          files,
		LoadTime:       time.Since(start),
		fnNew:          fnNew,
		fnCreateConfig: fnCreateConfig,
	}, nil
}

// sourceFS puts what a plugin archive would hold (plugincopy.Files: the
// non-test .go files of root and of its sub-packages, go.mod, go.sum,
// .traefik.yml, vendor/) into an in-memory GOPATH, under
// goPath/src/<module path>/.
func sourceFS(root, modulePath string) (fstest.MapFS, []string, error) {
	files, err := plugincopy.Files(root)
	if err != nil {
		return nil, nil, fmt.Errorf("loader: reading plugin sources: %w", err)
	}
	mfs := fstest.MapFS{}
	base := path.Join(goPath, "src", modulePath)
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel))) //nolint:gosec // G304: reads the local plugin checkout the test itself points at, not an attacker-controlled tree
		if err != nil {
			return nil, nil, fmt.Errorf("loader: reading plugin sources: %w", err)
		}
		mfs[path.Join(base, rel)] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return mfs, files, nil
}

func readModulePath(goMod string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", fmt.Errorf("loader: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			mod := strings.Trim(strings.TrimSpace(rest), `"`)
			if mod != "" {
				return mod, nil
			}
		}
	}
	return "", fmt.Errorf("loader: no module line in %s", goMod)
}

// readManifest reads import and basePkg from .traefik.yml; a missing file
// yields empty strings.
func readManifest(file string) (imp, basePkg string, err error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("loader: %w", err)
	}
	var m struct {
		Import  string `yaml:"import"`
		BasePkg string `yaml:"basePkg"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return "", "", fmt.Errorf("loader: %s: %w", file, err)
	}
	return m.Import, m.BasePkg, nil
}

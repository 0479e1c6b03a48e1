package benchtraefik

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/authlayer/authlayer/test/traefikrun"
)

// BenchmarkSteps times the steps of a cached request one by one, each
// interpreted by Yaegi v0.16.1 as Traefik runs the plugin: the plugin's
// source plus testdata/steps/steps.go (which calls its unexported
// functions in loops) in one interpreted package. ns/op and allocs/op are
// per call of the step; "serve/*" are whole requests through the handler,
// each a fresh copy, called from compiled code as Traefik calls it. Where
// the time goes in BENCHMARKS.md comes from here.
//
//	cd test && go test -run '^$' -bench '^BenchmarkSteps$' -benchmem ./benchtraefik/
//
// AUTHLAYER_PLUGIN_ROOT points it at another copy of the plugin. When the
// plugin's internals change, the benchmark skips, saying why: update
// testdata/steps/steps.go.
func BenchmarkSteps(b *testing.B) {
	root := os.Getenv(traefikrun.EnvPluginRoot)
	if root == "" {
		wd, _ := os.Getwd()
		var err error
		if root, err = traefikrun.FindPluginRoot(wd); err != nil {
			b.Fatal(err)
		}
	}
	i, err := stepsInterpreter(root)
	if err != nil {
		b.Skipf("testdata/steps/steps.go no longer matches the plugin's internals; update it: %v", err)
	}
	be, err := NewBackend(0)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	setup, err := i.Eval("authlayer.BenchSetup")
	if err != nil {
		b.Fatal(err)
	}
	if csrf := setup.Interface().(func(string, string, string) string)(be.URL, Token("user", 1), Token("guest", 2)); csrf == "" {
		b.Fatal("the CSRF middleware issued no cookie")
	}

	for _, name := range []string{
		"Loop", "Call",
		"ServeRemembered", "Strip", "Route", "Authenticate", "SessionMemo", "AuthenticateMiss",
		"Cookie", "SingleCookie", "CacheKey", "CacheLookup",
		"MayBeDenied", "SetHeaders", "Forward", "CookieWriter",
		"RateLimited", "ClientKey", "CSRFBefore", "CSRFAfter",
		"AuthenticateGuest",
	} {
		v, err := i.Eval("authlayer.Bench" + name)
		if err != nil {
			b.Fatal(err)
		}
		f := v.Interface().(func(int))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			f(b.N)
		})
	}

	hv, err := i.Eval("authlayer.BenchHandlers")
	if err != nil {
		b.Fatal(err)
	}
	user, guest, guards, pass := hv.Interface().(func() (http.Handler, http.Handler, http.Handler, http.Handler))()
	rv, err := i.Eval("authlayer.BenchRequests")
	if err != nil {
		b.Fatal(err)
	}
	ru, rg, rgd := rv.Interface().(func() (*http.Request, *http.Request, *http.Request))()
	rw := httptest.NewRecorder()
	for _, c := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"serve/empty-plugin", pass, ru},
		{"serve/user", user, ru},
		{"serve/guest", guest, rg},
		{"serve/guards", guards, rgd},
	} {
		b.Run(c.name, func(b *testing.B) {
			// A fresh copy of the request for every call, as Traefik
			// hands them over, cloned with the timer stopped.
			b.ReportAllocs()
			const chunk = 512
			reqs := make([]*http.Request, chunk)
			for done := 0; done < b.N; {
				b.StopTimer()
				n := min(chunk, b.N-done)
				for k := 0; k < n; k++ {
					reqs[k] = c.req.Clone(c.req.Context())
				}
				b.StartTimer()
				for k := 0; k < n; k++ {
					c.h.ServeHTTP(rw, reqs[k])
				}
				done += n
			}
		})
	}
}

// stepsInterpreter interprets the plugin in root with steps.go added to
// its package.
func stepsInterpreter(root string) (*interp.Interpreter, error) {
	base := path.Join("plugins-local", "src", traefikrun.ModuleName)
	mfs := fstest.MapFS{}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		n := e.Name()
		source := strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go")
		if e.IsDir() || (n != "go.mod" && !source) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			return nil, err
		}
		mfs[path.Join(base, n)] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	steps, err := os.ReadFile(filepath.Join("testdata", "steps", "steps.go"))
	if err != nil {
		return nil, err
	}
	mfs[path.Join(base, "zz_bench_steps.go")] = &fstest.MapFile{Data: steps, Mode: 0o644}
	i := interp.New(interp.Options{GoPath: "plugins-local", SourcecodeFilesystem: mfs})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, err
	}
	if _, err := i.Eval(`import "` + traefikrun.ModuleName + `"`); err != nil {
		return nil, err
	}
	return i, nil
}

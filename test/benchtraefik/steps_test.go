package benchtraefik

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/authlayer/authlayer/test/plugincopy"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// BenchmarkSteps times the steps of a cached request one by one, each
// interpreted by Yaegi v0.16.1 as Traefik runs the plugin: the plugin's
// source plus testdata/steps/steps.go (which calls its unexported
// functions in loops) in one interpreted package. ns/op and allocs/op are
// per call of the step; "serve/*" are whole requests through the handler,
// each a fresh copy, called from compiled code as Traefik calls it. Where
// the time goes in BENCHMARKS.md comes from here. testdata/steps/
// jwtsteps.go adds the steps of a local JWT verification per algorithm
// (JWT*/<alg>: inside jwt.Verify, then the flow around it from
// authenticateMiss down to flowValidateLocal) and the requests
// serve/jwt-<alg> (cache.ttl 0s: verified on every request) and
// serve/jwt-<alg>-cached, next to serve/ttl0 (a backend call per request).
// For which interpreted function allocates what, see test/cmd/yaegiframes. serve/user-i18n and serve/user-i18n-prefix
// are serve/user with i18n on, the locale from Accept-Language and from
// the path.
//
//	cd test && go test -run '^$' -bench '^BenchmarkSteps$' -benchmem ./benchtraefik/
//
// AUTHLAYER_PLUGIN_ROOT points it at another copy of the plugin. When the
// plugin's internals change, the benchmark skips, saying why: update
// testdata/steps/steps.go (when only jwtsteps.go or internal/jwt/steps.go
// is out of date, only the JWT steps are skipped).
func BenchmarkSteps(b *testing.B) {
	root := os.Getenv(traefikrun.EnvPluginRoot)
	if root == "" {
		wd, _ := os.Getwd()
		var err error
		if root, err = traefikrun.FindPluginRoot(wd); err != nil {
			b.Fatal(err)
		}
	}
	i, err := stepsInterpreter(root, "steps.go", "jwtsteps.go", "internal/jwt/steps.go")
	withJWT := err == nil
	if err != nil {
		// Without the jwt steps, to tell which file is out of date.
		var errSteps error
		if i, errSteps = stepsInterpreter(root, "steps.go"); errSteps != nil {
			b.Skipf("testdata/steps/steps.go no longer matches the plugin's internals; update it: %v", errSteps)
		}
		b.Logf("testdata/steps/jwtsteps.go or internal/jwt/steps.go no longer matches the plugin's internals (the JWT steps are skipped; update them): %v", err)
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
		"Cookie", "CacheKey", "CacheLookup",
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
	tv, err := i.Eval("authlayer.BenchTTL0")
	if err != nil {
		b.Fatal(err)
	}
	ttl0, rt := tv.Interface().(func(string, string) (http.Handler, *http.Request))(be.URL, Token("user", 1))
	iv, err := i.Eval("authlayer.BenchI18n")
	if err != nil {
		b.Fatal(err)
	}
	i18n, ri, rip := iv.Interface().(func(string, string) (http.Handler, *http.Request, *http.Request))(be.URL, Token("user", 1))
	serves := []serveCase{
		{"serve/empty-plugin", pass, ru},
		{"serve/user", user, ru},
		{"serve/guest", guest, rg},
		{"serve/guards", guards, rgd},
		// cache.ttl 0s: a backend call (loopback, answered at once) per
		// request, made one at a time.
		{"serve/ttl0", ttl0, rt},
		// i18n on (locales tr, en): the locale from Accept-Language
		// (remembered), and from a path prefix.
		{"serve/user-i18n", i18n, ri},
		{"serve/user-i18n-prefix", i18n, rip},
	}
	if withJWT {
		serves = append(serves, jwtSteps(b, i, be.URL)...)
	}
	for _, c := range serves {
		b.Run(c.name, func(b *testing.B) { serveEach(b, c.h, c.req) })
	}
}

type serveCase struct {
	name string
	h    http.Handler
	req  *http.Request
}

// serveEach serves a fresh copy of req for every call, as Traefik hands
// them over, cloned with the timer stopped.
func serveEach(b *testing.B, h http.Handler, req *http.Request) {
	b.ReportAllocs()
	rw := httptest.NewRecorder()
	const chunk = 512
	reqs := make([]*http.Request, chunk)
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(chunk, b.N-done)
		for k := 0; k < n; k++ {
			reqs[k] = req.Clone(req.Context())
		}
		b.StartTimer()
		for k := 0; k < n; k++ {
			h.ServeHTTP(rw, reqs[k])
		}
		done += n
	}
}

// jwtSteps runs the steps of a local verification (testdata/steps/
// jwtsteps.go) for each algorithm of JWTCases, and returns the whole
// requests to serve: serve/jwt-<alg> (cache.ttl 0s: verified on every
// request) and serve/jwt-<alg>-cached (the default cache: verified once).
func jwtSteps(b *testing.B, i *interp.Interpreter, backend string) []serveCase {
	eval := func(name string) interface{} {
		v, err := i.Eval("authlayer." + name)
		if err != nil {
			b.Fatal(err)
		}
		return v.Interface()
	}
	setup := eval("BenchJWTSetup").(func(string, string, string, string, string, string))
	handlers := eval("BenchJWTHandlers").(func(string) (http.Handler, http.Handler, *http.Request))
	cases := JWTCases(b)
	for _, c := range cases {
		setup(backend, c.Alg, c.Key, JWTIssuer, JWTAudience, c.Token)
	}
	for _, step := range []string{"Verify", "Segments", "Signature", "Claims", "UniqueKeys", "DecodeJSON", "ClaimsCheck", "Identity", "Authenticate", "Slow", "CookiesRead", "FlowValidate", "FlowSession", "Local"} {
		f := eval("BenchJWT" + step).(func(string, int))
		for _, c := range cases {
			b.Run("JWT"+step+"/"+c.Name, func(b *testing.B) {
				b.ReportAllocs()
				f(c.Alg, b.N)
			})
		}
	}
	var serves []serveCase
	for _, c := range cases {
		verify, cached, req := handlers(c.Alg)
		serves = append(serves, serveCase{"serve/jwt-" + c.Name, verify, req}, serveCase{"serve/jwt-" + c.Name + "-cached", cached, req})
	}
	return serves
}

// stepsInterpreter interprets the plugin in root with files (of
// testdata/steps) added to its packages: "x.go" to the root package,
// "internal/jwt/x.go" to internal/jwt.
func stepsInterpreter(root string, files ...string) (*interp.Interpreter, error) {
	base := path.Join("plugins-local", "src", traefikrun.ModuleName)
	mfs := fstest.MapFS{}
	sources, err := plugincopy.Files(root)
	if err != nil {
		return nil, err
	}
	for _, n := range sources {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(n)))
		if err != nil {
			return nil, err
		}
		mfs[path.Join(base, n)] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	for _, f := range files {
		steps, err := os.ReadFile(filepath.Join("testdata", "steps", filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		dir, name := path.Split(f)
		mfs[path.Join(base, dir, "zz_bench_"+name)] = &fstest.MapFile{Data: steps, Mode: 0o644}
	}
	i := interp.New(interp.Options{GoPath: "plugins-local", SourcecodeFilesystem: mfs})
	if err := i.Use(stdlib.Symbols); err != nil {
		return nil, err
	}
	if _, err := i.Eval(`import "` + traefikrun.ModuleName + `"`); err != nil {
		return nil, err
	}
	return i, nil
}

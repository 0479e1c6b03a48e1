package benchtraefik

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/authlayer/authlayer/test/jwtkit"
)

// floorHandler interprets testdata/floorplugin under Yaegi, as Traefik
// would, and returns its handler in front of next.
func floorHandler(t testing.TB, next http.Handler, cache bool) http.Handler {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "floorplugin", "plugin.go"))
	if err != nil {
		t.Fatal(err)
	}
	const base = "plugins-local/src/example.com/floorplugin/"
	wrapper := `package floorplugin

import "net/http"

// Handler is New with the bench's options.
func Handler(next http.Handler, secret, iss, aud string, cache bool) http.Handler {
	h, _ := New(nil, next, &Config{Cookie: "userToken", Secret: secret, Issuer: iss, Audience: aud, Cache: cache}, "floor")
	return h
}
`
	mfs := fstest.MapFS{
		base + "plugin.go":     {Data: src, Mode: 0o644},
		base + "zz_handler.go": {Data: []byte(wrapper), Mode: 0o644},
	}
	i := interp.New(interp.Options{GoPath: "plugins-local", SourcecodeFilesystem: mfs})
	if err := i.Use(stdlib.Symbols); err != nil {
		t.Fatal(err)
	}
	if _, err := i.Eval(`import "example.com/floorplugin"`); err != nil {
		t.Fatal(err)
	}
	v, err := i.Eval("floorplugin.Handler")
	if err != nil {
		t.Fatal(err)
	}
	handler := v.Interface().(func(http.Handler, string, string, string, bool) http.Handler)
	return handler(next, jwtkit.Secret, JWTIssuer, JWTAudience, cache)
}

// TestFloorPluginDoesTheChecks: the floor measured beside authlayer is
// only a fair floor if it does the same work, so it must refuse what
// authlayer refuses on that path and hand the app the same identity.
func TestFloorPluginDoesTheChecks(t *testing.T) {
	key := []byte(jwtkit.Secret)
	good := jwtkit.Std("1", "user", "user").With(jwtkit.Claims{"iss": JWTIssuer, "aud": JWTAudience})
	header := `{"alg":"HS256","typ":"JWT"}`
	cases := []struct {
		name   string
		cookie string
		want   int
	}{
		{"good", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good), http.StatusOK},
		{"forged", "userToken=" + jwtkit.SignRaw(t, "HS256", []byte("another-secret-0123456789abcdef-0123"), header, good), http.StatusUnauthorized},
		{"expired", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good.With(jwtkit.Claims{"exp": time.Now().Add(-time.Hour).Unix()})), http.StatusUnauthorized},
		{"no exp", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good.With(jwtkit.Claims{"exp": nil})), http.StatusUnauthorized},
		{"wrong aud", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good.With(jwtkit.Claims{"aud": "other"})), http.StatusUnauthorized},
		{"wrong iss", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good.With(jwtkit.Claims{"iss": "other"})), http.StatusUnauthorized},
		{"guest", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good.With(jwtkit.Claims{"type": "guest"})), http.StatusUnauthorized},
		{"repeated claim", "userToken=" + jwtkit.SignJSON(t, "HS256", key, header, `{"sub":"1","sub":"2","type":"user","iss":"`+JWTIssuer+`","aud":"`+JWTAudience+`","exp":9999999999}`), http.StatusUnauthorized},
		{"alg none", "userToken=" + jwtkit.Segment([]byte(`{"alg":"none"}`)) + "." + jwtkit.Segment([]byte(`{"sub":"1"}`)) + ".c2ln", http.StatusUnauthorized},
		{"padded", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good) + "=", http.StatusUnauthorized},
		{"two values", "userToken=" + jwtkit.SignRaw(t, "HS256", key, header, good) + "; userToken=x.y.z", http.StatusUnauthorized},
	}
	for _, cache := range []bool{false, true} {
		var seen http.Header
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })
		h := floorHandler(t, app, cache)
		for _, c := range cases {
			for round := 0; round < 2; round++ { // the second from the memo, with cache on
				seen = nil
				req := httptest.NewRequest(http.MethodGet, "/app/page", nil)
				req.Header.Set("Cookie", c.cookie)
				req.Header.Set("X-Auth-User-Id", "spoofed")
				rw := httptest.NewRecorder()
				h.ServeHTTP(rw, req)
				if rw.Code != c.want {
					t.Fatalf("cache %v, %s, round %d: status %d, want %d", cache, c.name, round, rw.Code, c.want)
				}
				if c.want == http.StatusOK && (seen.Get("X-Auth-User-Id") != "1" || seen.Get("X-Auth-Token-Type") != "user" || seen.Get("X-Auth-User") == "") {
					t.Fatalf("cache %v, %s, round %d: the app saw %v", cache, c.name, round, seen)
				}
				if c.want != http.StatusOK && seen != nil {
					t.Fatalf("cache %v, %s: reached the app", cache, c.name)
				}
			}
		}
	}
}

// BenchmarkFloor is serve/jwt-hs256 and serve/jwt-hs256-cached of
// BenchmarkSteps for the floor plugin: its allocations per request under
// the Yaegi loader, beside authlayer's.
//
//	cd test && go test -run '^$' -bench '^BenchmarkFloor$' -benchmem ./benchtraefik/
func BenchmarkFloor(b *testing.B) {
	c := JWTCases(b)[0]
	for _, cache := range []bool{false, true} {
		name := map[bool]string{false: "hs256", true: "hs256-cached"}[cache]
		b.Run(name, func(b *testing.B) {
			h := floorHandler(b, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), cache)
			req := httptest.NewRequest(http.MethodGet, requestPath, nil)
			req.Header.Set("Cookie", "theme=dark; userToken="+c.Token)
			rw := httptest.NewRecorder()
			h.ServeHTTP(rw, req)
			if rw.Code != http.StatusOK {
				b.Fatalf("status %d", rw.Code)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.ServeHTTP(rw, req)
			}
		})
	}
}

package demo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer"
	"github.com/authlayer/authlayer/demo/app"
	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/test/loader"
	"gopkg.in/yaml.v3"
)

const composePath = "docker-compose.yml"

// composeDoc is the part of the compose file the Docker side depends on.
type composeDoc struct {
	Services map[string]struct {
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Ports   []string `yaml:"ports"`
		Volumes []string `yaml:"volumes"`
		Build   struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
			Target     string `yaml:"target"`
		} `yaml:"build"`
	} `yaml:"services"`
}

func TestComposeFileWiresTraefikToThePlugin(t *testing.T) {
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc composeDoc
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	traefik := doc.Services["traefik"]
	if !regexp.MustCompile(`^traefik:v3\.\d+\.\d+$`).MatchString(traefik.Image) {
		t.Errorf("traefik image %q: want an exact v3 tag", traefik.Image)
	}
	args := strings.Join(traefik.Command, "\n")
	for _, want := range []string{
		"--experimental.localPlugins.authlayer.moduleName=github.com/authlayer/authlayer",
		"--providers.docker=true", "--providers.docker.exposedbydefault=false", "--entrypoints.web.address=:8080",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("traefik command lacks %s", want)
		}
	}
	if !contains(traefik.Volumes, "..:/plugins-local/src/github.com/authlayer/authlayer:ro") {
		t.Errorf("the repository root is not mounted where Traefik reads local plugins: %v", traefik.Volumes)
	}
	if !contains(traefik.Ports, "8080:8080") {
		t.Errorf("ports %v: want 8080:8080", traefik.Ports)
	}
	for name, target := range map[string]string{"authbackend": "authbackend", "app": "app"} {
		b := doc.Services[name].Build
		if b.Context != ".." || b.Dockerfile != "demo/Dockerfile" || b.Target != target {
			t.Errorf("%s build = %+v", name, b)
		}
		dockerfile, err := os.ReadFile("Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(dockerfile), " AS "+target+"\n") {
			t.Errorf("Dockerfile has no stage %s", target)
		}
	}

	services, err := devstack.ReadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	appLabels, backendLabels := services["app"].Labels, services["authbackend"].Labels
	for key, want := range map[string]string{
		"traefik.enable":                                     "true",
		"traefik.http.routers.app.rule":                      "PathPrefix(`/`)",
		"traefik.http.routers.app.middlewares":               "authlayer",
		"traefik.http.services.app.loadbalancer.server.port": "9002",
	} {
		if appLabels[key] != want {
			t.Errorf("app label %s = %q, want %q", key, appLabels[key], want)
		}
	}
	if backendLabels["traefik.http.routers.auth.rule"] != "PathPrefix(`/auth/`)" || backendLabels["traefik.http.services.authbackend.loadbalancer.server.port"] != "9001" {
		t.Errorf("authbackend labels = %v", backendLabels)
	}
	if _, ok := backendLabels["traefik.http.routers.auth.middlewares"]; ok {
		t.Error("the /auth/ router must reach the backend without the middleware")
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestComposeBackendAgreesWithLabels: the backend container's environment
// and the middleware's labels describe one setup.
func TestComposeBackendAgreesWithLabels(t *testing.T) {
	services, err := devstack.ReadCompose(composePath)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := devstack.LoadSetup(composePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	env := services["authbackend"].Environment
	if !setup.GuestEnabled || env["AUTH_GUEST_USERNAME"] != setup.GuestUsername || env["AUTH_GUEST_PASSWORD"] != setup.GuestPassword {
		t.Errorf("guest credentials: labels %q/%q, backend %q/%q", setup.GuestUsername, setup.GuestPassword, env["AUTH_GUEST_USERNAME"], env["AUTH_GUEST_PASSWORD"])
	}
	if env["AUTH_SECURE_COOKIES"] != "false" || setup.SecureCookies {
		t.Errorf("plain-http demo: want Secure off on both sides (backend %q, labels secure=%v)", env["AUTH_SECURE_COOKIES"], setup.SecureCookies)
	}
	if env["AUTH_SINGLE_TOKEN"] != "false" || setup.RefreshCookie != authbackend.DefaultRefreshCookie {
		t.Errorf("dual-token mode: backend AUTH_SINGLE_TOKEN=%q, labels cookies.refresh=%q", env["AUTH_SINGLE_TOKEN"], setup.RefreshCookie)
	}
	u, err := url.Parse(services["app"].Labels[devstack.LabelPrefix+"backend.url"])
	if err != nil || u.Host != "authbackend:9001" || env["AUTH_ADDR"] != ":9001" {
		t.Errorf("backend.url %v and AUTH_ADDR %q disagree", u, env["AUTH_ADDR"])
	}
}

// sentinel is a next handler New can only hand back unchanged.
type sentinel struct{}

func (*sentinel) ServeHTTP(http.ResponseWriter, *http.Request) {}

// skipIfPlaceholder skips when the plugin's New still returns next as is.
func skipIfPlaceholder(t *testing.T, options map[string]interface{}) {
	t.Helper()
	next := &sentinel{}
	h, err := loader.Compiled()(options, next, devstack.DevHostMiddlewareName)
	if err != nil {
		t.Fatalf("the compose labels do not make a valid middleware: %v", err)
	}
	if h == nil {
		t.Fatal("New returned a nil handler")
	}
	if h == http.Handler(next) {
		t.Skip("authlayer.New is still a placeholder (it returns next unchanged): nothing to run end to end")
	}
}

// TestComposeLabelsMakeAValidMiddleware decodes the labels as Traefik does
// into CreateConfig's result and hands it to New, compiled and interpreted.
func TestComposeLabelsMakeAValidMiddleware(t *testing.T) {
	setup, err := devstack.LoadSetup(composePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Backend.URL != "http://127.0.0.1:9001" || cfg.Cookies.Secure || cfg.Cookies.Refresh != "refreshToken" ||
		!cfg.Guest.Enabled || cfg.Guest.Username != "demo-guest" ||
		strings.Join(cfg.Routes.Protected, ",") != "/dashboard,/api/me" || strings.Join(cfg.Routes.AuthOnly, ",") != "/login" ||
		len(cfg.Routes.Roles) != 1 || cfg.Routes.Roles[0].Path != "/admin" || strings.Join(cfg.Routes.Roles[0].Roles, ",") != "admin" {
		t.Errorf("decoded config = %+v", cfg)
	}
	if _, err := authlayer.New(context.Background(), http.NotFoundHandler(), cfg, devstack.DevHostMiddlewareName); err != nil {
		t.Fatalf("New refused the compose configuration: %v", err)
	}
	skipIfPlaceholder(t, setup.Options)
	factory, err := loader.Yaegi("..")
	if err != nil {
		t.Fatalf("Yaegi: %v", err)
	}
	if _, err := factory(setup.Options, http.NotFoundHandler(), devstack.DevHostMiddlewareName); err != nil {
		t.Fatalf("interpreted New refused the compose configuration: %v", err)
	}
}

// stack is the demo on loopback: real backend, real app, dev host in
// front with authlayer interpreted by Yaegi.
type stack struct {
	front, backend, app *httptest.Server
}

func startStack(t *testing.T, accessTTL time.Duration) *stack {
	t.Helper()
	// Reserve the backend's address first: the options point at it.
	backendSrv := httptest.NewUnstartedServer(nil)
	setup, err := devstack.LoadSetup(composePath, backendSrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	skipIfPlaceholder(t, setup.Options)
	quiet := log.New(io.Discard, "", 0)
	backend, err := authbackend.New(authbackend.Config{
		Secret: []byte("test-secret-test-secret-test-secret!"), Users: authbackend.DemoUsers(),
		GuestUsername: setup.GuestUsername, GuestPassword: setup.GuestPassword,
		AccessTTL: accessTTL, SecureCookies: setup.SecureCookies, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	backendSrv.Config.Handler = backend
	backendSrv.Start()
	t.Cleanup(backendSrv.Close)
	appHandler, err := app.New(app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appSrv := httptest.NewServer(appHandler)
	t.Cleanup(appSrv.Close)

	factory, err := loader.Yaegi("..")
	if err != nil {
		t.Fatalf("Yaegi: %v", err)
	}
	backendURL, _ := url.Parse(backendSrv.URL)
	appURL, _ := url.Parse(appSrv.URL)
	host, err := devstack.NewDevHost(factory, setup.Options, backendURL, appURL, quiet)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(host)
	t.Cleanup(front.Close)
	return &stack{front: front, backend: backendSrv, app: appSrv}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so each hop can be checked.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// reply is what the browser keeps of a response: its status and headers
// (do reads the body and closes it).
type reply struct {
	StatusCode int
	Header     http.Header
}

func (b *browser) do(req *http.Request) (reply, string) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{StatusCode: resp.StatusCode, Header: resp.Header}, string(body)
}

func (b *browser) get(path string) (reply, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (reply, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestDevHostServesHomeEndToEnd(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL)
	b := newBrowser(t, s.front.URL)
	resp, body := b.get("/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(body, "Hello, guest") || b.cookie("guestToken") == "" {
		t.Errorf("GET /: want a guest session (guest cookie and greeting); cookie set: %v", b.cookie("guestToken") != "")
	}
	if resp, _ := b.get("/static/style.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/style.css = %d", resp.StatusCode)
	}
}

func TestDevHostLoginFlowEndToEnd(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL)
	b := newBrowser(t, s.front.URL)

	resp, _ := b.get("/dashboard")
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("anonymous GET /dashboard = %d to %q, want a redirect to /login", resp.StatusCode, loc)
	}
	resp, body := b.get(loc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="redirect" value="/dashboard"`) {
		t.Fatalf("GET %s = %d; the form must carry redirect=/dashboard", loc, resp.StatusCode)
	}

	resp, _ = b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}, "redirect": {"/dashboard"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		t.Fatalf("login = %d to %q, want 303 to /dashboard", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body = b.get("/dashboard")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Alice Martin") || !strings.Contains(body, "u-alice") {
		t.Fatalf("GET /dashboard after login = %d, want alice's dashboard", resp.StatusCode)
	}
	if resp, _ := b.get("/login"); resp.StatusCode < 300 || resp.StatusCode > 399 {
		t.Errorf("GET /login when signed in = %d, want a redirect away (auth-only)", resp.StatusCode)
	}
	if resp, _ := b.get("/admin"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /admin as alice = %d, want 403 (role rule)", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, s.front.URL+"/api/me", nil)
	resp, body = b.do(req)
	var me struct {
		Success bool `json:"success"`
		Data    struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &me); err != nil || resp.StatusCode != http.StatusOK || me.Data.ID != "u-alice" {
		t.Errorf("GET /api/me = %d %s", resp.StatusCode, body)
	}

	resp, _ = b.post("/auth/logout", nil)
	if resp.StatusCode != http.StatusSeeOther || b.cookie("userToken") != "" || b.cookie("refreshToken") != "" {
		t.Errorf("logout = %d; cookies left: user %v, refresh %v", resp.StatusCode, b.cookie("userToken") != "", b.cookie("refreshToken") != "")
	}
	if resp, _ := b.get("/dashboard"); resp.StatusCode < 300 || resp.StatusCode > 399 {
		t.Errorf("GET /dashboard after logout = %d, want a redirect to login", resp.StatusCode)
	}

	admin := newBrowser(t, s.front.URL)
	admin.post("/auth/login", url.Values{"username": {"admin"}, "password": {"admin"}})
	if resp, body := admin.get("/admin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Admin area") {
		t.Errorf("GET /admin as admin = %d", resp.StatusCode)
	}
}

// TestDevHostStripsForgedIdentity: a client cannot pass as admin by
// sending the identity headers itself.
func TestDevHostStripsForgedIdentity(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL)
	b := newBrowser(t, s.front.URL)
	forged := base64.StdEncoding.EncodeToString([]byte(`{"id":"u-admin","type":"user","role":"admin","name":"Mallory"}`))
	for _, path := range []string{"/admin", "/dashboard", "/"} {
		req, _ := http.NewRequest(http.MethodGet, s.front.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("X-Auth-User", forged)
		req.Header.Set("X-Auth-User-Id", "u-admin")
		req.Header.Set("X-Auth-Token-Type", "user")
		resp, body := b.do(req)
		if resp.StatusCode == http.StatusOK && strings.Contains(body, "Mallory") {
			t.Errorf("GET %s with forged headers = 200 as Mallory", path)
		}
	}
}

// TestDevHostRefreshesExpiredToken: once the access token expires, the
// next request is refreshed by authlayer (the rotated cookies come back
// and the app sees X-Refreshed-Token).
func TestDevHostRefreshesExpiredToken(t *testing.T) {
	s := startStack(t, time.Second)
	b := newBrowser(t, s.front.URL)
	b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}})
	firstRefresh := b.cookie("refreshToken")
	if firstRefresh == "" {
		t.Fatal("login set no refresh cookie")
	}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		resp, body := b.get("/dashboard")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /dashboard = %d while the session should be refreshed", resp.StatusCode)
		}
		if strings.Contains(body, "refreshed the token on this very request") {
			if got := b.cookie("refreshToken"); got == "" || got == firstRefresh {
				t.Error("the refresh token cookie was not rotated")
			}
			return
		}
	}
	t.Fatal("no refresh seen within 8s of a 1s access token")
}

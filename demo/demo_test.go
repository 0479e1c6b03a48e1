package demo_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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
	// Only authlayer calls the backend (backend.url): no router may lead a
	// browser to it, past the middleware, to /auth/refresh or /auth/guest.
	for k, v := range backendLabels {
		if strings.HasPrefix(k, "traefik.") {
			t.Errorf("authbackend label %s=%s: the backend must have no router (authlayer answers /auth/login, /auth/logout and /auth/session)", k, v)
		}
	}
	for k := range appLabels {
		if strings.HasPrefix(k, "traefik.http.routers.") && !strings.HasPrefix(k, "traefik.http.routers.app.") {
			t.Errorf("app label %s: want the one router, app", k)
		}
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
	if _, ok := env["AUTH_SECURE_COOKIES"]; ok {
		t.Error("AUTH_SECURE_COOKIES: the backend sets no cookies any more (authlayer's cookies.secure decides)")
	}
	// The proactive window must be well inside the access tokens' life,
	// or every request would refresh.
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, cfg); err != nil {
		t.Fatal(err)
	}
	ttl, err := time.ParseDuration(env["AUTH_ACCESS_TTL"])
	if err != nil {
		t.Fatalf("AUTH_ACCESS_TTL: %v", err)
	}
	window, err := time.ParseDuration(cfg.Refresh.ProactiveWindow)
	if err != nil || window <= 0 || window > ttl/2 {
		t.Errorf("refresh.proactiveWindow %q with %s access tokens: want a positive window at most half their life", cfg.Refresh.ProactiveWindow, ttl)
	}
	if env["AUTH_SINGLE_TOKEN"] != "false" || setup.RefreshCookie == "" {
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
	if cfg.Endpoints.Login != "/auth/login" || cfg.Endpoints.Logout != "/auth/logout" || cfg.Endpoints.Session != "/auth/session" ||
		cfg.Refresh.ProactiveWindow != "5s" || cfg.Cookies.ExpiryHint != "authExpires" || !cfg.CSRF.Enabled || len(cfg.CSRF.Secret) < 32 {
		t.Errorf("decoded endpoints %+v, proactive window %q, expiry hint %q, csrf enabled %v",
			cfg.Endpoints, cfg.Refresh.ProactiveWindow, cfg.Cookies.ExpiryHint, cfg.CSRF.Enabled)
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
	// validations counts the backend's GET /auth/me calls: authlayer
	// asking it whether a token is valid; logouts its POST /auth/logout
	// calls.
	validations, logouts *atomic.Int64
}

// startStack runs the demo as `make demo` does, with the compose file's
// labels (overridden by labels, keys after the plugin prefix, for
// example "jwt.mode") and its signing key.
func startStack(t *testing.T, accessTTL time.Duration, labels map[string]string) *stack {
	t.Helper()
	// Reserve the backend's address first: the options point at it.
	backendSrv := httptest.NewUnstartedServer(nil)
	setup, err := devstack.LoadSetup(composePath, backendSrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	options := setup.Options
	if len(labels) > 0 {
		all := map[string]string{}
		for k, v := range setup.Labels {
			all[k] = v
		}
		for k, v := range labels {
			all[devstack.LabelPrefix+k] = v
		}
		if options, err = loader.FromLabels(all, devstack.MiddlewareName, devstack.PluginName); err != nil {
			t.Fatal(err)
		}
	}
	skipIfPlaceholder(t, options)
	quiet := log.New(io.Discard, "", 0)
	backend, err := authbackend.New(authbackend.Config{
		SigningKey: setup.SigningKey, Users: authbackend.DemoUsers(),
		GuestUsername: setup.GuestUsername, GuestPassword: setup.GuestPassword,
		AccessTTL: accessTTL, SingleToken: setup.RefreshCookie == "", Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	validations, logouts := &atomic.Int64{}, &atomic.Int64{}
	backendSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth/me":
			validations.Add(1)
		case "/auth/logout":
			logouts.Add(1)
		}
		backend.ServeHTTP(w, r)
	})
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
	appURL, _ := url.Parse(appSrv.URL)
	host, err := devstack.NewDevHost(factory, options, appURL, quiet)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(host)
	t.Cleanup(front.Close)
	return &stack{front: front, backend: backendSrv, app: appSrv, validations: validations, logouts: logouts}
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

// post submits a form as a browser does, with an Origin header (CSRF is on:
// authlayer refuses an unsafe request that shows no same-origin sign).
func (b *browser) post(path string, form url.Values) (reply, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// postJSON posts JSON as a page's script does (fetch from the same origin).
func (b *browser) postJSON(path, body string) (reply, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// getJSON fetches path as a page's script does.
func (b *browser) getJSON(path string, v interface{}) reply {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	req.Header.Set("Accept", "application/json")
	resp, body := b.do(req)
	if err := json.Unmarshal([]byte(body), v); err != nil {
		b.t.Fatalf("GET %s = %d: not JSON: %q", path, resp.StatusCode, body)
	}
	return resp
}

// setCookie stores a cookie for the front, as if the server had set it.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.base)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
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
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	b := newBrowser(t, s.front.URL)
	resp, body := b.get("/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	if !strings.Contains(body, "Hello, guest") || b.cookie("guestToken") == "" {
		t.Errorf("GET /: want a guest session (guest cookie and greeting); cookie set: %v", b.cookie("guestToken") != "")
	}
	if !strings.Contains(body, "<dt>Token check</dt><dd>verified locally</dd>") {
		t.Error("GET /: the guest token authlayer minted is not shown as verified locally")
	}
	if resp, _ := b.get("/static/style.css"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/style.css = %d", resp.StatusCode)
	}
	if n := s.validations.Load(); n != 0 {
		t.Errorf("authlayer asked the backend to validate %d times; jwt.mode=local verifies every token itself", n)
	}
}

// sessionInfo is authlayer's endpoints.session answer.
type sessionInfo struct {
	Authenticated bool                   `json:"authenticated"`
	TokenType     *string                `json:"tokenType"`
	User          map[string]interface{} `json:"user"`
	ExpiresAt     *int64                 `json:"expiresAt"`
}

// jwtShaped matches a compact JWS: no answer a page receives may hold one.
var jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`)

// assertNoToken fails if body holds one of tokens, or anything shaped like
// a JWT.
func assertNoToken(t *testing.T, what, body string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok != "" && strings.Contains(body, tok) {
			t.Errorf("%s: the answer holds a token", what)
		}
	}
	if jwtShaped.MatchString(body) {
		t.Errorf("%s: the answer holds a JWT", what)
	}
}

// jwtExp reads a token's exp claim (its signature is authlayer's and the
// backend's business).
func jwtExp(t *testing.T, token string) int64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Exp == 0 {
		t.Fatalf("no exp claim: %v", err)
	}
	return c.Exp
}

func TestDevHostLoginFlowEndToEnd(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	b := newBrowser(t, s.front.URL)

	resp, _ := b.get("/dashboard")
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("anonymous GET /dashboard = %d to %q, want a redirect to /login", resp.StatusCode, loc)
	}
	resp, body := b.get(loc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="redirect" value="/dashboard"`) || !strings.Contains(body, `action="/auth/login"`) {
		t.Fatalf("GET %s = %d; the form must post to /auth/login and carry redirect=/dashboard", loc, resp.StatusCode)
	}
	guest := b.cookie("guestToken")
	if guest == "" {
		t.Fatal("no guest token before login")
	}

	// A wrong password: back to the login page, with the error and the
	// return-to value, and no session.
	resp, _ = b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"nope"}, "redirect": {"/dashboard"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?error=invalid_credentials&redirect=%2Fdashboard" {
		t.Fatalf("failed login = %d to %q, want 303 to /login?error=invalid_credentials&redirect=%%2Fdashboard", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.cookie("userToken") != "" {
		t.Fatal("a failed login set a user cookie")
	}
	resp, body = b.get(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Wrong username or password.") || !strings.Contains(body, `name="redirect" value="/dashboard"`) {
		t.Fatalf("the login page after a failed login = %d: want the error and the return-to value", resp.StatusCode)
	}

	// The form login through authlayer's endpoint: 303 to the return-to
	// page, authlayer's cookies set, the guest's cleared.
	resp, body = b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}, "redirect": {"/dashboard"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		t.Fatalf("login = %d to %q, want 303 to /dashboard", resp.StatusCode, resp.Header.Get("Location"))
	}
	access, refresh := b.cookie("userToken"), b.cookie("refreshToken")
	if access == "" || refresh == "" || b.cookie("guestToken") != "" {
		t.Fatalf("after login: user cookie %v, refresh cookie %v, guest cookie left %v", access != "", refresh != "", b.cookie("guestToken") != "")
	}
	assertNoToken(t, "the login answer", body, access, refresh, guest)
	if hint := b.cookie("authExpires"); hint != strconv.FormatInt(jwtExp(t, access), 10) {
		t.Errorf("the expiry hint cookie = %q, want the access token's exp %d", hint, jwtExp(t, access))
	}
	checkCookieAttributes(t, resp.Header)

	resp, body = b.get("/dashboard")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Alice Martin") || !strings.Contains(body, "u-alice") {
		t.Fatalf("GET /dashboard after login = %d, want alice's dashboard", resp.StatusCode)
	}
	assertNoToken(t, "the dashboard", body, access, refresh)
	// authlayer verified the backend's EdDSA token itself and says so, and
	// forwarded the token's claims as the user.
	if !strings.Contains(body, "verified locally") || strings.Contains(body, "validated by the backend") {
		t.Errorf("GET /dashboard after login: the dashboard does not show the token as verified locally")
	}
	for _, claim := range []string{"<th>knd</th><td><code>access</code>", "<th>aud</th><td><code>[&#34;authlayer-demo-app&#34;]</code>", "<th>roles</th><td><code>[&#34;user&#34;]</code>"} {
		if !strings.Contains(body, claim) {
			t.Errorf("GET /dashboard after login: the user table lacks the token claim %s", claim)
		}
	}

	// The session endpoint: who is logged in, without a token.
	var info sessionInfo
	resp = b.getJSON("/auth/session", &info)
	if resp.StatusCode != http.StatusOK || !info.Authenticated || info.TokenType == nil || *info.TokenType != "user" ||
		info.User["sub"] != "u-alice" || info.ExpiresAt == nil || *info.ExpiresAt != jwtExp(t, access) {
		t.Errorf("GET /auth/session = %d %+v, want alice's session expiring at her token's exp", resp.StatusCode, info)
	}
	if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("GET /auth/session: Cache-Control %q, want no-store", got)
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

	// Logout through authlayer: the backend is told, every auth cookie is
	// cleared, and the refresh token is dead at the backend.
	resp, _ = b.post("/auth/logout", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("logout = %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, name := range []string{"userToken", "refreshToken", "authExpires"} {
		if b.cookie(name) != "" {
			t.Errorf("after logout: the %s cookie is left", name)
		}
	}
	if s.logouts.Load() != 1 {
		t.Errorf("the backend's /auth/logout was called %d times, want once", s.logouts.Load())
	}
	if code := backendRefresh(t, s, refresh); code != http.StatusForbidden {
		t.Errorf("the backend exchanged the refresh token after logout: %d, want 403 (revoked)", code)
	}
	if resp, _ := b.get("/dashboard"); resp.StatusCode < 300 || resp.StatusCode > 399 {
		t.Errorf("GET /dashboard after logout = %d, want a redirect to login", resp.StatusCode)
	}
	info = sessionInfo{}
	if b.getJSON("/auth/session", &info); info.Authenticated || info.User["sub"] == "u-alice" {
		t.Errorf("GET /auth/session after logout = %+v, want no user", info)
	}

	// A script's login: JSON in, the backend's answer out, without the
	// tokens (they are in the cookies only).
	admin := newBrowser(t, s.front.URL)
	admin.get("/")
	resp, body = admin.postJSON("/auth/login", `{"username":"admin","password":"admin"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"success":true`) || !strings.Contains(body, `"name":"Ada Admin"`) {
		t.Fatalf("JSON login = %d %s, want 200 with the backend's user", resp.StatusCode, body)
	}
	assertNoToken(t, "the JSON login answer", body, admin.cookie("userToken"), admin.cookie("refreshToken"))
	if strings.Contains(body, "accessToken") || strings.Contains(body, "refreshToken") {
		t.Errorf("the JSON login answer names a token field: %s", body)
	}
	if resp, body := admin.get("/admin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Admin area") {
		t.Errorf("GET /admin as admin = %d", resp.StatusCode)
	}
	resp, body = admin.postJSON("/auth/login", `{"username":"admin","password":"wrong"}`)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password") {
		t.Errorf("JSON login with a wrong password = %d %s, want the backend's 401 and message", resp.StatusCode, body)
	}
	resp, body = admin.postJSON("/auth/logout", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"success":true`) || admin.cookie("userToken") != "" {
		t.Errorf("JSON logout = %d %s", resp.StatusCode, body)
	}

	// jwt.mode=local: not one token went to the backend's /auth/me, users'
	// and guests' alike; the role rule read the token's roles claim.
	if n := s.validations.Load(); n != 0 {
		t.Errorf("authlayer asked the backend to validate %d times; jwt.mode=local verifies every token itself", n)
	}
}

// checkCookieAttributes: the cookies authlayer sets at login, with its
// attributes (plain-http demo: no Secure): the tokens HttpOnly, the
// expiry hint and the CSRF token readable by scripts.
func checkCookieAttributes(t *testing.T, h http.Header) {
	t.Helper()
	got := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		got[c.Name] = c
	}
	for name, httpOnly := range map[string]bool{"userToken": true, "refreshToken": true, "authExpires": false, "__csrf": false} {
		c := got[name]
		if c == nil {
			t.Errorf("login set no %s cookie", name)
			continue
		}
		if c.HttpOnly != httpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
			t.Errorf("%s cookie: HttpOnly %v SameSite %v Path %q, want HttpOnly %v, Lax, /", name, c.HttpOnly, c.SameSite, c.Path, httpOnly)
		}
	}
	if c := got["guestToken"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("login did not clear the guest cookie: %+v", c)
	}
}

// backendRefresh asks the backend itself to exchange a refresh token, as
// authlayer would, and returns the status.
func backendRefresh(t *testing.T, s *stack, refresh string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.backend.URL+"/auth/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+refresh)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDevHostBackendIsNotExposed: the browser reaches the auth backend
// only through authlayer's endpoints; its own paths are the app's 404s.
func TestDevHostBackendIsNotExposed(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	b := newBrowser(t, s.front.URL)
	b.get("/")
	for _, path := range []string{"/auth/refresh", "/auth/guest", "/auth/me"} {
		resp, body := b.postJSON(path, `{"username":"demo-guest","password":"demo-guest-password"}`)
		if resp.StatusCode < 400 || strings.Contains(body, "accessToken") {
			t.Errorf("POST %s through the front = %d %s, want the app's refusal", path, resp.StatusCode, body)
		}
		if resp, _ := b.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s through the front = %d, want the app's 404", path, resp.StatusCode)
		}
	}
}

// TestDevHostLoginCSRF: the backend no longer sees the browser, so
// authlayer refuses a cross-site login or logout (login CSRF, forced
// logout), and one that shows no origin and no CSRF token.
func TestDevHostLoginCSRF(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	b := newBrowser(t, s.front.URL)
	b.get("/")
	form := url.Values{"username": {"alice"}, "password": {"alice"}}
	for name, set := range map[string]func(*http.Request){
		"cross-site Fetch Metadata": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"another Origin":            func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") },
		"no origin, no token":       func(*http.Request) {},
	} {
		for _, path := range []string{"/auth/login", "/auth/logout"} {
			req, _ := http.NewRequest(http.MethodPost, s.front.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			set(req)
			if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s POST %s = %d, want 403", name, path, resp.StatusCode)
			}
		}
	}
	if b.cookie("userToken") != "" {
		t.Fatal("a refused login set a user cookie")
	}
	// A script without Fetch Metadata or Origin echoes the CSRF cookie.
	csrf := b.cookie("__csrf")
	if csrf == "" {
		t.Fatal("no __csrf cookie for the guest")
	}
	req, _ := http.NewRequest(http.MethodPost, s.front.URL+"/auth/login", strings.NewReader(`{"username":"alice","password":"alice"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	if resp, body := b.do(req); resp.StatusCode != http.StatusOK || b.cookie("userToken") == "" {
		t.Errorf("login with the guest's CSRF token = %d %s, want 200 and a session", resp.StatusCode, body)
	}
}

// TestDevHostProactiveRefresh: with the demo's refresh.proactiveWindow (5s),
// a request in an access token's last 5 s refreshes it while it is still
// valid: new cookies, a later expiry hint, the refresh token rotated.
func TestDevHostProactiveRefresh(t *testing.T) {
	const ttl = 8 * time.Second // the window is 5s: the first 3s are quiet
	s := startStack(t, ttl, nil)
	b := newBrowser(t, s.front.URL)
	b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}})
	access, refresh := b.cookie("userToken"), b.cookie("refreshToken")
	if access == "" {
		t.Fatal("login set no user cookie")
	}
	exp := jwtExp(t, access)

	// Outside the window: nothing changes.
	var info sessionInfo
	b.getJSON("/auth/session", &info)
	if time.Until(time.Unix(exp, 0)) > 5*time.Second+500*time.Millisecond && b.cookie("userToken") != access {
		t.Fatal("the token was refreshed outside the proactive window")
	}

	// Inside it, before the expiry.
	time.Sleep(time.Until(time.Unix(exp, 0).Add(-3 * time.Second)))
	info = sessionInfo{}
	resp := b.getJSON("/auth/session", &info)
	asked := time.Now()
	if !asked.Before(time.Unix(exp, 0)) {
		t.Fatalf("the request came after the expiry (%s late): the machine is too slow for this test", asked.Sub(time.Unix(exp, 0)))
	}
	newAccess, newRefresh := b.cookie("userToken"), b.cookie("refreshToken")
	if newAccess == access || newAccess == "" {
		t.Fatalf("GET /auth/session %s before the expiry = %d: the user cookie was not refreshed", time.Unix(exp, 0).Sub(asked).Round(time.Millisecond), resp.StatusCode)
	}
	if newRefresh == refresh || newRefresh == "" {
		t.Error("the refresh token was not rotated")
	}
	newExp := jwtExp(t, newAccess)
	if newExp <= exp || b.cookie("authExpires") != strconv.FormatInt(newExp, 10) {
		t.Errorf("after the proactive refresh: exp %d (was %d), hint %q", newExp, exp, b.cookie("authExpires"))
	}
	if !info.Authenticated || info.ExpiresAt == nil || *info.ExpiresAt != newExp {
		t.Errorf("the session answer on the refreshing request = %+v, want the new token's expiry %d", info, newExp)
	}
}

// TestDevHostStripsForgedIdentity: a client cannot pass as admin by
// sending the identity headers itself.
func TestDevHostStripsForgedIdentity(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	b := newBrowser(t, s.front.URL)
	forged := base64.StdEncoding.EncodeToString([]byte(`{"id":"u-admin","type":"user","role":"admin","name":"Mallory"}`))
	for _, path := range []string{"/admin", "/dashboard", "/"} {
		req, _ := http.NewRequest(http.MethodGet, s.front.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("X-Auth-User", forged)
		req.Header.Set("X-Auth-User-Id", "u-admin")
		req.Header.Set("X-Auth-Token-Type", "user")
		req.Header.Set("X-Auth-Verified-By", "backend")
		resp, body := b.do(req)
		if resp.StatusCode == http.StatusOK && strings.Contains(body, "Mallory") {
			t.Errorf("GET %s with forged headers = 200 as Mallory", path)
		}
		if strings.Contains(body, "validated by the backend") {
			t.Errorf("GET %s: the client's X-Auth-Verified-By reached the app", path)
		}
	}
}

// TestComposeSigningKeyWiring: the backend signs with the compose file's
// key, and the labels give authlayer exactly its public half (with the kid
// the backend's tokens carry), with the claims checks the backend's tokens
// pass.
func TestComposeSigningKeyWiring(t *testing.T) {
	setup, err := devstack.LoadSetup(composePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	if setup.SigningKey == nil {
		t.Fatalf("the compose file's %s service sets no %s", devstack.BackendService, authbackend.EnvPrivateKey)
	}
	cfg := authlayer.CreateConfig()
	if err := loader.Decode(setup.Options, cfg); err != nil {
		t.Fatal(err)
	}
	j := cfg.JWT
	if !j.Enabled || j.Mode != "local" || strings.Join(j.Algorithms, ",") != "EdDSA" || j.Issuer != authbackend.DefaultIssuer ||
		strings.Join(j.Audience, ",") != authbackend.AccessAudience || j.JWKSURL != "" {
		t.Errorf("jwt = %+v, want local EdDSA verification with the backend's issuer and access audience", j)
	}
	if cfg.Headers.VerifiedBy != app.HeaderVerifiedBy {
		t.Errorf("headers.verifiedBy = %q, want the header the app reads, %s", cfg.Headers.VerifiedBy, app.HeaderVerifiedBy)
	}
	// The app's forms and script use authlayer's endpoints and hint cookie.
	for option, pair := range map[string][2]string{
		"endpoints.login":    {cfg.Endpoints.Login, app.LoginEndpoint},
		"endpoints.logout":   {cfg.Endpoints.Logout, app.LogoutEndpoint},
		"endpoints.session":  {cfg.Endpoints.Session, app.SessionEndpoint},
		"cookies.expiryHint": {cfg.Cookies.ExpiryHint, app.ExpiryHintCookie},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s = %q, but the app uses %q", option, pair[0], pair[1])
		}
	}
	// The backend's login and logout are authlayer's defaults.
	if cfg.Backend.LoginPath != "auth/login" || cfg.Backend.LogoutPath != "auth/logout" {
		t.Errorf("backend.loginPath %q, logoutPath %q: the demo backend answers auth/login and auth/logout", cfg.Backend.LoginPath, cfg.Backend.LogoutPath)
	}
	if len(j.PublicKeys) != 1 {
		t.Fatalf("jwt.publicKeys has %d entries, want the backend's key only", len(j.PublicKeys))
	}
	assertPublicKeyOf(t, "compose jwt.publicKeys", j.PublicKeys[0], setup.SigningKey)
}

// assertPublicKeyOf checks that entry (a jwt.publicKeys value: PEM, with
// \n for newlines allowed) is key's public half named by its KeyID.
func assertPublicKeyOf(t *testing.T, what, entry string, key ed25519.PrivateKey) {
	t.Helper()
	block, rest := pem.Decode([]byte(strings.TrimSpace(strings.ReplaceAll(entry, `\n`, "\n"))))
	if block == nil || block.Type != "PUBLIC KEY" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("%s: want one PUBLIC KEY PEM block, got %q", what, entry)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	want := key.Public().(ed25519.PublicKey)
	if !want.Equal(pub) {
		t.Errorf("%s is not the public half of the backend's signing key", what)
	}
	if kid := block.Headers["kid"]; kid != authbackend.KeyID(want) {
		t.Errorf("%s: kid %q, want the one the backend's tokens carry, %q", what, kid, authbackend.KeyID(want))
	}
}

// TestDevHostVerifiesSignatures: authlayer accepts the backend's tokens
// because it checks them with the backend's public key, not because it
// accepts any token: a token forged with another key, even naming the
// right kid, is no session, and neither is the backend's own refresh
// token moved into the user cookie (right key, wrong audience).
func TestDevHostVerifiesSignatures(t *testing.T) {
	s := startStack(t, authbackend.DefaultAccessTTL, nil)
	setup, err := devstack.LoadSetup(composePath, "127.0.0.1:9001")
	if err != nil {
		t.Fatal(err)
	}
	pub := setup.SigningKey.Public().(ed25519.PublicKey)
	now := time.Now()
	claims := map[string]interface{}{
		"iss": authbackend.DefaultIssuer, "aud": []string{authbackend.AccessAudience}, "sub": "u-admin", "knd": "access",
		"type": "user", "roles": []string{"admin"}, "name": "Mallory", "jti": "forged", "fam": "forged",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := signEdDSA(t, otherKey, authbackend.KeyID(pub), claims)
	control := signEdDSA(t, setup.SigningKey, authbackend.KeyID(pub), claims)

	// The control: the same claims signed with the demo key pass, so the
	// refusals below are the signature's doing.
	b := newBrowser(t, s.front.URL)
	b.setCookie("userToken", control)
	if resp, body := b.get("/admin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Mallory") {
		t.Fatalf("GET /admin with a token signed by the demo key = %d, want 200 (the control)", resp.StatusCode)
	}

	b = newBrowser(t, s.front.URL)
	b.setCookie("userToken", forged)
	if resp, body := b.get("/admin"); resp.StatusCode == http.StatusOK || strings.Contains(body, "Mallory") {
		t.Errorf("GET /admin with a token forged with another key = %d, want a refusal", resp.StatusCode)
	}

	alice := newBrowser(t, s.front.URL)
	alice.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}})
	refresh := alice.cookie("refreshToken")
	if refresh == "" {
		t.Fatal("login set no refresh cookie")
	}
	// The refresh token verifies (right key) but is for another audience:
	// not a session. authlayer can only do what it does with any user
	// token that is no longer good without a refresh cookie: present it
	// to the backend's /auth/refresh, which issues a new access token.
	b = newBrowser(t, s.front.URL)
	b.setCookie("userToken", refresh)
	resp, body := b.get("/dashboard")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "refreshed the token on this very request") {
		t.Errorf("GET /dashboard with a refresh token as the user token = %d, want it exchanged at /auth/refresh, not taken as a session", resp.StatusCode)
	}
	if got := b.cookie("userToken"); got == "" || got == refresh {
		t.Error("the refresh token stayed in the user cookie: authlayer took it as an access token")
	}
	if n := s.validations.Load(); n != 0 {
		t.Errorf("authlayer asked the backend to validate %d times in jwt.mode=local", n)
	}
}

// signEdDSA makes a compact JWS by hand (crypto/ed25519 and JSON only).
func signEdDSA(t *testing.T, key ed25519.PrivateKey, kid string, claims map[string]interface{}) string {
	t.Helper()
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// TestDevHostLogoutAndJWTMode shows what jwt.mode changes: a copy of the
// access token replayed after the session was revoked at the backend
// without authlayer seeing it (another replica's logout, an admin's
// revocation). In the demo's mode, local, it keeps working until it
// expires (20s by default: the backend is never asked); with revalidate
// the backend is asked again every revalidateInterval and its "revoked"
// ends it. With jwt off the backend validates every token, and the page
// says so. A logout through authlayer's own endpoint is refused at once
// in every mode: authlayer marks the token logged out.
func TestDevHostLogoutAndJWTMode(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		labels      map[string]string
		wantCheck   string // the dashboard's token check
		wantReplay  bool   // the replayed token still opens the dashboard
		wantBackend bool   // authlayer asked /auth/me
	}{
		{"local", nil, "verified locally", true, false},
		{"revalidate", map[string]string{"jwt.mode": "revalidate", "jwt.revalidateInterval": "1s"}, "verified locally", false, true},
		{"jwt off", map[string]string{"jwt.enabled": "false"}, "validated by the backend", false, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s := startStack(t, authbackend.DefaultAccessTTL, tc.labels)

			// Logged out through authlayer: the copy is refused at once.
			b := newBrowser(t, s.front.URL)
			b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}})
			access := b.cookie("userToken")
			if resp, body := b.get("/dashboard"); resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.wantCheck) {
				t.Fatalf("GET /dashboard = %d, want alice's dashboard saying %q", resp.StatusCode, tc.wantCheck)
			}
			if resp, _ := b.post("/auth/logout", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout = %d", resp.StatusCode)
			}
			replay := newBrowser(t, s.front.URL)
			replay.setCookie("userToken", access)
			if resp, body := replay.get("/dashboard"); resp.StatusCode == http.StatusOK && strings.Contains(body, "Alice Martin") {
				t.Errorf("jwt.mode=%s: the access token replayed after a logout through authlayer opened the dashboard", tc.mode)
			}

			// Revoked at the backend behind authlayer's back.
			b = newBrowser(t, s.front.URL)
			b.post("/auth/login", url.Values{"username": {"alice"}, "password": {"alice"}})
			access = b.cookie("userToken")
			if resp, _ := b.get("/dashboard"); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /dashboard = %d after the second login", resp.StatusCode)
			}
			req, _ := http.NewRequest(http.MethodPost, s.backend.URL+"/auth/logout", nil)
			req.Header.Set("Authorization", "Bearer "+access)
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("the backend's logout: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			// Past the revalidate interval (1s) and cache.ttl (2s, the
			// backend's answers are cached that long).
			time.Sleep(2500 * time.Millisecond)

			replay = newBrowser(t, s.front.URL)
			replay.setCookie("userToken", access)
			resp, body := replay.get("/dashboard")
			replayed := resp.StatusCode == http.StatusOK && strings.Contains(body, "Alice Martin")
			if replayed != tc.wantReplay {
				t.Errorf("jwt.mode=%s: the access token replayed after a revocation at the backend opened the dashboard: %v, want %v (status %d)", tc.mode, replayed, tc.wantReplay, resp.StatusCode)
			}
			if asked := s.validations.Load() > 0; asked != tc.wantBackend {
				t.Errorf("jwt.mode=%s: authlayer asked the backend's /auth/me: %v, want %v", tc.mode, asked, tc.wantBackend)
			}
		})
	}
}

// TestDevHostRefreshesExpiredToken: once the access token expires, the
// next request is refreshed by authlayer (the rotated cookies come back
// and the app sees X-Refreshed-Token). The proactive window is turned off
// here: with 1s tokens it would refresh every request.
func TestDevHostRefreshesExpiredToken(t *testing.T) {
	s := startStack(t, time.Second, map[string]string{"refresh.proactiveWindow": "0s"})
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

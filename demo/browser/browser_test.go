package browser_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const (
	// defaultChromium is Debian's chromium package's binary.
	defaultChromium = "/usr/bin/chromium"
	// localAccessTTL is the access tokens' lifetime of the stacks the test
	// starts itself: short, so that a refresh happens within the test.
	localAccessTTL = 3 * time.Second
	// testTimeout bounds the whole walk-through, browser start included.
	testTimeout = 3 * time.Minute
	// startTimeout bounds Chromium's start.
	startTimeout = 45 * time.Second
	// stepTimeout bounds every browser action (a navigation, a click).
	stepTimeout = 20 * time.Second
	// maxRefreshReloads bounds the reloads waiting for the rotated cookie
	// once the access token has expired (normally the first one refreshes).
	maxRefreshReloads = 6
)

// Cookie names, as the compose labels and the demo backend set them.
const (
	userCookie    = "userToken"
	guestCookie   = "guestToken"
	refreshCookie = "refreshToken"
)

// chromiumPath returns the Chromium binary to run, or skips the test (fails
// it under AUTHLAYER_REQUIRE_BROWSER=1) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AUTHLAYER_CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	fi, err := os.Stat(path)
	if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		msg := fmt.Sprintf("no Chromium at %s (%v): install Debian's package (apt-get install -y chromium) or set AUTHLAYER_CHROMIUM to a Chromium binary", path, err)
		if os.Getenv("AUTHLAYER_REQUIRE_BROWSER") == "1" {
			t.Fatalf("AUTHLAYER_REQUIRE_BROWSER=1 but %s", msg)
		}
		t.Skipf("skipping the browser test: %s; set AUTHLAYER_REQUIRE_BROWSER=1 to make this a failure", msg)
	}
	return path
}

// session is one headless Chromium tab on the demo.
type session struct {
	t     *testing.T
	ctx   context.Context // a chromedp context whose browser is running
	base  string          // the front's base URL
	shots string          // the screenshot directory
	n     int             // screenshots taken
}

// newSession starts Chromium with a fresh profile and the flags this
// machine needs (root, no GPU, no network but loopback), and opens a tab.
func newSession(t *testing.T, chromium, base, shots string, logs *logBuffer) *session {
	t.Helper()
	parent, cancelParent := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancelParent)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // Chromium refuses to run as root with its sandbox.
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Nothing but loopback is reachable here: without these Chromium
		// stalls on its own background traffic.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(logs),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	t.Cleanup(cancelAlloc) // also waits for the browser process to exit
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(log.New(logs, "chromedp: ", log.Lmicroseconds).Printf))
	t.Cleanup(cancelCtx)

	// The first Run starts the browser, which lives as long as ctx: it
	// cannot take a timeout of its own, so a timer cancels ctx instead.
	start := time.Now()
	timer := time.AfterFunc(startTimeout, cancelCtx)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		t.Fatalf("Chromium did not start within %s", startTimeout)
	}
	if err != nil {
		t.Fatalf("starting Chromium (%s): %v", chromium, err)
	}
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatalf("Chromium: %v", err)
	}
	t.Logf("Chromium started in %s: %s", time.Since(start).Round(time.Millisecond), version)
	return &session{t: t, ctx: ctx, base: base, shots: shots}
}

// step runs one bounded browser action.
func step[T any](s *session, what string, a chromedp.Action[T]) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// load runs actions that make the page navigate (a navigation, a click on a
// submit button, a reload) and returns the final document's response,
// after any redirects, once the page has loaded.
func (s *session) load(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		s.t.Fatalf("%s: no document response", what)
	}
	return resp
}

func (s *session) navigate(path string) *network.Response {
	s.t.Helper()
	return s.load("GET "+path, chromedp.Navigate(s.base+path))
}

func (s *session) click(selector string) *network.Response {
	s.t.Helper()
	return s.load("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

func (s *session) reload() *network.Response {
	s.t.Helper()
	return s.load("reload", chromedp.Reload())
}

func (s *session) typeInto(selector, text string) {
	s.t.Helper()
	step(s, "type into "+selector, chromedp.SendKeys(chromedp.CSS(selector), text))
}

// location is the page's URL, which must be on the front.
func (s *session) location() *url.URL {
	s.t.Helper()
	loc := step(s, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		s.t.Fatalf("location %q: %v", loc, err)
	}
	if !strings.HasPrefix(loc, s.base+"/") {
		s.t.Fatalf("the browser left the demo: location %s", loc)
	}
	return u
}

// text is the page's visible text.
func (s *session) text() string {
	s.t.Helper()
	return step(s, "page text", chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
}

// cookies are the browser's cookies for the front, HttpOnly ones included
// (read through the DevTools protocol, as page scripts cannot).
func (s *session) cookies() map[string]*network.Cookie {
	s.t.Helper()
	res := step(s, "cookies", func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{s.base + "/"}})
	})
	out := make(map[string]*network.Cookie, len(res.Cookies))
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// screenshot saves the viewport as NN-name.png in the screenshot directory.
func (s *session) screenshot(name string) {
	s.t.Helper()
	png := step(s, "screenshot "+name, chromedp.CaptureScreenshot())
	s.n++
	file := filepath.Join(s.shots, fmt.Sprintf("%02d-%s.png", s.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		s.t.Fatalf("screenshot: %v", err)
	}
}

// expectPage checks the document's final status and path, and that the page
// shows every one of wants.
func (s *session) expectPage(what string, resp *network.Response, status int64, path string, wants ...string) {
	s.t.Helper()
	loc := s.location()
	if resp.Status != status || loc.Path != path {
		s.t.Fatalf("%s: status %d at %s, want %d at %s", what, resp.Status, loc, status, path)
	}
	text := s.text()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			s.t.Fatalf("%s: the page does not show %q; it shows:\n%s", what, w, text)
		}
	}
}

// expectVerifiedLocally checks the dashboard's "Token check" card: it
// must say "verified locally" (X-Auth-Verified-By: local), not that the
// backend validated the token.
func (s *session) expectVerifiedLocally(what string) {
	s.t.Helper()
	card := step(s, "the dashboard's token check card", chromedp.Evaluate[string](
		`(document.getElementById("verified-by") || {innerText: ""}).innerText`))
	if !strings.Contains(card, "verified locally") || strings.Contains(card, "validated by the backend") {
		s.t.Fatalf("%s: the dashboard's token check says %q, want \"verified locally\"", what, card)
	}
}

// expectLoginRedirect checks that the browser was sent to the login page
// with a return-to of /dashboard, and that the form will carry it back.
func (s *session) expectLoginRedirect(what string, resp *network.Response) {
	s.t.Helper()
	s.expectPage(what, resp, 200, "/login", "Sign in", "After signing in you will return to /dashboard")
	if got := s.location().Query().Get("redirect"); got != "/dashboard" {
		s.t.Fatalf("%s: login page's redirect parameter = %q, want /dashboard", what, got)
	}
	hidden := step(s, "the login form's return-to", chromedp.Evaluate[string](
		`document.querySelector('form[action="/auth/login"] input[name="redirect"]').value`))
	if hidden != "/dashboard" {
		s.t.Fatalf("%s: the login form's redirect field = %q, want /dashboard", what, hidden)
	}
}

// TestBrowserWalkthrough walks through the demo in a real headless Chromium:
// guest visit, login with a return-to, the access token's expiry and refresh
// (with rotated cookies), a role rule, and logout.
func TestBrowserWalkthrough(t *testing.T) {
	chromium := chromiumPath(t)
	began := time.Now()
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack and browser logs:\n%s", logs)
		}
	})
	shots, err := os.MkdirTemp("", "authlayer-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)

	base, accessTTL, front := demoStack(t, logs)
	t.Logf("front: %s", front)
	s := newSession(t, chromium, base, shots, logs)
	mark := time.Now()
	done := func(what string) {
		t.Helper()
		t.Logf("ok: %s (%s)", what, time.Since(mark).Round(time.Millisecond))
		mark = time.Now()
	}

	// 1. An anonymous visit gets a guest token minted by authlayer.
	resp := s.navigate("/")
	s.expectPage("anonymous GET /", resp, 200, "/", "Hello, guest")
	c := s.cookies()
	if g := c[guestCookie]; g == nil || g.Value == "" || !g.HTTPOnly {
		t.Fatalf("anonymous visit: want an HttpOnly %s cookie, got %+v", guestCookie, g)
	}
	if c[userCookie] != nil || c[refreshCookie] != nil {
		t.Fatalf("anonymous visit: unexpected session cookies %v", names(c))
	}
	s.screenshot("guest-home")
	done("anonymous visit: guest cookie set, home page greets the guest")

	// 2. The protected dashboard sends a guest to the login page, with a
	// return-to.
	resp = s.navigate("/dashboard")
	s.expectLoginRedirect("guest GET /dashboard", resp)
	s.screenshot("dashboard-redirects-to-login")
	done("guest GET /dashboard: redirected to /login?redirect=/dashboard")

	// 3. Logging in through the form lands back on the dashboard, showing
	// the user.
	s.typeInto(`input[name="username"]`, "alice")
	s.typeInto(`input[name="password"]`, "alice")
	s.screenshot("login-form-filled")
	resp = s.click(`form[action="/auth/login"] button[type="submit"]`)
	loggedIn := time.Now()
	// authlayer verified the backend's EdDSA-signed token itself (jwt.*,
	// with the backend's public key) and told the app so.
	s.expectPage("after login", resp, 200, "/dashboard", "Dashboard", "Signed in as Alice Martin", "u-alice", "verified locally")
	s.expectVerifiedLocally("after login")
	c = s.cookies()
	user, refresh := c[userCookie], c[refreshCookie]
	if user == nil || user.Value == "" || !user.HTTPOnly || refresh == nil || refresh.Value == "" || !refresh.HTTPOnly {
		t.Fatalf("after login: want HttpOnly %s and %s cookies, have %v", userCookie, refreshCookie, names(c))
	}
	if c[guestCookie] != nil {
		t.Errorf("after login: the %s cookie is still there", guestCookie)
	}
	s.screenshot("dashboard-after-login")
	done("login form: back on /dashboard as Alice Martin, token verified locally, user and refresh cookies set")

	// While the access token is valid, a reload keeps it (no refresh). The
	// check only counts if the reload finished well before the expiry.
	resp = s.reload()
	s.expectPage("reload before expiry", resp, 200, "/dashboard", "Alice Martin")
	if time.Since(loggedIn) < accessTTL-time.Second {
		if got := s.cookies()[userCookie]; got == nil || got.Value != user.Value {
			t.Fatalf("reload before expiry: the %s cookie changed while the access token was still valid", userCookie)
		}
	}

	// 4. Once the access token has expired, a reload still shows the user:
	// authlayer refreshed the token and rotated the cookies.
	if wait := time.Until(loggedIn.Add(accessTTL + 500*time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	rotated := false
	for i := 0; i < maxRefreshReloads && !rotated; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		resp = s.reload()
		s.expectPage("reload after expiry", resp, 200, "/dashboard", "Signed in as Alice Martin", "u-alice")
		c = s.cookies()
		newUser, newRefresh := c[userCookie], c[refreshCookie]
		if newUser == nil || newRefresh == nil {
			t.Fatalf("reload after expiry: session cookies gone, have %v", names(c))
		}
		if newUser.Value == user.Value {
			continue
		}
		rotated = true
		if newRefresh.Value == refresh.Value {
			t.Errorf("refresh: the %s cookie changed but the %s cookie was not rotated", userCookie, refreshCookie)
		}
		if text := s.text(); !strings.Contains(text, "authlayer refreshed the token on this very request") {
			t.Errorf("refresh: the dashboard does not say the token was refreshed on this request; it shows:\n%s", text)
		}
		s.expectVerifiedLocally("after the refresh")
	}
	if !rotated {
		t.Fatalf("the %s cookie was not rotated within %d reloads after the %s access token expired", userCookie, maxRefreshReloads, accessTTL)
	}
	s.screenshot("dashboard-after-refresh")
	done("access token expired: reload refreshed it, user still shown and verified locally, user and refresh cookies rotated")

	// 5. The admin page is refused to alice (role rule).
	resp = s.navigate("/admin")
	s.expectPage("alice GET /admin", resp, 403, "/admin", "Forbidden")
	if strings.Contains(s.text(), "Admin area") {
		t.Fatal("alice GET /admin: the admin page was served")
	}
	if s.cookies()[userCookie] == nil {
		t.Fatal("alice GET /admin: a refused page must not end the session")
	}
	s.screenshot("admin-refused")
	done("alice GET /admin: 403")

	// 6. Logging out clears the session cookies, and the dashboard sends
	// the browser to the login page again.
	resp = s.navigate("/dashboard")
	s.expectPage("GET /dashboard before logout", resp, 200, "/dashboard", "Alice Martin")
	resp = s.click(`form[action="/auth/logout"] button[type="submit"]`)
	s.expectPage("after logout", resp, 200, "/", "Hello, guest")
	c = s.cookies()
	if c[userCookie] != nil || c[refreshCookie] != nil {
		t.Fatalf("after logout: session cookies left: %v", names(c))
	}
	s.screenshot("after-logout")
	resp = s.navigate("/dashboard")
	s.expectLoginRedirect("GET /dashboard after logout", resp)
	s.screenshot("dashboard-after-logout")
	done("logout: user and refresh cookies cleared, /dashboard redirects to login")

	t.Logf("browser walk-through passed in %s; %d screenshots in %s", time.Since(began).Round(time.Millisecond), s.n, shots)
}

// names lists the cookies' names.
func names(c map[string]*network.Cookie) []string {
	out := make([]string, 0, len(c))
	for n := range c {
		out = append(out, n)
	}
	return out
}

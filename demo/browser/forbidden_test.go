package browser_test

import (
	"os"
	"testing"

	"github.com/authlayer/authlayer/demo/app"
)

// TestBrowserForbiddenPageSignOut: in a real Chromium, the built-in 403
// page's "Sign in with another account" button submits (the page's own
// Content-Security-Policy allows a form to this site), signs alice out and
// lands on the login page carrying the denied page as its return-to
// value; signing in there as the admin brings the browser back to it.
func TestBrowserForbiddenPageSignOut(t *testing.T) {
	chromium := chromiumPath(t)
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack and browser logs:\n%s", logs)
		}
	})
	shots, err := os.MkdirTemp("", "authlayer-browser-403-")
	if err != nil {
		t.Fatal(err)
	}
	base, _, _, front := demoStack(t, logs)
	t.Logf("front: %s; screenshots: %s", front, shots)
	s := newSession(t, chromium, base, shots, logs)

	resp := s.navigate("/dashboard")
	s.expectLoginRedirect("guest GET /dashboard", resp)
	s.typeInto(`input[name="username"]`, "alice")
	s.typeInto(`input[name="password"]`, "alice")
	resp = s.click(`form[action="` + app.LoginEndpoint + `"] button[type="submit"]`)
	s.expectPage("alice's login", resp, 200, "/dashboard", "Signed in as Alice Martin")

	resp = s.navigate("/admin")
	if resp.Status != 403 || s.location().Path != "/admin" {
		t.Fatalf("alice GET /admin: status %d at %s, want the 403 page", resp.Status, s.location())
	}
	s.screenshot("admin-refused")
	// The form posts to the logout endpoint; a CSP of form-action 'none'
	// makes the browser refuse to send it (the click then never loads a
	// page, and this step times out).
	resp = s.click(`form[action^="` + app.LogoutEndpoint + `"] button[type="submit"]`)
	s.expectPage("after 'Sign in with another account'", resp, 200, "/login", "Sign in")
	if got := s.location().Query().Get("redirect"); got != "/admin" {
		t.Fatalf("after signing out from the 403 page: the login page's return-to is %q, want /admin", got)
	}
	if c := s.cookies(); c[userCookie] != nil || c[refreshCookie] != nil {
		t.Fatalf("after signing out from the 403 page: session cookies left: %v", names(c))
	}
	s.screenshot("login-after-switch")

	s.typeInto(`input[name="username"]`, "admin")
	s.typeInto(`input[name="password"]`, "admin")
	resp = s.click(`form[action="` + app.LoginEndpoint + `"] button[type="submit"]`)
	s.expectPage("the admin's login", resp, 200, "/admin", "Ada Admin")
	s.screenshot("admin-after-switch")
}

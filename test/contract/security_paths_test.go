package contract

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
)

// The request targets below are raw request-line targets: the harness
// builds requests with httptest.NewRequest, which parses them as Go's
// server does (url.ParseRequestURI), so Path is decoded and RawPath keeps
// the original escapes, exactly what Traefik hands the middleware.

// pathRoutes is the rule set of the path tests, as labels give it.
func pathRoutes(ambiguous string) m {
	r := m{"protected": "/dashboard", "public": "/docs", "excluded": "/static"}
	if ambiguous != "" {
		r["ambiguousPaths"] = ambiguous
	}
	return m{"routes": r}
}

// TestSecurityPathSpellingsOfAProtectedPath: every spelling of
// /dashboard that an app would route to /dashboard (matrix parameters,
// case, repeated slashes, dot segments, encoded dots, encoded unreserved
// characters) is protected: anonymous browsers are sent to the login page,
// API clients get 401, nothing reaches the app and no backend call is
// made. A logged-in user is served on each.
func TestSecurityPathSpellingsOfAProtectedPath(t *testing.T) {
	spellings := []string{
		"/dashboard;x=1",
		"/dashboard;jsessionid=abc/settings",
		"/DASHBOARD",
		"/Dashboard/settings",
		"//dashboard",
		"///dashboard",
		"/./dashboard",
		"/dashboard/",
		"/docs/../dashboard",
		"/docs/./../dashboard",
		"/docs/%2e%2e/dashboard",
		"/docs/%2E%2E/dashboard",
		"/docs/..;/dashboard",
		"/docs;x=1/../dashboard",
		"/%64ashboard",
		"/static/../dashboard",
		"/static/%2e%2e/dashboard",
		"/static/..;/dashboard",
		"/dashboard?next=/docs",
	}
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(pathRoutes("")))

		t.Run("controls", func(t *testing.T) {
			// The rules really make /docs public and /static excluded, so
			// the spellings below are refused because of how they resolve.
			for _, p := range []string{"/docs/guide", "/static/app.js"} {
				wantAnonymous(t, e.do(t, h, page(p)))
			}
			r := e.do(t, h, page("/dashboard"))
			wantNotForwarded(t, r)
			wantLoginRedirect(t, r, http.StatusFound, "/dashboard")
		})

		for _, target := range spellings {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				t.Run("anonymous page", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, page(target))
					wantNotForwarded(t, r)
					wantLoginRedirect(t, r, http.StatusFound, target)
					wantBackendUntouched(t, e, before)
				})
				t.Run("anonymous API", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, api(target))
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
					wantNoStore(t, r)
					wantBackendUntouched(t, e, before)
				})
				t.Run("guest token is not enough", func(t *testing.T) {
					g := fakebackend.Token("paths-guest-" + target)
					e.be.SetUser(g, fakebackend.UserData("g-paths", "guest", nil))
					r := e.do(t, h, api(target).cookie(guestCookie, g))
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
				})
				t.Run("logged in", func(t *testing.T) {
					tok := fakebackend.Token("paths-user-" + target)
					data := fakebackend.UserData("u-paths", "user", nil)
					e.be.SetUser(tok, data)
					wantIdentity(t, e.do(t, h, page(target).cookie(userCookie, tok)), tok, data, "u-paths", "user", "")
				})
			})
		}
	})
}

// ambiguousTargets are spellings whose meaning depends on the app behind
// Traefik: encoded "/" and "\", NUL, encoded ";", "?" and "#", and double
// encoding.
var ambiguousTargets = []string{
	"/docs%2Fx",
	"/docs%2fx",
	"/docs%2F..%2Fdashboard",
	"/docs/..%2Fdashboard",
	"/docs/%2e%2e%2fdashboard",
	"/static%2F..%2Fdashboard",
	"/dashboard%00",
	"/docs/x%00/../../dashboard",
	"/a%5Cb",
	"/docs/..%5Cdashboard",
	"/docs%252Fx",
	"/docs/%252e%252e/dashboard",
	"/docs/%252Fx",
	"/dashboard%3Bx=1",
	"/docs%3F/../dashboard",
	"/docs%23/../dashboard",
}

// TestSecurityAmbiguousPathsRejected: with routes.ambiguousPaths unset
// (default) or "reject", ambiguous spellings get 400 before any backend
// call, whoever asks, and never reach the app.
func TestSecurityAmbiguousPathsRejected(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		handlers := []struct {
			name string
			h    http.Handler
		}{
			{"default", e.handler(t, e.opts(pathRoutes("")))},
			{"reject", e.handler(t, e.opts(pathRoutes("reject")))},
		}
		for _, hc := range handlers {
			for _, target := range ambiguousTargets {
				t.Run(hc.name+"/"+url.PathEscape(target), func(t *testing.T) {
					t.Run("anonymous API", func(t *testing.T) {
						before := e.be.Total()
						r := e.do(t, hc.h, api(target))
						wantNotForwarded(t, r)
						wantJSONError(t, r, http.StatusBadRequest)
						wantBackendUntouched(t, e, before)
					})
					t.Run("anonymous page", func(t *testing.T) {
						r := e.do(t, hc.h, page(target))
						wantNotForwarded(t, r)
						if r.code != http.StatusBadRequest {
							t.Errorf("status: got %d (Location %q), want 400", r.code, r.header.Get("Location"))
						}
					})
					t.Run("logged in", func(t *testing.T) {
						// A fresh valid token: a backend call would show
						// the path was decided after authentication.
						tok := fakebackend.Token("ambiguous-" + hc.name + target)
						e.be.SetUser(tok, fakebackend.UserData("u-amb", "user", nil))
						before := e.be.Total()
						r := e.do(t, hc.h, api(target).cookie(userCookie, tok))
						wantNotForwarded(t, r)
						wantJSONError(t, r, http.StatusBadRequest)
						wantBackendUntouched(t, e, before)
					})
				})
			}
		}
	})
}

// TestSecurityAmbiguousPathsProtect: with routes.ambiguousPaths=protect,
// an ambiguous spelling is treated as protected, whatever rule its decoded
// form falls under (public, excluded or none): anonymous visitors are
// refused and logged-in users are served.
func TestSecurityAmbiguousPathsProtect(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(pathRoutes("protect")))
		tok := fakebackend.Token("ambiguous-protect-user")
		data := fakebackend.UserData("u-amb-p", "user", nil)
		e.be.SetUser(tok, data)

		t.Run("controls", func(t *testing.T) {
			wantAnonymous(t, e.do(t, h, api("/docs/x")))
			wantAnonymous(t, e.do(t, h, api("/static/x.js")))
		})
		for _, target := range ambiguousTargets {
			t.Run(url.PathEscape(target), func(t *testing.T) {
				t.Run("anonymous API", func(t *testing.T) {
					before := e.be.Total()
					r := e.do(t, h, api(target))
					wantNotForwarded(t, r)
					wantJSONError(t, r, http.StatusUnauthorized)
					wantBackendUntouched(t, e, before)
				})
				t.Run("anonymous page", func(t *testing.T) {
					r := e.do(t, h, page(target))
					wantNotForwarded(t, r)
					if r.code != http.StatusFound || !strings.HasPrefix(r.header.Get("Location"), "/login?") {
						t.Errorf("got %d Location %q, want 302 to /login", r.code, r.header.Get("Location"))
					}
					wantNoStore(t, r)
				})
				t.Run("logged in", func(t *testing.T) {
					wantIdentity(t, e.do(t, h, api(target).cookie(userCookie, tok)), tok, data, "u-amb-p", "user", "")
				})
			})
		}
	})
}

// TestSecurityAmbiguousPathsOption: any other value is refused by New.
func TestSecurityAmbiguousPathsOption(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		_, err := e.factory(e.opts(pathRoutes("allow")), e.up, t.Name())
		if err == nil || !strings.Contains(err.Error(), "routes.ambiguousPaths") {
			t.Errorf("New with routes.ambiguousPaths=allow: got error %v, want one naming routes.ambiguousPaths", err)
		}
	})
}

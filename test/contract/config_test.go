package contract

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestConfigErrors: New refuses bad configuration with an error naming the
// option (matched case-insensitively, as "group.option").
func TestConfigErrors(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tests := []struct {
			desc    string
			options m
			// wantAny: the error must name one of these options.
			wantAny []string
		}{
			{"empty options: no backend.url", m{}, []string{"backend.url"}},
			{"missing backend.url", m{"backend": m{"url": nil}}, []string{"backend.url"}},
			{"empty backend.url", m{"backend": m{"url": ""}}, []string{"backend.url"}},
			{"unparsable backend.timeout", m{"backend": m{"timeout": "soon"}}, []string{"backend.timeout"}},
			{"unparsable cache.ttl", m{"cache": m{"ttl": "2 seconds"}}, []string{"cache.ttl"}},
			{"unparsable cookies.userMaxAge", m{"cookies": m{"userMaxAge": "a week"}}, []string{"cookies.userMaxAge"}},
			{"unparsable cookies.guestMaxAge", m{"cookies": m{"guestMaxAge": "1 hour"}}, []string{"cookies.guestMaxAge"}},
			{"unparsable cookies.refreshMaxAge", m{"cookies": m{"refreshMaxAge": "x"}}, []string{"cookies.refreshMaxAge"}},
			{"unparsable refresh.graceWindow", m{"refresh": m{"graceWindow": "1m1"}}, []string{"refresh.graceWindow"}},
			{"pattern without leading slash", m{"routes": m{"protected": testkit.List("noslash")}}, []string{"routes.protected"}},
			{"pattern with ** glued to text", m{"routes": m{"protected": testkit.List("/a/**x")}}, []string{"routes.protected"}},
			{"bad public pattern", m{"routes": m{"public": testkit.List("noslash")}}, []string{"routes.public"}},
			{"bad excluded pattern", m{"routes": m{"excluded": testkit.List("/a/**x")}}, []string{"routes.excluded"}},
			{"bad authOnly pattern", m{"routes": m{"authOnly": testkit.List("login")}}, []string{"routes.authOnly"}},
			{"unknown cookies.sameSite", m{"cookies": m{"sameSite": "Sideways"}}, []string{"cookies.sameSite"}},
			{"empty user cookie name", m{"cookies": m{"user": ""}}, []string{"cookies.user"}},
			{"empty guest cookie name", m{"cookies": m{"guest": ""}}, []string{"cookies.guest"}},
			{"guest enabled without credentials", m{"guest": m{"enabled": "true"}},
				[]string{"guest.username", "guest.password", "guest.enabled"}},
			{"guest enabled without password", m{"guest": m{"enabled": "true", "username": "g"}},
				[]string{"guest.password"}},
			{"responses.tokenType empty without routes.allowedTokenTypes", m{"responses": m{"tokenType": ""}},
				[]string{"routes.allowedTokenTypes"}},
			{"cookies.refreshCookiePath without leading slash", m{"cookies": m{"refreshCookiePath": "auth"}},
				[]string{"cookies.refreshCookiePath"}},
			{"deprecated cookies.refreshPath without leading slash", m{"cookies": m{"refreshPath": "auth"}},
				[]string{"cookies.refreshPath"}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				options := e.opts(tc.options)
				if len(tc.options) == 0 {
					options = m{}
				}
				h, err := e.factory(options, e.up, t.Name())
				if err == nil {
					t.Fatalf("New(%v): got no error (handler %T), want an error naming %s", options, h, strings.Join(tc.wantAny, " or "))
				}
				msg := strings.ToLower(err.Error())
				for _, w := range tc.wantAny {
					if strings.Contains(msg, strings.ToLower(w)) {
						return
					}
				}
				t.Errorf("New: got error %q, want it to name %s", err, strings.Join(tc.wantAny, " or "))
			})
		}
	})
}

// TestConfigValid: well-formed configurations build, including every
// shape Traefik's providers deliver (strings for scalars, comma lists).
func TestConfigValid(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		e.be.EnableGuest("g", "p")
		tests := []struct {
			desc    string
			options m
		}{
			{"minimal", m{}},
			{"durations and lists as strings", m{
				"backend": m{"timeout": "750ms", "maxConcurrent": "8"},
				"cache":   m{"ttl": "5s", "maxEntries": "100"},
				"cookies": m{"userMaxAge": "24h", "guestMaxAge": "30m", "refresh": "refreshToken", "sameSite": "Strict"},
				"refresh": m{"graceWindow": "10s", "fallbackToGuest": "false"},
				"routes": m{
					"protected": "/account,/orders/*/edit,/admin/**",
					"public":    testkit.List("/account/help"),
					"authOnly":  testkit.List("/login", "/register"),
					"excluded":  testkit.List("/static", "/favicon.ico"),
					"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin", "owner")}},
				},
			}},
			{"guest with credentials", m{"guest": m{"enabled": "true", "username": "g", "password": "p"}}},
			{"no token type, the user types listed", m{"responses": m{"tokenType": ""}, "routes": m{"allowedTokenTypes": "user"}}},
			{"refresh cookie path", m{"cookies": m{"refresh": "refreshToken", "refreshCookiePath": "/auth"}}},
			{"refresh cookie path under its deprecated name", m{"cookies": m{"refresh": "refreshToken", "refreshPath": "/auth"}}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				h := e.handler(t, e.opts(tc.options))
				// The handler must serve (no panic) with a valid config.
				r := e.do(t, h, testkit.API("/"))
				if r.Code < 100 || r.Code > 599 {
					t.Errorf("status: got %d, want a valid HTTP status", r.Code)
				}
				if r.Code != http.StatusOK {
					t.Errorf("GET / on an unprotected route: got %d, want 200", r.Code)
				}
			})
		}
	})
}

// TestConfigGuestsNeverCountAsUsersByDefault: a configuration in which a
// guest token placed in the user cookie would count as a logged-in user
// fails in New, with an error naming the option to set. Without
// responses.tokenType every token, a guest's included, has type "user":
// routes.allowedTokenTypes must then say what counts as a user, and with
// guests enabled no list can tell authlayer's own guest tokens apart.
func TestConfigGuestsNeverCountAsUsersByDefault(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		guests := m{"enabled": "true", "username": "g", "password": "p"}
		for _, tc := range []struct {
			desc    string
			options m
			option  string // the option the error names ("" = accepted)
		}{
			{"tokenType empty", m{"responses": m{"tokenType": ""}}, "routes.allowedTokenTypes"},
			{"tokenType empty, empty list item", m{"responses": m{"tokenType": ""}, "routes": m{"allowedTokenTypes": ","}}, "routes.allowedTokenTypes"},
			{"tokenType empty, guests on", m{"responses": m{"tokenType": ""}, "guest": guests}, "responses.tokenType"},
			{"tokenType empty, guests on, types listed", m{"responses": m{"tokenType": ""}, "routes": m{"allowedTokenTypes": "user"}, "guest": guests},
				"responses.tokenType"},
			{"tokenType empty, types listed", m{"responses": m{"tokenType": ""}, "routes": m{"allowedTokenTypes": testkit.List("user")}}, ""},
			{"defaults, guests on", m{"guest": guests}, ""},
			{"own type field, types listed, guests on", m{"responses": m{"tokenType": "data.kind"}, "routes": m{"allowedTokenTypes": "member,staff"}, "guest": guests}, ""},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				options := e.opts(tc.options)
				h, err := e.factory(options, e.up, t.Name())
				if tc.option == "" {
					if err != nil {
						t.Fatalf("New(%v): %v, want it accepted", options, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("New(%v): got no error (handler %T), want one naming %s", options, h, tc.option)
				}
				if !strings.HasPrefix(err.Error(), "authlayer: "+tc.option+":") || !strings.Contains(err.Error(), "guest") {
					t.Errorf("New: got error %q, want it to name %s and say that guests would count as users", err, tc.option)
				}
			})
		}
	})
}

// TestConfigRefreshCookiePath: cookies.refreshCookiePath sets the Path of
// the refresh cookie authlayer writes; cookies.refreshPath, its deprecated
// name, still does; the two set to different paths fail in New with an
// error naming both.
func TestConfigRefreshCookiePath(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			desc    string
			cookies m
			want    string
		}{
			{"default: the cookies' path", m{}, "/"},
			{"refreshCookiePath", m{"refreshCookiePath": "/auth"}, "/auth"},
			{"deprecated refreshPath", m{"refreshPath": "/auth"}, "/auth"},
			{"both, the same", m{"refreshCookiePath": "/auth", "refreshPath": "/auth"}, "/auth"},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				cookies := m{"refresh": testkit.RefreshCookie}
				for k, v := range tc.cookies {
					cookies[k] = v
				}
				h := e.handler(t, e.opts(m{"cookies": cookies}))
				access := fakebackend.Token("rcp-access-" + tc.desc)
				refresh := fakebackend.Token("rcp-refresh-" + tc.desc)
				fresh := fakebackend.Token("rcp-fresh-" + tc.desc)
				rotated := fakebackend.Token("rcp-rotated-" + tc.desc)
				e.be.SetValidate(access, fakebackend.Unauthorized())
				e.be.RefreshTo(refresh, fresh, rotated, fakebackend.UserData("u-rcp", "user", nil))
				r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
				if c := testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated); c.Path != tc.want {
					t.Errorf("Set-Cookie %s: Path %q, want %q", testkit.RefreshCookie, c.Path, tc.want)
				}
				if c := testkit.WantCookieSet(t, r, testkit.UserCookie, fresh); c.Path != "/" {
					t.Errorf("Set-Cookie %s: Path %q, want /", testkit.UserCookie, c.Path)
				}
			})
		}
		t.Run("both, different", func(t *testing.T) {
			options := e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie, "refreshCookiePath": "/auth", "refreshPath": "/session"}})
			_, err := e.factory(options, e.up, t.Name())
			if err == nil || !strings.Contains(err.Error(), "cookies.refreshCookiePath") || !strings.Contains(err.Error(), "cookies.refreshPath") {
				t.Errorf("New(%v): got %v, want an error naming cookies.refreshCookiePath and cookies.refreshPath", options, err)
			}
		})
	})
}

// TestConfigUnknownOptions: a key that is no option (a typo, a group
// misspelled, a second spelling of one option) fails New with an error
// naming the full dotted key, whatever JSON type it holds, instead of
// being dropped by Traefik's decoder: a misspelled routes.protected
// would leave every path public.
func TestConfigUnknownOptions(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		t.Run("spelled right, the path is protected", func(t *testing.T) {
			h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/account")}}))
			if r := e.do(t, h, testkit.API("/account")); r.Code != http.StatusUnauthorized {
				t.Errorf("GET /account without a token: got %d, want 401", r.Code)
			}
		})
		for _, tc := range []struct {
			desc    string
			options m
			want    string // the error's start
		}{
			{"misspelled option", m{"routes": m{"protectd": testkit.List("/account")}},
				`authlayer: unknown option "routes.protectd" (did you mean "routes.protected"?)`},
			{"misspelled option next to the right one", m{"backend": m{"urll": "http://127.0.0.1:1"}},
				`authlayer: unknown option "backend.urll" (did you mean "backend.url"?)`},
			{"misspelled group", m{"backnd": m{"timeout": "1s"}},
				`authlayer: unknown option "backnd.timeout" (did you mean "backend.timeout"?)`},
			{"misspelled group of a known option", m{"cookie": m{"secure": "false"}},
				`authlayer: unknown option "cookie.secure" (did you mean "cookies.secure"?)`},
			{"JSON types (Kubernetes)", m{"cache": m{"maxEntrys": float64(500), "ttl": "2s"}, "guest": m{"enabld": true}},
				`authlayer: unknown option "guest.enabld" (did you mean "guest.enabled"?); unknown option "cache.maxEntrys" (did you mean "cache.maxEntries"?)`},
			{"in a list of rules", m{"routes": m{"roles": []interface{}{m{"path": "/admin", "roles": testkit.List("admin"), "role": "x"}}}},
				`authlayer: unknown option "routes.roles[0].role" (did you mean "routes.roles[0].roles"?)`},
			{"named like the remain field", m{"routes": m{"Unknown": m{"protected": testkit.List("/account")}}},
				`authlayer: unknown option "routes.Unknown.protected"`},
			{"named like the remain field, lower case", m{"unknown": "x"}, `authlayer: unknown option "unknown"`},
			{"x<name>, Yaegi's spelling of an unexported field", m{"routes": m{"xunknown": "x", "XUnknown": "y"}},
				`authlayer: unknown option "routes.XUnknown"; unknown option "routes.xunknown"`},
			{"one option in two cases", m{"routes": m{"protected": testkit.List("/account"), "Protected": testkit.List("/orders")}},
				`authlayer: option "routes.protected" is set twice (once as "`},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				options := e.opts(tc.options)
				h, err := e.factory(options, e.up, t.Name())
				if err == nil {
					r := e.do(t, h, testkit.API("/account"))
					t.Fatalf("New(%v): accepted (GET /account: %d), want an error starting %s", options, r.Code, tc.want)
				}
				if !strings.HasPrefix(err.Error(), tc.want) {
					t.Errorf("New: got error\n%s\nwant it to start\n%s", err, tc.want)
				}
			})
		}
	})
}

// TestConfigWarnings: configurations New accepts but that likely do not do
// what was meant are said once in the log: routes that protect nothing
// (at New, once per middleware name and routes however often Traefik
// calls New), and Secure cookies answered over plain http to a host other
// than localhost (once per instance, for cookies set on a forwarded
// request or by the login endpoint).
func TestConfigWarnings(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		logs := captureLog(t)
		build := func(t *testing.T, name string, options m) http.Handler {
			t.Helper()
			h, err := e.factory(options, e.up, name)
			if err != nil {
				t.Fatalf("New(%v): %v", options, err)
			}
			return h
		}
		count := func(name, what string) int {
			got, _ := logs.linesSince(0, "authlayer: "+name+": "+what)
			return len(got)
		}

		t.Run("nothing protected", func(t *testing.T) {
			name := t.Name() + "@file"
			for i := 0; i < 3; i++ {
				build(t, name, e.opts())
			}
			if n := count(name, "no path is protected"); n != 1 {
				t.Errorf("3 New calls with nothing protected: %d warnings, want 1", n)
			}
			protected := t.Name() + "-protected@file"
			build(t, protected, e.opts(m{"routes": m{"protected": "/account"}}))
			if n := count(protected, "no path is protected"); n != 0 {
				t.Errorf("routes.protected set: %d warnings, want none", n)
			}
		})

		secure := m{"cookies": m{"secure": "true"}, "routes": m{"protected": testkit.List("/account")}}
		t.Run("secure cookies over plain http", func(t *testing.T) {
			name := t.Name()
			h := build(t, name, e.opts(secure, e.guestOpts()))
			for i := 0; i < 3; i++ {
				if r := e.do(t, h, testkit.Page("/")); len(r.SetCookies(testkit.GuestCookie)) != 1 || !r.SetCookies(testkit.GuestCookie)[0].Secure {
					t.Fatalf("no Secure guest cookie set: %v", r.Header.Values("Set-Cookie"))
				}
			}
			if n := count(name, "cookies.secure is true but http://example.com was requested over plain http"); n != 1 {
				t.Errorf("3 plain-http answers with Secure cookies: %d warnings, want 1", n)
			}
		})
		t.Run("secure cookies on localhost", func(t *testing.T) {
			name := t.Name()
			h := build(t, name, e.opts(secure, e.guestOpts()))
			e.do(t, h, testkit.Page("http://localhost:8080/"))
			e.do(t, h, testkit.Page("https://app.test/"))
			if n := count(name, "cookies.secure"); n != 0 {
				t.Errorf("localhost and https: %d warnings, want none", n)
			}
		})
		t.Run("secure cookies from the login endpoint", func(t *testing.T) {
			name := t.Name()
			h := build(t, name, endpointOpts(e, secure))
			loginUser(e, "carol")
			if r := e.do(t, h, jsonLogin("carol", "secret-carol")); r.Code != http.StatusOK {
				t.Fatalf("login: %d %s", r.Code, r.Body)
			}
			if n := count(name, "cookies.secure is true"); n != 1 {
				t.Errorf("login over plain http with Secure cookies: %d warnings, want 1", n)
			}
		})
	})
}

package contract

import (
	"net/http"
	"strings"
	"testing"
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
			{"pattern without leading slash", m{"routes": m{"protected": list("noslash")}}, []string{"routes.protected"}},
			{"pattern with ** glued to text", m{"routes": m{"protected": list("/a/**x")}}, []string{"routes.protected"}},
			{"bad public pattern", m{"routes": m{"public": list("noslash")}}, []string{"routes.public"}},
			{"bad excluded pattern", m{"routes": m{"excluded": list("/a/**x")}}, []string{"routes.excluded"}},
			{"bad authOnly pattern", m{"routes": m{"authOnly": list("login")}}, []string{"routes.authOnly"}},
			{"unknown cookies.sameSite", m{"cookies": m{"sameSite": "Sideways"}}, []string{"cookies.sameSite"}},
			{"empty user cookie name", m{"cookies": m{"user": ""}}, []string{"cookies.user"}},
			{"empty guest cookie name", m{"cookies": m{"guest": ""}}, []string{"cookies.guest"}},
			{"guest enabled without credentials", m{"guest": m{"enabled": "true"}},
				[]string{"guest.username", "guest.password", "guest.enabled"}},
			{"guest enabled without password", m{"guest": m{"enabled": "true", "username": "g"}},
				[]string{"guest.password"}},
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
					"public":    list("/account/help"),
					"authOnly":  list("/login", "/register"),
					"excluded":  list("/static", "/favicon.ico"),
					"roles":     []interface{}{m{"path": "/admin", "roles": list("admin", "owner")}},
				},
			}},
			{"guest with credentials", m{"guest": m{"enabled": "true", "username": "g", "password": "p"}}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				h := e.handler(t, e.opts(tc.options))
				// The handler must serve (no panic) with a valid config.
				r := e.do(t, h, api("/"))
				if r.code < 100 || r.code > 599 {
					t.Errorf("status: got %d, want a valid HTTP status", r.code)
				}
				if r.code != http.StatusOK {
					t.Errorf("GET / on an unprotected route: got %d, want 200", r.code)
				}
			})
		}
	})
}

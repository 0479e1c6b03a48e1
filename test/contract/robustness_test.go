package contract

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestBadRequestsDoNotPanic: hostile or odd requests get an answer, never
// a panic.
func TestBadRequestsDoNotPanic(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(e.guestOpts(), m{
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes": m{
				"protected": testkit.List("/account", "/api/account"),
				"authOnly":  testkit.List("/login"),
				"excluded":  testkit.List("/static"),
				"roles":     []interface{}{m{"path": "/admin", "roles": testkit.List("admin")}},
			},
		}))
		valid := fakebackend.Token("robust")
		e.be.SetUser(valid, fakebackend.UserData("u-robust", "user", nil))
		long := strings.Repeat("a", 64<<10)

		type mutate func(r *http.Request)
		setCookieHeader := func(v string) mutate { return func(r *http.Request) { r.Header.Set("Cookie", v) } }
		for _, tc := range []struct {
			desc   string
			method string
			target string
			mut    mutate
		}{
			{"dot segments", "GET", "/a/../../account", nil},
			{"encoded dot segments", "GET", "/%2e%2e/%2E%2E/account", nil},
			{"encoded slash", "GET", "/account%2fx", nil},
			{"double slashes", "GET", "//account//x", nil},
			{"NUL in path", "GET", "/api/%00", nil},
			{"invalid UTF-8", "GET", "/%ff%fe/account", nil},
			{"bad query escape", "GET", "/login?redirect=%zz%", nil},
			{"many redirect params", "GET", "/login?redirect=/a&redirect=//b&redirect=", nil},
			{"huge path", "GET", "/" + long, nil},
			{"asterisk target", "OPTIONS", "*", nil},
			{"absolute-form target", "GET", "http://other.example/account?x=1", nil},
			{"unknown method", "PROPFIND", "/account", nil},
			{"empty path", "GET", "/account", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "", "" }},
			{"no host", "GET", "/account", func(r *http.Request) { r.Host = "" }},
			{"garbage cookie header", "GET", "/account", setCookieHeader("userToken=\x00\xff; =; ;;guestToken; refreshToken==")},
			{"empty cookies", "GET", "/account", setCookieHeader("userToken=; guestToken=; refreshToken=")},
			{"quoted cookie", "GET", "/account", setCookieHeader(`userToken="` + valid + `"`)},
			{"duplicate cookies", "GET", "/account", setCookieHeader("userToken=" + valid + "; userToken=other; userToken=")},
			{"huge cookie", "GET", "/account", setCookieHeader("userToken=" + long)},
			{"token with spaces", "GET", "/account", setCookieHeader("userToken=a b c")},
			{"huge Accept", "GET", "/account", func(r *http.Request) { r.Header.Set("Accept", strings.Repeat("text/html,", 10000)) }},
			{"forged identity only", "GET", "/admin", func(r *http.Request) {
				r.Header.Set("X-Auth-User", "not base64 \r\n")
				r.Header["X_AUTH_USER"] = []string{"", "x"}
			}},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				for _, accept := range []string{testkit.AcceptHTML, "application/json"} {
					req := httptest.NewRequest(tc.method, tc.target, nil)
					req.Header.Set("Accept", accept)
					if tc.mut != nil {
						tc.mut(req)
					}
					res, err := serve(h, req)
					if err != nil {
						t.Fatalf("Accept %.20s: %v", accept, err)
					}
					if res.Code < 100 || res.Code > 599 {
						t.Errorf("Accept %.20s: status %d, want a valid HTTP status", accept, res.Code)
					}
				}
			})
		}
	})
}

package e2e

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

const (
	csrfSecret = "e2e-suite-csrf-secret-0123456789abcdef"
	csrfCookie = "__csrf"
	csrfHeader = "X-CSRF-Token"
)

// TestCSRF: through Traefik, a cross-site unsafe request is refused with
// 403 before any backend call; same-origin requests (Fetch Metadata,
// Origin of the request's own Host) pass; without either, the
// double-submit token issued on a GET is required.
func TestCSRF(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{
		"csrf": m{
			"csrf":   m{"enabled": "true", "secret": csrfSecret},
			"routes": m{"protected": testkit.List("/account")},
		},
	})
	const own = "http://csrf.test" // the origin of the suite's requests
	fresh := func(label string) (string, map[string]interface{}) {
		tok := fakebackend.Token("csrf-" + label)
		data := fakebackend.UserData("u-csrf-"+label, "user", nil)
		s.be.SetUser(tok, data)
		return tok, data
	}

	for _, tc := range []struct {
		desc    string
		method  string
		headers [][2]string
		anon    bool
		pass    bool
	}{
		{"Sec-Fetch-Site cross-site POST", "POST", [][2]string{{"Sec-Fetch-Site", "cross-site"}}, false, false},
		{"cross-site even with our Origin", "POST", [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", own}}, false, false},
		{"cross-site DELETE", "DELETE", [][2]string{{"Sec-Fetch-Site", "cross-site"}}, false, false},
		{"cross-site anonymous", "POST", [][2]string{{"Sec-Fetch-Site", "cross-site"}}, true, false},
		{"Origin of another site", "POST", [][2]string{{"Origin", "https://evil.example"}}, false, false},
		{"Origin null", "POST", [][2]string{{"Origin", "null"}}, false, false},
		{"Referer of another site", "POST", [][2]string{{"Referer", "https://evil.example/form"}}, false, false},
		{"method override by header", "GET", [][2]string{{"Sec-Fetch-Site", "cross-site"}, {"X-HTTP-Method-Override", "DELETE"}}, false, false},
		{"same-origin", "POST", [][2]string{{"Sec-Fetch-Site", "same-origin"}}, false, true},
		{"our Origin", "POST", [][2]string{{"Origin", own}}, false, true},
		{"our Referer", "PUT", [][2]string{{"Referer", own + "/account"}}, false, true},
		{"cross-site GET is safe", "GET", [][2]string{{"Sec-Fetch-Site", "cross-site"}}, false, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tok, data := fresh(tc.desc)
			rq := api("csrf", "/account/email").With(tc.method)
			if !tc.anon {
				rq = rq.Cookie(testkit.UserCookie, tok)
			}
			for _, h := range tc.headers {
				rq = rq.WithHeader(h[0], h[1])
			}
			before := s.be.Total()
			r := s.do(t, rq)
			if !tc.pass {
				testkit.WantCSRFRejected(t, r)
				testkit.WantBackendUntouched(t, s.be, before)
				return
			}
			testkit.WantIdentity(t, r, tok, data, "u-csrf-"+tc.desc, "user", "")
		})
	}

	t.Run("double-submit token", func(t *testing.T) {
		alice, aliceData := fresh("alice")
		bob, _ := fresh("bob")
		ra := s.do(t, page("csrf", "/account").Cookie(testkit.UserCookie, alice))
		testkit.WantForwarded(t, ra)
		cs := ra.SetCookies(csrfCookie)
		if len(cs) != 1 || cs[0].Value == "" {
			t.Fatalf("Set-Cookie %s: got %q, want one token", csrfCookie, testkit.RawCookies(cs))
		}
		if c := cs[0]; c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("%s cookie: got %q, want Path=/, SameSite=Lax, readable by scripts", csrfCookie, c.Raw)
		}
		aliceTok := cs[0].Value
		post := func(user, cookieTok, headerTok string) testkit.Request {
			rq := api("csrf", "/account/email").With(http.MethodPost).Cookie(testkit.UserCookie, user)
			if cookieTok != "" {
				rq = rq.Cookie(csrfCookie, cookieTok)
			}
			if headerTok != "" {
				rq = rq.WithHeader(csrfHeader, headerTok)
			}
			return rq
		}
		testkit.WantIdentity(t, s.do(t, post(alice, aliceTok, aliceTok)), alice, aliceData, "u-csrf-alice", "user", "")
		testkit.WantCSRFRejected(t, s.do(t, post(alice, "", "")))
		testkit.WantCSRFRejected(t, s.do(t, post(alice, aliceTok, "")))
		testkit.WantCSRFRejected(t, s.do(t, post(bob, aliceTok, aliceTok))) // bound to alice's session (user id)
	})
}

package e2e

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestCSRFMethodOverrideQuerySpellings: through Traefik, a cross-site GET
// whose query spells _method as PHP or body-parser read it (cut at an
// encoded NUL, after a byte-order mark, with an invalid escape kept)
// reaches authlayer as sent and is refused as the unsafe request it asks
// to be, before any backend call; the same spellings asking for GET pass.
func TestCSRFMethodOverrideQuerySpellings(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{
		"csrf": m{
			"csrf":   m{"enabled": "true", "secret": csrfSecret},
			"routes": m{"protected": testkit.List("/account")},
		},
	})
	for _, tc := range []struct {
		desc, query string
		pass        bool
	}{
		{"_method%00", "_method%00=DELETE", false},
		{"_method%00junk", "a=1&_method%00junk=PUT", false},
		{"byte-order mark", "%EF%BB%BF_method=DELETE", false},
		{"invalid escape kept", "%5Fmethod[%zz]=PATCH", false},
		{"control: _method%00=GET", "_method%00=GET", true},
		{"control: _methods", "_methods=DELETE", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tok := fakebackend.Token("csrf-query-" + tc.desc)
			data := fakebackend.UserData("u-csrf-query", "user", nil)
			s.be.SetUser(tok, data)
			rq := api("csrf", "/account/email?"+tc.query).With(http.MethodGet).
				Cookie(testkit.UserCookie, tok).WithHeader("Sec-Fetch-Site", "cross-site")
			before := s.be.Total()
			r := s.do(t, rq)
			if !tc.pass {
				testkit.WantCSRFRejected(t, r)
				testkit.WantBackendUntouched(t, s.be, before)
				return
			}
			testkit.WantIdentity(t, r, tok, data, "u-csrf-query", "user", "")
		})
	}
}

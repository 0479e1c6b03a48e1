package contract

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/testkit"
)

// TestBlockBrowserAPI: with routes.blockBrowserApi, a browser's top-level
// navigation (GET or HEAD) to an API path is redirected to homeUrl before
// any backend call; scripts' requests, form posts and pages pass.
func TestBlockBrowserAPI(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"blockBrowserApi": "true", "homeUrl": "/start", "api": testkit.List("/api", "/graphql")}}))
		tok, data := freshUser(e, "browser-api", "u-browser")
		for _, tc := range []struct {
			desc     string
			rq       testkit.Request
			redirect int
		}{
			{"address bar", testkit.Page("/api/orders").WithHeader("Sec-Fetch-Mode", "navigate"), http.StatusFound},
			{"HEAD", testkit.Page("/graphql").With(http.MethodHead).WithHeader("Sec-Fetch-Mode", "navigate"), http.StatusFound},
			{"no Fetch Metadata, accepts HTML", testkit.Page("/api/orders?page=2"), http.StatusFound},
			{"fetch() of JSON", testkit.API("/api/orders").WithHeader("Sec-Fetch-Mode", "cors"), 0},
			{"fetch() accepting HTML", testkit.Page("/api/orders").WithHeader("Sec-Fetch-Mode", "same-origin"), 0},
			{"script without Fetch Metadata", testkit.API("/api/orders"), 0},
			{"form post", testkit.Page("/api/orders").With(http.MethodPost).WithHeader("Sec-Fetch-Mode", "navigate"), 0},
			{"a page", testkit.Page("/orders").WithHeader("Sec-Fetch-Mode", "navigate"), 0},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, h, tc.rq.Cookie(testkit.UserCookie, tok))
				if tc.redirect == 0 {
					testkit.WantIdentity(t, r, tok, data, "u-browser", "user", "")
					return
				}
				testkit.WantNotForwarded(t, r)
				if r.Code != tc.redirect || r.Header.Get("Location") != "/start" {
					t.Errorf("got %d Location %q, want %d /start", r.Code, r.Header.Get("Location"), tc.redirect)
				}
				testkit.WantNoStore(t, r)
				testkit.WantBackendUntouched(t, e.be, before)
			})
		}
		off := e.handler(t, e.opts())
		testkit.WantAnonymous(t, e.do(t, off, testkit.Page("/api/orders").WithHeader("Sec-Fetch-Mode", "navigate")))

		_, err := e.factory(e.opts(m{"routes": m{"blockBrowserApi": "true", "homeUrl": "/api"}}), e.up, t.Name()+"#loop")
		if err == nil || !strings.Contains(err.Error(), "routes.homeUrl") {
			t.Errorf("homeUrl under routes.api: %v, want an error naming routes.homeUrl", err)
		}
	})
}

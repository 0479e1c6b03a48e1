package contract

import (
	"net/http"
	"strings"
	"testing"
)

// TestBlockBrowserAPI: with routes.blockBrowserApi, a browser's top-level
// navigation (GET or HEAD) to an API path is redirected to homeUrl before
// any backend call; scripts' requests, form posts and pages pass.
func TestBlockBrowserAPI(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"blockBrowserApi": "true", "homeUrl": "/start", "api": list("/api", "/graphql")}}))
		tok, data := freshUser(e, "browser-api", "u-browser")
		for _, tc := range []struct {
			desc     string
			rq       request
			redirect int
		}{
			{"address bar", page("/api/orders").withHeader("Sec-Fetch-Mode", "navigate"), http.StatusFound},
			{"HEAD", page("/graphql").with(http.MethodHead).withHeader("Sec-Fetch-Mode", "navigate"), http.StatusFound},
			{"no Fetch Metadata, accepts HTML", page("/api/orders?page=2"), http.StatusFound},
			{"fetch() of JSON", api("/api/orders").withHeader("Sec-Fetch-Mode", "cors"), 0},
			{"fetch() accepting HTML", page("/api/orders").withHeader("Sec-Fetch-Mode", "same-origin"), 0},
			{"script without Fetch Metadata", api("/api/orders"), 0},
			{"form post", page("/api/orders").with(http.MethodPost).withHeader("Sec-Fetch-Mode", "navigate"), 0},
			{"a page", page("/orders").withHeader("Sec-Fetch-Mode", "navigate"), 0},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				before := e.be.Total()
				r := e.do(t, h, tc.rq.cookie(userCookie, tok))
				if tc.redirect == 0 {
					wantIdentity(t, r, tok, data, "u-browser", "user", "")
					return
				}
				wantNotForwarded(t, r)
				if r.code != tc.redirect || r.header.Get("Location") != "/start" {
					t.Errorf("got %d Location %q, want %d /start", r.code, r.header.Get("Location"), tc.redirect)
				}
				wantNoStore(t, r)
				wantBackendUntouched(t, e, before)
			})
		}
		off := e.handler(t, e.opts())
		wantAnonymous(t, e.do(t, off, page("/api/orders").withHeader("Sec-Fetch-Mode", "navigate")))

		_, err := e.factory(e.opts(m{"routes": m{"blockBrowserApi": "true", "homeUrl": "/api"}}), e.up, t.Name()+"#loop")
		if err == nil || !strings.Contains(err.Error(), "routes.homeUrl") {
			t.Errorf("homeUrl under routes.api: %v, want an error naming routes.homeUrl", err)
		}
	})
}

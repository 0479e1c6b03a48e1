package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// faultBound is far above the faults site's 300ms backend.timeout (a
// validation and a refresh in a row, plus Traefik): a request still
// running after it means the timeout does not bound it.
const faultBound = 3 * time.Second

// TestBackendFaults: a backend answering 5xx, hanging beyond
// backend.timeout, refusing connections or answering 2xx garbage keeps
// the cookies, fails closed on protected routes (503) and forwards public
// requests anonymously, through Traefik.
func TestBackendFaults(t *testing.T) {
	s := start(t, traefikrun.Options{})
	settings := m{
		"backend": m{"timeout": "300ms"},
		"cookies": m{"refresh": testkit.RefreshCookie},
		"routes":  m{"protected": testkit.List("/account", "/api/account")},
	}
	refused := m{}
	testkit.Merge(refused, settings)
	testkit.Merge(refused, m{"backend": m{"url": fakebackend.ClosedURL(t)}})
	s.deploy(t, sites{"faults": settings, "refused": refused})

	type fault struct {
		desc          string
		site          string
		validate      *fakebackend.Answer // nil: 401, so a refresh follows
		refresh       fakebackend.Answer
		wantRefreshes int
	}
	for _, tc := range []fault{
		{desc: "validate 503", site: "faults", validate: ptr(fakebackend.Status(503))},
		{desc: "validate 500", site: "faults", validate: ptr(fakebackend.Status(500))},
		{desc: "validate hangs", site: "faults", validate: ptr(fakebackend.Hang())},
		{desc: "refresh 503", site: "faults", refresh: fakebackend.Status(503), wantRefreshes: 1},
		{desc: "refresh 502", site: "faults", refresh: fakebackend.Status(502), wantRefreshes: 1},
		{desc: "refresh hangs", site: "faults", refresh: fakebackend.Hang(), wantRefreshes: 1},
		{desc: "connection refused", site: "refused"},
		// A 2xx that is not the contract's JSON is a
		// transient failure, not an invalid token.
		{desc: "validate answers 2xx garbage", site: "faults", validate: ptr(fakebackend.Garbage())},
		{desc: "refresh answers 2xx garbage", site: "faults", refresh: fakebackend.Garbage(), wantRefreshes: 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			for _, rc := range []struct {
				desc string
				rq   testkit.Request
				want int // 0: forwarded anonymously
				json bool
			}{
				{"protected API", api(tc.site, "/api/account"), http.StatusServiceUnavailable, true},
				{"protected page", page(tc.site, "/account"), http.StatusServiceUnavailable, false},
				{"public page", page(tc.site, "/news"), 0, false},
				{"public API", api(tc.site, "/api/news"), 0, false},
			} {
				t.Run(rc.desc, func(t *testing.T) {
					access := fakebackend.Token(t.Name() + "-access")
					refresh := fakebackend.Token(t.Name() + "-refresh")
					if tc.validate != nil {
						s.be.SetValidate(access, *tc.validate)
					} else {
						s.be.SetValidate(access, fakebackend.Unauthorized())
					}
					s.be.SetRefresh(refresh, tc.refresh)

					r := s.do(t, rc.rq.Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
					if r.Elapsed > faultBound {
						t.Errorf("answered in %v, want within %v (backend.timeout 300ms)", r.Elapsed, faultBound)
					}
					if got := s.be.CountFor(fakebackend.Refresh, refresh); got != tc.wantRefreshes {
						t.Errorf("refresh calls: got %d, want %d", got, tc.wantRefreshes)
					}
					testkit.WantNoCookieClearing(t, r)
					switch {
					case rc.want == 0:
						testkit.WantAnonymous(t, r)
					case rc.json:
						testkit.WantNotForwarded(t, r)
						testkit.WantJSONError(t, r, rc.want)
					default:
						testkit.WantNotForwarded(t, r)
						if r.Code != rc.want {
							t.Errorf("status: got %d, want %d", r.Code, rc.want)
						}
					}
				})
			}
		})
	}

	// The backend has already rotated; nothing it handed
	// out may be dropped.
	t.Run("refreshed token validates as 2xx garbage: nothing dropped", func(t *testing.T) {
		access := fakebackend.Token("garbage-after-refresh-access")
		refresh := fakebackend.Token("garbage-after-refresh-refresh")
		fresh := fakebackend.Token("garbage-after-refresh-fresh")
		rotated := fakebackend.Token("garbage-after-refresh-rotated")
		s.be.SetValidate(access, fakebackend.Unauthorized())
		s.be.SetRefresh(refresh, fakebackend.Refreshed(fresh, rotated))
		s.be.SetValidate(fresh, fakebackend.Garbage())
		r := s.do(t, api("faults", "/api/account").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh))
		testkit.WantNoCookieClearing(t, r)
		testkit.WantNotForwarded(t, r)
		testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
		// The backend has rotated: the old refresh token is spent, so the
		// rotated one must reach the browser.
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, rotated)
	})
}

func ptr(a fakebackend.Answer) *fakebackend.Answer { return &a }

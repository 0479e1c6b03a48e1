package contract

import (
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// hangBound is far above the 300ms backend.timeout of the fault tests: a
// request still running after it means the timeout does not bound it.
const hangBound = 5 * time.Second

// doWithin is do with a hang detector.
func (e *env) doWithin(t *testing.T, h http.Handler, rq testkit.Request, bound time.Duration) *testkit.Result {
	t.Helper()
	ch := e.doAsync(h, rq)
	select {
	case ar := <-ch:
		if ar.Err != nil {
			t.Fatalf("%s: %v", rq.Target, ar.Err)
		}
		return ar.Res
	case <-time.After(bound):
		t.Fatalf("%s: no response within %v with backend.timeout 300ms", rq.Target, bound)
	}
	return nil
}

// TestTransientFailures: backend 5xx, a hang beyond backend.timeout and a
// refused connection keep the cookies, fail closed on protected routes
// (503) and forward public requests anonymously.
func TestTransientFailures(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		settings := m{
			"backend": m{"timeout": "300ms"},
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes":  m{"protected": testkit.List("/account", "/api/account")},
		}
		live := e.handler(t, e.opts(settings))
		refused := e.handler(t, e.opts(settings, m{"backend": m{"url": fakebackend.ClosedURL(t)}}))

		for _, tc := range []struct {
			desc          string
			refused       bool
			validate      *fakebackend.Answer // nil: 401, so a refresh follows
			refresh       fakebackend.Answer
			wantRefreshes int
		}{
			{"validate 503", false, ptr(fakebackend.Status(503)), fakebackend.Answer{}, 0},
			{"validate 500", false, ptr(fakebackend.Status(500)), fakebackend.Answer{}, 0},
			{"validate hangs", false, ptr(fakebackend.Hang()), fakebackend.Answer{}, 0},
			{"refresh 503", false, nil, fakebackend.Status(503), 1},
			{"refresh 502", false, nil, fakebackend.Status(502), 1},
			{"refresh hangs", false, nil, fakebackend.Hang(), 1},
			{"connection refused", true, nil, fakebackend.Answer{}, 0},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				h := live
				if tc.refused {
					h = refused
				}
				for _, rc := range []struct {
					desc string
					rq   testkit.Request
					// want: 0 forwarded anonymously, else this status.
					want int
					json bool
				}{
					{"protected API", testkit.API("/api/account"), http.StatusServiceUnavailable, true},
					{"protected page", testkit.Page("/account"), http.StatusServiceUnavailable, false},
					{"public page", testkit.Page("/news"), 0, false},
					{"public API", testkit.API("/api/news"), 0, false},
				} {
					t.Run(rc.desc, func(t *testing.T) {
						access := fakebackend.Token(t.Name() + "-access")
						refresh := fakebackend.Token(t.Name() + "-refresh")
						if tc.validate != nil {
							e.be.SetValidate(access, *tc.validate)
						} else {
							e.be.SetValidate(access, fakebackend.Unauthorized())
						}
						e.be.SetRefresh(refresh, tc.refresh)

						start := time.Now()
						r := e.doWithin(t, h, rc.rq.Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh), hangBound)
						t.Logf("answered in %v", time.Since(start).Round(time.Millisecond))

						if got := e.be.CountFor(fakebackend.Refresh, refresh); got != tc.wantRefreshes {
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
	})
}

func ptr(a fakebackend.Answer) *fakebackend.Answer { return &a }

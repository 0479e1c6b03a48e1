package contract

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
)

// burst is n copies of one request served concurrently.
type burst struct {
	n       int
	started sync.WaitGroup
	results chan asyncResult
}

// startBurst starts n goroutines, each serving a copy of rq through h.
func (e *env) startBurst(h http.Handler, n int, rq request) *burst {
	b := &burst{n: n, results: make(chan asyncResult, n)}
	b.started.Add(n)
	for i := 0; i < n; i++ {
		req, id := e.newRequest(rq)
		go func() {
			b.started.Done()
			res, err := serve(h, req)
			if res != nil {
				res.upstream = e.up.received(id)
			}
			b.results <- asyncResult{res, err}
		}()
	}
	return b
}

// waitStarted waits (bounded) until every goroutine is about to call
// ServeHTTP.
func (b *burst) waitStarted(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { b.started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitBound):
		t.Fatalf("burst: goroutines did not start within %v", waitBound)
	}
}

// collect waits (bounded) for every response.
func (b *burst) collect(t *testing.T) []*result {
	t.Helper()
	out := make([]*result, 0, b.n)
	deadline := time.After(waitBound)
	for i := 0; i < b.n; i++ {
		select {
		case ar := <-b.results:
			if ar.err != nil {
				t.Fatalf("burst request %d: %v", i, ar.err)
			}
			out = append(out, ar.res)
		case <-deadline:
			t.Fatalf("burst: %d of %d responses within %v", i, b.n, waitBound)
		}
	}
	return out
}

// wantAllLike runs check on the first result, then requires every other
// result to match it (status, body, Set-Cookie, upstream identity), so a
// broken flight reports one difference, not two hundred.
func wantAllLike(t *testing.T, results []*result, check func(t *testing.T, r *result)) {
	t.Helper()
	check(t, results[0])
	want := fingerprint(results[0])
	for i, r := range results[1:] {
		if got := fingerprint(r); got != want {
			t.Errorf("response %d of %d differs from the first:\ngot  %s\nwant %s", i+2, len(results), got, want)
			return
		}
	}
}

// fingerprint sums up what a client and the upstream saw.
func fingerprint(r *result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status %d body %q set-cookie %q", r.code, r.body, r.header.Values("Set-Cookie"))
	if r.upstream != nil {
		ids := identityValues(r.upstream, identityHeaders)
		for _, n := range identityHeaders {
			fmt.Fprintf(&b, " %s=%q", n, ids[n])
		}
	}
	return b.String()
}

const burstSize = 200

// TestDedupColdToken: 200 concurrent requests with one uncached token make
// exactly one validation call, and all get the identity.
func TestDedupColdToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("leo")
		leo := fakebackend.UserData("u-leo", "user", nil)
		e.be.SetUser(tok, leo)
		h := e.handler(t, e.opts(m{"backend": m{"timeout": "5s"}}))

		gate := e.be.Hold(fakebackend.Validate)
		b := e.startBurst(h, burstSize, page("/").cookie(userCookie, tok))
		b.waitStarted(t)
		gate.WaitArrivals(t, 1, waitBound)
		gate.Release()
		results := b.collect(t)

		wantCount(t, e.be, fakebackend.Validate, 1)
		wantAllLike(t, results, func(t *testing.T, r *result) {
			wantIdentity(t, r, tok, leo, "u-leo", "user", "")
		})
	})
}

// TestDedupExpiredToken: 200 concurrent requests with one expired token
// make exactly one refresh call; every response sets the same new cookie
// and none clears it.
func TestDedupExpiredToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		old := fakebackend.Token("mia-old")
		fresh := fakebackend.Token("mia-new")
		mia := fakebackend.UserData("u-mia", "user", nil)
		e.be.SetValidate(old, fakebackend.Unauthorized())
		e.be.RefreshTo(old, fresh, "", mia)
		h := e.handler(t, e.opts(m{"backend": m{"timeout": "5s"}}))

		gate := e.be.Hold(fakebackend.Refresh)
		b := e.startBurst(h, burstSize, page("/").cookie(userCookie, old))
		b.waitStarted(t)
		gate.WaitArrivals(t, 1, waitBound)
		gate.Release()
		results := b.collect(t)

		wantCount(t, e.be, fakebackend.Refresh, 1)
		wantAllLike(t, results, func(t *testing.T, r *result) {
			wantCookieSet(t, r, userCookie, fresh)
			wantIdentity(t, r, fresh, mia, "u-mia", "user", fresh)
		})
	})
}

// TestDedupLeaderCancelled: a request waiting on a shared backend call gets
// the call's result even when the request that started it goes away.
func TestDedupLeaderCancelled(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			desc     string
			endpoint string
		}{
			{"validation", fakebackend.Validate},
			{"refresh", fakebackend.Refresh},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				nina := fakebackend.UserData("u-nina", "user", nil)
				tok := fakebackend.Token(t.Name())
				fresh := fakebackend.Token(t.Name() + "-new")
				wantTok, wantRefreshed := tok, ""
				if tc.endpoint == fakebackend.Validate {
					e.be.SetUser(tok, nina)
				} else {
					e.be.SetValidate(tok, fakebackend.Unauthorized())
					e.be.RefreshTo(tok, fresh, "", nina)
					wantTok, wantRefreshed = fresh, fresh
				}
				h := e.handler(t, e.opts(m{"backend": m{"timeout": "5s"}}))
				before := e.be.Count(tc.endpoint)

				gate := e.be.Hold(tc.endpoint)
				defer gate.Release()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				leader := page("/").cookie(userCookie, tok)
				leader.ctx = ctx
				leaderDone := e.doAsync(h, leader)
				gate.WaitArrivals(t, 1, waitBound)
				cancel() // the leader's client goes away mid-call

				waiter := e.startBurst(h, 1, page("/").cookie(userCookie, tok))
				waiter.waitStarted(t)
				gate.Release()
				r := waiter.collect(t)[0]
				await(t, leaderDone, "leader request") // any answer, but no panic

				if got := e.be.Count(tc.endpoint) - before; got != 1 {
					t.Errorf("%s calls: got %d, want 1 (the waiter shares the leader's call)", tc.endpoint, got)
				}
				for _, c := range e.be.Calls(tc.endpoint)[before:] {
					if c.Aborted {
						t.Errorf("%s call was cancelled with the leader's request, want it detached", tc.endpoint)
					}
				}
				wantIdentity(t, r, wantTok, nina, "u-nina", "user", wantRefreshed)
				if wantRefreshed != "" {
					wantCookieSet(t, r, userCookie, fresh)
				}
			})
		}
	})
}

package contract

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// burst is n copies of one request served concurrently.
type burst struct {
	n       int
	started sync.WaitGroup
	results chan testkit.AsyncResult
}

// startBurst starts n goroutines, each serving a copy of rq through h.
func (e *env) startBurst(h http.Handler, n int, rq testkit.Request) *burst {
	b := &burst{n: n, results: make(chan testkit.AsyncResult, n)}
	b.started.Add(n)
	for i := 0; i < n; i++ {
		req, id := e.newRequest(rq)
		go func() {
			b.started.Done()
			res, err := serve(h, req)
			if res != nil {
				res.Upstream = e.up.Received(id)
			}
			b.results <- testkit.AsyncResult{Res: res, Err: err}
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
func (b *burst) collect(t *testing.T) []*testkit.Result {
	t.Helper()
	return testkit.Collect(t, b.results, b.n, waitBound)
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
		b := e.startBurst(h, burstSize, testkit.Page("/").Cookie(testkit.UserCookie, tok))
		b.waitStarted(t)
		gate.WaitArrivals(t, 1, waitBound)
		gate.Release()
		results := b.collect(t)

		testkit.WantCount(t, e.be, fakebackend.Validate, 1)
		testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
			testkit.WantIdentity(t, r, tok, leo, "u-leo", "user", "")
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
		b := e.startBurst(h, burstSize, testkit.Page("/").Cookie(testkit.UserCookie, old))
		b.waitStarted(t)
		gate.WaitArrivals(t, 1, waitBound)
		gate.Release()
		results := b.collect(t)

		testkit.WantCount(t, e.be, fakebackend.Refresh, 1)
		testkit.WantAllLike(t, results, func(t *testing.T, r *testkit.Result) {
			testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
			testkit.WantIdentity(t, r, fresh, mia, "u-mia", "user", fresh)
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
				leader := testkit.Page("/").Cookie(testkit.UserCookie, tok)
				leader.Ctx = ctx
				leaderDone := e.doAsync(h, leader)
				gate.WaitArrivals(t, 1, waitBound)
				cancel() // the leader's client goes away mid-call

				waiter := e.startBurst(h, 1, testkit.Page("/").Cookie(testkit.UserCookie, tok))
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
				testkit.WantIdentity(t, r, wantTok, nina, "u-nina", "user", wantRefreshed)
				if wantRefreshed != "" {
					testkit.WantCookieSet(t, r, testkit.UserCookie, fresh)
				}
			})
		}
	})
}

package authlayer

import (
	"context"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/redis"
	"github.com/authlayer/authlayer/internal/redistest"
)

// Cluster mode against a real redis-server (internal/redistest). Each
// "replica" is a middleware of its own name in this process: its caches,
// memos, refresh memo and buckets are its own, and only Redis joins them.
// (The logged-out marks are per process, so the logout tests publish the
// way another process does instead.) Real Traefik processes: test/e2e.

const clusterSecret = "a-cluster-secret-of-at-least-32-bytes!"

// clusterReplicas makes n middlewares sharing srv.
func clusterReplicas(t *testing.T, f *fakeBackend, srv *redistest.Server, n int, mutate func(*Config)) []http.Handler {
	t.Helper()
	var hs []http.Handler
	for i := 0; i < n; i++ {
		c := CreateConfig()
		c.Backend.URL = f.srv.URL
		c.Cookies.Secure = false
		c.Routes.Protected = []string{"/dashboard"}
		c.Cluster.Secret = clusterSecret
		c.Cluster.Redis.Endpoints = []string{srv.Addr()}
		if mutate != nil {
			mutate(c)
		}
		h, err := New(context.Background(), &upstream{}, c, t.Name()+"-replica-"+strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeClusterNode(h.(*middleware).state.cluster) })
		hs = append(hs, h)
	}
	return hs
}

func cookieRequest(path, name, value string) *http.Request {
	return page(path, &http.Cookie{Name: name, Value: value})
}

// TestClusterOneRefreshAcrossReplicas: parallel requests with one expired
// credential spread over three replicas make one refresh call, and every
// response hands out its result; also when the refresh takes longer than
// the lock's lease.
func TestClusterOneRefreshAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct{ name, cred string }{
		{"fast", "expired-c" + strconv.FormatInt(time.Now().UnixNano(), 36)},
		{"slower than the lease", "expired-slow-" + strconv.FormatInt(time.Now().UnixNano(), 36)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeBackend(t)
			hs := clusterReplicas(t, f, srv, 3, func(c *Config) {
				c.Cluster.RefreshLease = "300ms"
				c.Backend.Timeout = "5s"
			})
			const n = 30
			got := make([]string, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					rec := serve(hs[i%3], cookieRequest("/dashboard", "userToken", tc.cred))
					got[i] = strconv.Itoa(rec.Code) + " " + rec.Header().Get("Set-Cookie")
				}(i)
				time.Sleep(2 * time.Millisecond)
			}
			wg.Wait()
			if r := f.refreshes.Load(); r != 1 {
				t.Errorf("%d refresh calls for one credential across 3 replicas, want 1", r)
			}
			want := "userToken=user-" + strings.TrimPrefix(tc.cred, "expired-") + ";"
			for i, g := range got {
				if !strings.HasPrefix(g, "200 "+want) {
					t.Errorf("request %d (replica %d): %q, want 200 with %q", i, i%3, g, want)
				}
			}
		})
	}
}

// TestClusterSharesValidations: a token validated on one replica is not
// validated again by the others while the answer is cached.
func TestClusterSharesValidations(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 3, nil)
	tok := "user-v" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := 0; i < 9; i++ {
		if rec := serve(hs[i%3], cookieRequest("/dashboard", "userToken", tok)); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	if v := f.validates.Load(); v != 1 {
		t.Errorf("%d backend validations across 3 replicas, want 1", v)
	}
}

// TestClusterBudgets: a client's request budget is the configured one
// across replicas, not one per replica.
func TestClusterBudgets(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 3, func(c *Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Requests = 12
		c.RateLimit.Window = "1h"
	})
	allowed := 0
	for i := 0; i < 36; i++ {
		rec := serve(hs[i%3], page("/public"))
		switch rec.Code {
		case http.StatusOK:
			allowed++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	if allowed != 12 {
		t.Errorf("%d requests allowed across 3 replicas, want the budget of 12", allowed)
	}
}

// TestClusterLogoutPublishedElsewhere: a logout published by another
// process reaches a replica that remembers the session (its memo serves
// it without a miss) within a second; a logout stored before a replica
// started is learnt from Redis.
func TestClusterLogoutPublishedElsewhere(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 1, nil)
	h := hs[0]
	tok := "user-l" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := 0; i < 2; i++ {
		if rec := serve(h, cookieRequest("/dashboard", "userToken", tok)); rec.Code != http.StatusOK {
			t.Fatalf("before the logout: status %d", rec.Code)
		}
	}
	other := otherProcess(t, srv)
	time.Sleep(300 * time.Millisecond) // the subscriber started with the first miss
	publishLogout(t, other, tok)
	deadline := time.Now().Add(time.Second)
	for serve(h, cookieRequest("/dashboard", "userToken", tok)).Code == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("a logout published elsewhere was not refused here within 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Stored before this replica looked: learnt on its first miss.
	early := "user-e" + strconv.FormatInt(time.Now().UnixNano(), 36)
	publishLogout(t, other, early)
	late := clusterReplicas(t, f, srv, 1, func(c *Config) { c.Routes.Protected = []string{"/dashboard", "/late"} })
	if rec := serve(late[0], cookieRequest("/dashboard", "userToken", early)); rec.Code == http.StatusOK {
		t.Error("a logout stored in Redis before the token was seen here was not refused")
	}
}

// otherProcess is a Redis client with the cluster's keys, standing for
// another Traefik.
func otherProcess(t *testing.T, srv *redistest.Server) *clusterNode {
	t.Helper()
	c := CreateConfig()
	c.Backend.URL = "http://127.0.0.1:1"
	c.Cluster.Secret = clusterSecret
	c.Cluster.Redis.Endpoints = []string{srv.Addr()}
	s, err := compileSettings(c)
	if err != nil {
		t.Fatal(err)
	}
	n := clusterNodeFor(t.Name()+"-other", s)
	t.Cleanup(func() { closeClusterNode(n) })
	return n
}

// publishLogout publishes token's logout as another replica does, without
// marking it in this process.
func publishLogout(t *testing.T, n *clusterNode, token string) {
	t.Helper()
	clusterPublishLogout(n, []clusterMark{{token: token, life: time.Hour, verified: true}})
	if n.degraded {
		t.Fatal("publishing failed")
	}
}

// TestClusterRedisDownKeepsSessions: with Redis unreachable a replica
// serves as it would alone, and says once that it degraded.
func TestClusterRedisDownKeepsSessions(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	var logs lockedBuffer
	log.SetOutput(&logs)
	defer log.SetOutput(os.Stderr)
	hs := clusterReplicas(t, f, srv, 1, nil)
	srv.Kill()
	for i := 0; i < 5; i++ {
		tok := "user-d" + strconv.Itoa(i) + strconv.FormatInt(time.Now().UnixNano(), 36)
		if rec := serve(hs[0], cookieRequest("/dashboard", "userToken", tok)); rec.Code != http.StatusOK {
			t.Fatalf("Redis down: status %d for a valid token", rec.Code)
		}
	}
	rec := serve(hs[0], cookieRequest("/dashboard", "userToken", "expired-d"+strconv.FormatInt(time.Now().UnixNano(), 36)))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Set-Cookie"), "userToken=user-") {
		t.Errorf("Redis down: a refresh got %d %q, want it made here", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	if got := strings.Count(logs.String(), "cluster: redis unavailable"); got != 1 {
		t.Errorf("%d degrade lines, want 1:\n%s", got, logs.String())
	}
	srv.Restart()
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(logs.String(), "cluster: redis back") {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery line within 3s of Redis returning:\n%s", logs.String())
		}
		serve(hs[0], cookieRequest("/dashboard", "userToken", "user-r"+strconv.FormatInt(time.Now().UnixNano(), 36)))
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "user-") || strings.Contains(logs.String(), "expired-") {
		t.Errorf("a token in the log:\n%s", logs.String())
	}
}

// TestClusterRedisHoldsNoToken: after refreshes, validations and a
// logout, no key or value in Redis holds a token.
func TestClusterRedisHoldsNoToken(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 2, func(c *Config) { c.RateLimit.Enabled = true })
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	serve(hs[0], cookieRequest("/dashboard", "userToken", "expired-k"+stamp))
	serve(hs[1], cookieRequest("/dashboard", "userToken", "expired-k"+stamp))
	serve(hs[1], cookieRequest("/dashboard", "userToken", "user-k"+stamp))
	publishLogout(t, otherProcess(t, srv), "user-k"+stamp)
	c, err := redis.New(redis.Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close(c)
	keys, err := redis.Do(c, time.Now().Add(2*time.Second), "KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Array) < 4 {
		t.Fatalf("only %d keys in Redis: nothing was shared", len(keys.Array))
	}
	for _, k := range keys.Array {
		v, _ := redis.Do(c, time.Now().Add(2*time.Second), "GET", k.Str)
		for _, s := range []string{k.Str, v.Str} {
			if strings.Contains(s, stamp) || strings.Contains(s, "user-") || strings.Contains(s, "rt-next") {
				t.Errorf("Redis holds a token in %q", k.Str)
			}
		}
		if !strings.HasPrefix(k.Str, "authlayer:") {
			t.Errorf("key %q outside the prefix", k.Str)
		}
	}
}

// TestClusterRequestBudgetShares: a large request budget is spent from
// shares of 1/100 of it, so three replicas make one round trip per share,
// and the client still gets the budget within three shares (3%).
func TestClusterRequestBudgetShares(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 3, func(c *Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Requests = 1000
		c.RateLimit.Window = "1h"
	})
	c, err := redis.New(redis.Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close(c)
	allowed := 0
	for i := 0; i < 1100; i++ {
		rec := serve(hs[i%3], page("/public"))
		if rec.Code == http.StatusOK {
			allowed++
		} else if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	if allowed > 1000 || allowed < 970 {
		t.Errorf("%d of 1100 requests allowed across 3 replicas, want the budget of 1000 within 3%%", allowed)
	}
	v, err := redis.Do(c, time.Now().Add(2*time.Second), "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	evals := 0
	for _, line := range strings.Split(v.Str, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_eval:calls="); ok {
			evals, _ = strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
		}
	}
	// 1000 requests in shares of 10; a refusal is remembered until a
	// token drips back (36 s here), so the 100 refused ask once each.
	if evals > 1000/10+10 {
		t.Errorf("%d scripts for 1100 requests: the shares did not save round trips", evals)
	}
}

// TestClusterRefreshChecksTheStoredLogout: a credential logged out on
// another replica is never sent to the backend here, even before the
// published logout arrives (the mark is stored first; only the key is
// written here, as if the message were still on its way).
func TestClusterRefreshChecksTheStoredLogout(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 1, func(c *Config) { c.Cookies.Refresh = "refreshToken" })
	serve(hs[0], cookieRequest("/dashboard", "userToken", "user-warm"+strconv.FormatInt(time.Now().UnixNano(), 36)))
	deadline := time.Now().Add(3 * time.Second)
	for !subscriberSynced(hs[0].(*middleware).state.cluster) { // the local marks are complete from now on
		if time.Now().After(deadline) {
			t.Fatal("the subscriber did not sync")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cred := "expired-o" + strconv.FormatInt(time.Now().UnixNano(), 36)
	other := otherProcess(t, srv)
	c, err := redis.New(redis.Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close(c)
	until := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	if _, err := redis.Do(c, time.Now().Add(time.Second), "SET", clusterKey(other, "out", cred), until+" v", "PX", "3600000"); err != nil {
		t.Fatal(err)
	}
	// An expired access token beside the logged-out refresh credential.
	rec := serve(hs[0], page("/dashboard", &http.Cookie{Name: "userToken", Value: "expired-a" + cred}, &http.Cookie{Name: "refreshToken", Value: cred}))
	if f.refreshes.Load() != 0 {
		t.Errorf("a credential logged out elsewhere was sent to the backend (%d refresh calls); answer %d", f.refreshes.Load(), rec.Code)
	}
}

// TestClusterLeaseSurvivesAnEmptyRestart: Redis losing its keys in the
// middle of a refresh (restarted empty) does not free the credential for
// another replica: the holder takes its lock back at the next renewal.
func TestClusterLeaseSurvivesAnEmptyRestart(t *testing.T) {
	srv := redistest.Start(t)
	f := newFakeBackend(t)
	hs := clusterReplicas(t, f, srv, 2, func(c *Config) {
		c.Cluster.RefreshLease = "300ms"
		c.Backend.Timeout = "5s"
	})
	c, err := redis.New(redis.Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer redis.Close(c)
	cred := "expired-slow-l" + strconv.FormatInt(time.Now().UnixNano(), 36)
	first := make(chan int, 1)
	go func() { first <- serve(hs[0], cookieRequest("/dashboard", "userToken", cred)).Code }()
	time.Sleep(150 * time.Millisecond) // the refresh is running at the backend (1 s)
	if _, err := redis.Do(c, time.Now().Add(time.Second), "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // past a renewal (every 100 ms)
	second := serve(hs[1], cookieRequest("/dashboard", "userToken", cred))
	if code := <-first; code != http.StatusOK {
		t.Errorf("the holder's request: %d", code)
	}
	if got := f.refreshes.Load(); got != 1 {
		t.Errorf("%d refresh calls for one credential after Redis lost the lock, want 1 (second request: %d)", got, second.Code)
	}
}

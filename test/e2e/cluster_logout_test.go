package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// clusterPropagation is how soon a logout at one replica must hold at
// every other.
const clusterPropagation = time.Second

// logoutRun is what one session's logout and replays showed.
type logoutRun struct {
	kind         string
	warmed       bool
	logoutCode   int
	replays      int
	servedEarly  int // replays served as the user less than clusterPropagation after the logout
	servedLate   int // replays served as the user later: a failure
	lastServed   time.Duration
	refreshCalls int // backend refresh calls with the logged-out credential
	problems     []string
}

// TestClusterLogout: a session is used at every replica (each caches it)
// and logged out at replica 0 (endpoints.logout, POST /auth/logout). As
// soon as the logout has answered, the refresh cookie alone goes to
// replica 1 and both cookies to replica 2 at once, as a browser's next
// requests would; then the cookies are replayed at replicas 1 and 2 every
// 50 ms for 3 s (both cookies, the access cookie alone, the refresh cookie
// alone), past cache.ttl and jwt.revalidateInterval, though the backend
// would still validate and refresh them (its logout is a no-op). In
// backend mode and in jwt.mode local, revalidate and fallback: from 1 s
// after the logout answered no replay is served as the user; the refresh
// credential never reaches the backend after the logout answered; tokens
// a replay was handed open no session either; Redis keeps the marks for
// the tokens' life; neither Redis nor what it was sent holds a token.
func TestClusterLogout(t *testing.T) {
	const (
		sessionsPerKind = 10
		observe         = 3 * time.Second
		every           = 50 * time.Millisecond
		markLife        = 50 * time.Minute // the JWTs live an hour; opaque tokens their cookie's max age
	)
	k := jwtkit.Generate(t)
	tokens := newTokenSet()
	var c *cluster
	jwtMint := func(sub string) (string, map[string]interface{}) {
		claims := jwtkit.Std(sub, "user")
		tok := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", claims)
		c.be.SetUser(tok, claims.Data(t)) // for the modes that ask the backend
		return tok, claims.Data(t)
	}
	jwtOpts := func(mode string, extra m) m {
		o := m{"enabled": "true", "secret": jwtkit.Secret, "mode": mode}
		testkit.Merge(o, extra)
		return m{"jwt": o}
	}
	kinds := []seKind{
		{"backend", m{}, func(sub string) (string, map[string]interface{}) {
			tok, data := fakebackend.Token(sub), fakebackend.UserData(sub, "user", nil)
			c.be.SetUser(tok, data)
			return tok, data
		}},
		{"local", jwtOpts("local", nil), jwtMint},
		{"revalidate", jwtOpts("revalidate", m{"revalidateInterval": "1s"}), jwtMint},
		{"fallback", jwtOpts("fallback", nil), jwtMint},
	}
	c = startCluster(t, clusterReplicas, traefikrun.Options{}, func(c *cluster) sites {
		ss := sites{}
		for _, kind := range kinds {
			ss["lo-"+kind.name] = c.withCluster(seEndpoints(kind.opts), nil)
		}
		return ss
	})

	mon := c.rd.Monitor(t)
	runs := make([]*logoutRun, 0, len(kinds)*sessionsPerKind)
	type job struct {
		kind seKind
		i    int
	}
	var jobs []job
	for _, kind := range kinds {
		for i := 0; i < sessionsPerKind; i++ {
			jobs = append(jobs, job{kind, i})
		}
	}
	var mu sync.Mutex
	_ = seRun(len(jobs), len(jobs), func(j int) error {
		run := c.logoutSession(jobs[j].kind, jobs[j].i, observe, every, tokens)
		mu.Lock()
		runs = append(runs, run)
		mu.Unlock()
		return nil
	})

	// Redis: no token (stored, or sent to it: the marks' SET and PUBLISH),
	// and the marks live as long as the tokens.
	mon.Stop()
	monText := mon.Text()
	if found := traces(monText, nil); len(found) > 0 {
		t.Errorf("MONITOR (%d commands sent to redis) shows %s", strings.Count(monText, "\n"), strings.Join(found, ", "))
	}
	if !strings.Contains(monText, `"PUBLISH"`) {
		t.Errorf("MONITOR saw no PUBLISH: no logout was published")
	}
	families := c.redisHoldsNoToken(t, tokens)
	var marks []time.Duration
	for _, e := range c.rd.Dump(t) {
		if familyOf(e.Key) == "out" {
			marks = append(marks, time.Duration(e.PTTL)*time.Millisecond)
		}
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i] < marks[j] })
	lasting := 0
	for _, d := range marks {
		if d >= markLife || d < 0 { // -1: no expiry
			lasting++
		}
	}
	wantMarks := 2 * len(jobs) // each session's access token and refresh credential
	if lasting < wantMarks {
		t.Errorf("redis holds %d logout marks living at least %v (of %d out: keys), want one per logged-out token: %d", lasting, markLife, len(marks), wantMarks)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "logout at replica 0, replays at replicas 1 and 2 every %v for %v (%d sessions per mode, concurrently):\n", every, observe, sessionsPerKind)
	fmt.Fprintf(&b, "  %-11s %8s %7s %7s %12s %10s %11s %13s\n", "mode", "sessions", "logout", "replays", "served<1s", "served>=1s", "lastServed", "refresh calls")
	for _, kind := range kinds {
		var sessions, logoutOK, replays, early, late, refreshes int
		var last time.Duration = -1
		for _, r := range runs {
			if r.kind != kind.name {
				continue
			}
			sessions++
			if r.logoutCode == http.StatusOK {
				logoutOK++
			}
			replays += r.replays
			early += r.servedEarly
			late += r.servedLate
			refreshes += r.refreshCalls
			if r.servedEarly+r.servedLate > 0 && r.lastServed > last {
				last = r.lastServed
			}
			for _, p := range r.problems {
				t.Errorf("%s: %s", kind.name, p)
			}
		}
		lastText := "never"
		if last >= 0 {
			lastText = fmt.Sprintf("%.2fs", last.Seconds())
		}
		fmt.Fprintf(&b, "  %-11s %8d %3d/%-3d %7d %12d %10d %11s %13d\n", kind.name, sessions, logoutOK, sessions, replays, early, late, lastText, refreshes)
	}
	fmt.Fprintf(&b, "  redis: keys by family %s; MONITOR %d commands, %d PUBLISH; out: keys living >= %v: %d of %d",
		familyLine(families), strings.Count(monText, "\n"), strings.Count(monText, `"PUBLISH"`), markLife, lasting, len(marks))
	if len(marks) > 0 {
		fmt.Fprintf(&b, " (TTL %v .. %v)", marks[0].Round(time.Second), marks[len(marks)-1].Round(time.Second))
	}
	if n := c.panicLines(); n != 0 {
		t.Errorf("the replicas' logs hold %d lines about a panic", n)
	}
	t.Logf("%s", b.String())
}

// logoutSession runs one session of kind: used at every replica, logged
// out at replica 0, replayed at replicas 1 and 2.
func (c *cluster) logoutSession(kind seKind, i int, observe, every time.Duration, tokens *tokenSet) *logoutRun {
	run := &logoutRun{kind: kind.name}
	site := "lo-" + kind.name
	sub := fmt.Sprintf("u-lo-%s-%d", kind.name, i)
	access, _ := kind.mint(sub)
	credential := fakebackend.Token(sub + "-refresh")
	// Were it asked, the backend would refresh the credential.
	fresh, freshData := kind.mint(sub + "-fresh")
	c.be.RefreshTo(credential, fresh, "", freshData)
	tokens.add(sub, access, credential, fresh)
	session := page(site, "/account").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, credential)

	for rep := 0; rep < len(c.reps); rep++ {
		r, err := c.send(rep, session)
		if err != nil {
			run.problems = append(run.problems, fmt.Sprintf("session %d before logout at replica %d: %v", i, rep, err))
			return run
		}
		if r.Code != http.StatusOK || r.Upstream == nil || r.Upstream.Get(testkit.HeaderUserID) != sub {
			run.problems = append(run.problems, fmt.Sprintf("session %d before logout at replica %d: status %d, forwarded %v, want served as the user", i, rep, r.Code, r.Upstream != nil))
			return run
		}
	}
	run.warmed = true

	out := session
	out.Target, out.Accept, out.Method = seLogoutPath, "application/json", http.MethodPost
	r, err := c.send(0, out)
	if err != nil {
		run.problems = append(run.problems, fmt.Sprintf("session %d logout: %v", i, err))
		return run
	}
	loggedOutAt := time.Now()
	run.logoutCode = r.Code
	if r.Code != http.StatusOK {
		run.problems = append(run.problems, fmt.Sprintf("session %d logout at replica 0: status %d %.80q, want 200", i, r.Code, r.Body))
	}

	combos := []struct {
		name string
		rq   testkit.Request
	}{
		{"access and refresh cookies", session},
		{"the access cookie alone", page(site, "/account").Cookie(testkit.UserCookie, access)},
		{"the refresh cookie alone", page(site, "/account").Cookie(testkit.RefreshCookie, credential)},
	}
	var mu sync.Mutex
	issued := map[string]string{} // session cookies a replay was given
	replay := func(rep int, combo string, rq testkit.Request) {
		sentAt := time.Since(loggedOutAt)
		r, err := c.send(rep, rq)
		mu.Lock()
		defer mu.Unlock()
		run.replays++
		if err != nil {
			run.problems = append(run.problems, fmt.Sprintf("session %d replay at replica %d: %v", i, rep, err))
			return
		}
		for _, ck := range r.Cookies {
			if !testkit.IsClearing(ck) && (ck.Name == testkit.UserCookie || ck.Name == testkit.RefreshCookie) {
				issued[ck.Name] = ck.Value
			}
		}
		if seServedAsUser(r) {
			run.lastServed = sentAt
			if sentAt < clusterPropagation {
				run.servedEarly++
			} else {
				run.servedLate++
				if run.servedLate <= 2 {
					run.problems = append(run.problems, fmt.Sprintf("session %d: replay with %s at replica %d sent %.2f s after the logout answered got a session: status %d, forwarded with identity %v, Set-Cookie names %v",
						i, combo, rep, sentAt.Seconds(), r.Code, r.Upstream != nil && len(testkit.IdentityValues(r.Upstream, testkit.IdentityHeaders)) > 0, cookieNames(r)))
				}
			}
		}
	}
	// refreshCheck reports the backend refresh calls the replays since
	// the last check made with the logged-out credential.
	seen := 0
	refreshCheck := func(what string) {
		if n := c.be.CountFor(fakebackend.Refresh, credential); n > seen {
			run.problems = append(run.problems, fmt.Sprintf("session %d: %s made %d backend refresh call(s) with the logged-out credential", i, what, n-seen))
			seen = n
		}
	}

	// At once: the refresh cookie alone at replica 1 and both cookies at
	// replica 2, as a browser's next requests would come.
	var wg sync.WaitGroup
	for _, first := range []struct{ rep, combo int }{{1, 2}, {2, 0}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replay(first.rep, combos[first.combo].name, combos[first.combo].rq)
		}()
	}
	wg.Wait()
	refreshCheck("the replays sent at once right after the logout answered (the refresh cookie alone at replica 1, both cookies at replica 2)")
	for j := 0; j < int(observe/every)+1 && time.Since(loggedOutAt) < observe; j++ {
		rep := 1 + j%2
		combo := combos[(j/2)%len(combos)]
		sentAt := time.Since(loggedOutAt)
		replay(rep, combo.name, combo.rq)
		refreshCheck(fmt.Sprintf("the replay with %s at replica %d sent %.3f s after the logout answered", combo.name, rep, sentAt.Seconds()))
		time.Sleep(every)
	}
	// Tokens a replay was handed after the logout must not open a
	// session either.
	if len(issued) > 0 {
		rq := page(site, "/account")
		for name, v := range issued {
			rq = rq.Cookie(name, v)
		}
		for rep := 1; rep < len(c.reps); rep++ {
			if r, err := c.send(rep, rq); err == nil && seServedAsUser(r) {
				run.problems = append(run.problems, fmt.Sprintf("session %d: the cookies a replay was handed after the logout (%v) open a session at replica %d %.1f s after the logout",
					i, sortedKeys(issued), rep, time.Since(loggedOutAt).Seconds()))
				break
			}
		}
	}
	run.refreshCalls = c.be.CountFor(fakebackend.Refresh, credential)
	if run.refreshCalls != 0 {
		run.problems = append(run.problems, fmt.Sprintf("session %d: %d backend refresh calls with the logged-out credential, want 0", i, run.refreshCalls))
	}
	return run
}

func sortedKeys(mp map[string]string) []string {
	out := make([]string, 0, len(mp))
	for k := range mp {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

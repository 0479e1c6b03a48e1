package e2e

// Cluster mode through real Traefik replicas: three Traefik processes
// with the same dynamic configuration (the same middleware names, the same
// cluster options), one redis-server (../redisrun), one fake auth backend
// whose refresh credentials are single-use (fakebackend.NewRotating: a
// replayed credential answers 409 token_reuse, which logs the user out)
// and one upstream. The test sends every request itself to the replica it
// chooses (request i of a session to replica i%3), so a session's
// requests meet every replica with no proxy in between.
//
// The files:
//   - cluster_test.go: the harness (startCluster, sending to a replica,
//     storms, log lines, the Redis token check) and the refresh storms;
//   - cluster_logout_test.go: logouts seen by every replica;
//   - cluster_budgets_test.go: cluster-wide rate budgets and shared
//     validations;
//   - cluster_faults_test.go: Redis killed, restarted empty, paused and
//     answering errors.
//
// From the test module (cd test):
//
//	TRAEFIK_BIN=/path/to/traefik AUTHLAYER_REQUIRE_REDIS=1 go test -count=1 -v -run TestCluster ./e2e/
//
// AUTHLAYER_CLUSTER_TRIALS (default 100) sets the trials per cell of the
// refresh storms. Without redis-server the tests skip, unless
// AUTHLAYER_REQUIRE_REDIS=1. Every test logs its figures (t.Logf) in a
// small table.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/redisrun"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// clusterReplicas is the number of Traefik processes of a cluster test.
const clusterReplicas = 3

// clusterSecret is every replica's cluster.secret (at least 32 bytes).
const clusterSecret = "e2e-cluster-secret-0123456789abcdef-0123456789abcdef"

// clusterPrefix is cluster.keyPrefix's default: every key and channel
// starts with it.
const clusterPrefix = "authlayer:"

// The log lines of cluster mode (substrings of Traefik's log).
const (
	logRedisDown = "cluster: redis unavailable"
	logRedisBack = "cluster: redis back"
)

// cluster is one cluster test's world.
type cluster struct {
	rd     *redisrun.Server
	be     *fakebackend.Backend
	up     *testkit.Upstream
	upURL  string
	reps   []*traefikrun.Traefik
	client *http.Client
	render *suite // renders sites as the e2e harness does
	sites  sites
}

// startCluster starts Redis, the rotating backend, the upstream and n
// Traefik replicas serving the sites build returns (build may program
// the backend; c.rd and c.be are set when it runs).
func startCluster(t *testing.T, n int, topts traefikrun.Options, build func(c *cluster) sites) *cluster {
	t.Helper()
	traefikrun.Binary(t) // skips (or fails) here, on the test's goroutine
	c := &cluster{rd: redisrun.Start(t), be: fakebackend.NewRotating(t), up: testkit.NewUpstream()}
	upSrv := httptest.NewServer(c.up)
	t.Cleanup(upSrv.Close)
	c.upURL = upSrv.URL
	c.render = &suite{be: c.be, upURL: c.upURL}
	c.sites = build(c)
	topts.Dynamic = c.render.dynamic(c.sites, nil)
	if topts.StartTimeout == 0 {
		topts.StartTimeout = 120 * time.Second // n processes loading the plugin at once on 2 cores
	}
	c.reps = make([]*traefikrun.Traefik, n)
	errs := make([]string, n)
	var wg sync.WaitGroup
	started := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := &goTB{TB: t}
			defer func() { errs[i] = g.err() }()
			c.reps[i] = traefikrun.Start(g, topts)
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" || c.reps[i] == nil {
			t.Fatalf("replica %d did not start: %s", i, e)
		}
	}
	transport := &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	t.Cleanup(transport.CloseIdleConnections)
	c.client = &http.Client{
		Transport:     transport,
		Timeout:       waitBound,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Logf("cluster: %d replicas and redis-server %s started in %.1f s", n, c.rd.Addr(), time.Since(started).Seconds())
	return c
}

// goTB lets traefikrun.Start run on a goroutine of its own: a fatal
// failure ends that goroutine and is reported by startCluster.
type goTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (g *goTB) fail(msg string) {
	g.mu.Lock()
	g.msg = msg
	g.mu.Unlock()
	runtime.Goexit()
}

func (g *goTB) err() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.msg
}

func (g *goTB) Fatal(args ...interface{})                 { g.fail(fmt.Sprint(args...)) }
func (g *goTB) Fatalf(format string, args ...interface{}) { g.fail(fmt.Sprintf(format, args...)) }
func (g *goTB) FailNow()                                  { g.fail("FailNow") }
func (g *goTB) Skip(args ...interface{})                  { g.fail("skip: " + fmt.Sprint(args...)) }
func (g *goTB) Skipf(format string, args ...interface{}) {
	g.fail("skip: " + fmt.Sprintf(format, args...))
}
func (g *goTB) SkipNow() { g.fail("SkipNow") }

// withCluster returns site options with cluster mode on (this cluster's
// Redis, the shared secret) and extra merged into the cluster options.
func (c *cluster) withCluster(site, extra m) m {
	cl := m{"secret": clusterSecret, "redis": m{"endpoints": testkit.List(c.rd.Addr())}}
	testkit.Merge(cl, extra)
	out := m{}
	testkit.Merge(out, site)
	testkit.Merge(out, m{"cluster": cl})
	return out
}

// send performs rq at replica rep; safe from any goroutine.
func (c *cluster) send(rep int, rq testkit.Request) (*testkit.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	req, err := rq.ClientRequest(ctx, c.reps[rep].URL)
	if err != nil {
		return nil, err
	}
	id := c.up.Tag(req)
	startT := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %s %s (Host %s): %w", rep, req.Method, rq.Target, req.Host, err)
	}
	defer resp.Body.Close()
	res, err := testkit.ReadResult(resp)
	if err != nil {
		return nil, fmt.Errorf("replica %d: %s %s: %w", rep, req.Method, rq.Target, err)
	}
	res.Upstream = c.up.Received(id)
	res.Elapsed = time.Since(startT)
	return res, nil
}

// do performs rq at replica rep or fails the test.
func (c *cluster) do(t *testing.T, rep int, rq testkit.Request) *testkit.Result {
	t.Helper()
	r, err := c.send(rep, rq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// logOffsets are the replicas' log sizes now, for waitLogs.
func (c *cluster) logOffsets() []int {
	out := make([]int, len(c.reps))
	for i, tr := range c.reps {
		out[i] = tr.LogSize()
	}
	return out
}

// waitLogs waits, at most bound, until every replica's log written after
// its offset holds substr, and returns for each replica how long after
// since it was first seen (-1: not within bound).
func (c *cluster) waitLogs(offsets []int, substr string, since time.Time, bound time.Duration) []time.Duration {
	seen := make([]time.Duration, len(c.reps))
	for i := range seen {
		seen[i] = -1
	}
	deadline := time.Now().Add(bound)
	for iter := 0; iter < int(bound/(20*time.Millisecond))+2; iter++ {
		missing := 0
		for i, tr := range c.reps {
			if seen[i] >= 0 {
				continue
			}
			logs := tr.Logs()
			if offsets[i] <= len(logs) && strings.Contains(logs[offsets[i]:], substr) {
				seen[i] = time.Since(since)
				continue
			}
			missing++
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return seen
}

// logCount is how many lines of replica rep's log after offset hold
// substr.
func (c *cluster) logCount(rep, offset int, substr string) int {
	logs := c.reps[rep].Logs()
	if offset > len(logs) {
		return 0
	}
	return strings.Count(logs[offset:], substr)
}

// panicLines counts lines telling of a panic in every replica's log and
// output.
func (c *cluster) panicLines() int {
	n := 0
	for _, tr := range c.reps {
		n += sePanicLines(tr)
	}
	return n
}

// durations formats seen times for a table ("-" for never).
func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		if d < 0 {
			parts[i] = "never"
			continue
		}
		parts[i] = fmt.Sprintf("%.2fs", d.Seconds())
	}
	return strings.Join(parts, " ")
}

// ---- refresh storms --------------------------------------------------------

// stormSession is one session whose access token the backend now calls
// invalid: its next request refreshes it with the single-use credential
// refresh, which answers fresh and rotated.
type stormSession struct {
	label                           string
	access, refresh, fresh, rotated string
	id                              string
}

// newStormSession programs the backend for a session; the refresh answer
// takes delay.
func (c *cluster) newStormSession(label string, delay time.Duration) stormSession {
	s := stormSession{
		label:   label,
		access:  fakebackend.Token(label + "-access"),
		refresh: fakebackend.Token(label + "-refresh"),
		fresh:   fakebackend.Token(label + "-fresh"),
		rotated: fakebackend.Token(label + "-rotated"),
		id:      "u-" + label,
	}
	c.be.SetValidate(s.access, fakebackend.Unauthorized())
	c.be.SetUser(s.fresh, fakebackend.UserData(s.id, "user", nil))
	answer := fakebackend.Refreshed(s.fresh, s.rotated)
	answer.Delay = delay
	c.be.SetRefresh(s.refresh, answer)
	return s
}

// tokens are the session's token strings.
func (s stormSession) tokens() []string { return []string{s.access, s.refresh, s.fresh, s.rotated} }

// stormOutcome sums up one storm.
type stormOutcome struct {
	requests  int
	served    int // the app reached as the user with the new token, new cookies set
	noCookies int // served with the new token but without the new cookies
	retryable int // 503, not forwarded, no cookie cleared
	lost      int // anything else: a cookie cleared, a refusal, another token
	refreshes int // backend refresh calls with the credential
	aborted   int // of which the caller gave up before the answer (its timeout)
	rotatedRe int // backend refresh calls with the rotated credential
	finalOK   bool
	problems  []string
}

// stormClass classifies one answer to a storm request of session s.
func stormClass(s stormSession, r *testkit.Result) (class string, detail string) {
	for _, ck := range r.Cookies {
		if testkit.IsClearing(ck) {
			return "lost", fmt.Sprintf("status %d clears cookie %s", r.Code, ck.Name)
		}
	}
	if r.Code == http.StatusOK && r.Upstream != nil {
		if got := r.Upstream.Get(testkit.HeaderAuthz); got != "Bearer "+s.fresh {
			return "lost", fmt.Sprintf("served with another Authorization (the old token: %v)", got == "Bearer "+s.access)
		}
		if !setsCookie(r, testkit.UserCookie, s.fresh) || !setsCookie(r, testkit.RefreshCookie, s.rotated) {
			return "noCookies", fmt.Sprintf("served as the user without the new cookies (Set-Cookie names %v)", cookieNames(r))
		}
		return "served", ""
	}
	if r.Code == http.StatusServiceUnavailable && r.Upstream == nil {
		return "retryable", ""
	}
	return "lost", fmt.Sprintf("status %d (forwarded %v) body %.80q", r.Code, r.Upstream != nil, r.Body)
}

func setsCookie(r *testkit.Result, name, value string) bool {
	for _, ck := range r.SetCookies(name) {
		if ck.Value == value && !testkit.IsClearing(ck) {
			return true
		}
	}
	return false
}

func cookieNames(r *testkit.Result) []string {
	var out []string
	for _, ck := range r.Cookies {
		out = append(out, ck.Name)
	}
	return out
}

// runStorm sends n requests of session s to site's target, request k at
// k*spacing to replica (first+k)%replicas, then follows the session with
// the cookies the client ended with (the Set-Cookie answers applied in
// the order they arrived) at every replica.
func (c *cluster) runStorm(site, target string, s stormSession, n int, spacing time.Duration, first int) stormOutcome {
	sends := make([]stormSend, n)
	for k := range sends {
		sends[k] = stormSend{rep: (first + k) % len(c.reps), at: time.Duration(k) * spacing}
	}
	return c.runStormSends(site, target, s, sends, first+n)
}

// stormSend is one request of a storm: sent at replica rep, at after the
// storm began, or, with gate, when gate is closed.
type stormSend struct {
	rep  int
	at   time.Duration
	gate <-chan struct{}
}

// runStormSends sends the requests of session s, then follows the
// session at every replica from replica next on.
func (c *cluster) runStormSends(site, target string, s stormSession, sends []stormSend, next int) stormOutcome {
	type arrival struct {
		k   int
		res *testkit.Result
		err error
	}
	var mu sync.Mutex
	var arrivals []arrival
	var wg sync.WaitGroup
	begin := time.Now()
	n := len(sends)
	for k, snd := range sends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if snd.gate != nil {
				<-snd.gate
			} else if d := snd.at - time.Since(begin); d > 0 {
				time.Sleep(d)
			}
			rq := api(site, target).Cookie(testkit.UserCookie, s.access).Cookie(testkit.RefreshCookie, s.refresh)
			r, err := c.send(snd.rep, rq)
			mu.Lock()
			arrivals = append(arrivals, arrival{k: k, res: r, err: err})
			mu.Unlock()
		}()
	}
	wg.Wait()
	out := stormOutcome{requests: n}
	jar := map[string]string{testkit.UserCookie: s.access, testkit.RefreshCookie: s.refresh}
	for _, a := range arrivals {
		if a.err != nil {
			out.lost++
			out.problems = append(out.problems, fmt.Sprintf("request %d (replica %d): %v", a.k, sends[a.k].rep, a.err))
			continue
		}
		class, detail := stormClass(s, a.res)
		switch class {
		case "served":
			out.served++
		case "noCookies":
			out.noCookies++
		case "retryable":
			out.retryable++
		default:
			out.lost++
		}
		if detail != "" {
			out.problems = append(out.problems, fmt.Sprintf("request %d (replica %d): %s", a.k, sends[a.k].rep, detail))
		}
		for _, ck := range a.res.Cookies {
			if testkit.IsClearing(ck) {
				delete(jar, ck.Name)
			} else {
				jar[ck.Name] = ck.Value
			}
		}
	}
	out.finalOK = true
	for i := 0; i < len(c.reps); i++ {
		rq := api(site, target)
		for _, name := range []string{testkit.UserCookie, testkit.RefreshCookie} {
			if v, ok := jar[name]; ok {
				rq = rq.Cookie(name, v)
			}
		}
		rep := (next + i) % len(c.reps)
		r, err := c.send(rep, rq)
		if err != nil {
			out.finalOK = false
			out.problems = append(out.problems, fmt.Sprintf("afterwards at replica %d: %v", rep, err))
			break
		}
		ok := r.Code == http.StatusOK && r.Upstream != nil && r.Upstream.Get(testkit.HeaderUserID) == s.id
		for _, ck := range r.Cookies {
			ok = ok && !testkit.IsClearing(ck)
			if !testkit.IsClearing(ck) {
				jar[ck.Name] = ck.Value
			}
		}
		if !ok {
			out.finalOK = false
			out.problems = append(out.problems, fmt.Sprintf("afterwards at replica %d with the cookies the client ended with (user cookie is the new token: %v): status %d, forwarded as the user %v, Set-Cookie names %v",
				rep, jar[testkit.UserCookie] == s.fresh, r.Code, r.Upstream != nil && r.Upstream.Get(testkit.HeaderUserID) == s.id, cookieNames(r)))
			break
		}
	}
	out.refreshes = c.be.CountFor(fakebackend.Refresh, s.refresh)
	for _, call := range c.be.Calls(fakebackend.Refresh) {
		if call.Token == s.refresh && call.Aborted {
			out.aborted++
		}
	}
	if arrivals := c.be.RefreshArrivals(s.refresh); len(arrivals) > 1 {
		offsets := make([]string, len(arrivals))
		for i, at := range arrivals {
			offsets[i] = fmt.Sprintf("+%.2fs", at.Sub(begin).Seconds())
		}
		out.problems = append(out.problems, fmt.Sprintf("backend refresh calls with the credential arrived at %s after the storm began (%d abandoned by their caller)",
			strings.Join(offsets, ", "), out.aborted))
	}
	out.rotatedRe = c.be.CountFor(fakebackend.Refresh, s.rotated)
	return out
}

// stormCell is the figures of one cell (parallel requests × spacing).
type stormCell struct {
	n        int
	spacing  time.Duration
	trials   int
	requests int
	served   int
	noCook   int
	retry    int
	lost     int
	final    int // sessions that worked afterwards
	refMin   int
	refMax   int
	badRef   int // sessions with a refresh count other than 1
	aborted  int // refresh calls abandoned by their caller (timed out)
	rotated  int // refresh calls with rotated credentials
	wall     time.Duration
	problems []string
}

func (cell *stormCell) add(o stormOutcome) {
	cell.requests += o.requests
	cell.served += o.served
	cell.noCook += o.noCookies
	cell.retry += o.retryable
	cell.lost += o.lost
	if o.finalOK {
		cell.final++
	}
	if cell.trials == 0 || o.refreshes < cell.refMin {
		cell.refMin = o.refreshes
	}
	if o.refreshes > cell.refMax {
		cell.refMax = o.refreshes
	}
	if o.refreshes != 1 {
		cell.badRef++
		o.problems = append(o.problems, fmt.Sprintf("backend refresh calls with the credential: %d, want 1", o.refreshes))
	}
	cell.rotated += o.rotatedRe
	cell.aborted += o.aborted
	cell.trials++
	for _, p := range o.problems {
		if len(cell.problems) < 6 {
			cell.problems = append(cell.problems, p)
		}
	}
}

// check reports the cell's failures: a session lost, an answer without
// the new cookies, a session that did not work afterwards, a refresh
// count other than one.
func (cell *stormCell) check(t *testing.T, name string) {
	t.Helper()
	if cell.lost+cell.noCook != 0 || cell.final != cell.trials || cell.badRef != 0 || cell.rotated != 0 {
		t.Errorf("%s n=%d spacing=%v: %d of %d answers lost the session, %d served without the new cookies; %d of %d sessions worked afterwards; %d sessions with a refresh count other than 1 (min %d, max %d); %d refresh calls with a rotated credential; first problems:\n  %s",
			name, cell.n, cell.spacing, cell.lost, cell.requests, cell.noCook, cell.final, cell.trials, cell.badRef, cell.refMin, cell.refMax, cell.rotated, strings.Join(cell.problems, "\n  "))
	}
}

func stormTable(title string, cells []*stormCell) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", title)
	fmt.Fprintf(&b, "  %-4s %-8s %6s %8s %7s %9s %9s %5s %9s %11s %8s %6s\n", "n", "spacing", "trials", "requests", "served", "noCookie", "retryable", "lost", "worked", "refresh/cr", "timedOut", "wall")
	for _, c := range cells {
		fmt.Fprintf(&b, "  %-4d %-8v %6d %8d %7d %9d %9d %5d %4d/%-4d %5d..%-4d %8d %5.1fs\n",
			c.n, c.spacing, c.trials, c.requests, c.served, c.noCook, c.retry, c.lost, c.final, c.trials, c.refMin, c.refMax, c.aborted, c.wall.Seconds())
	}
	return b.String()
}

// clusterTrials is the number of trials per storm cell.
func clusterTrials() int {
	if v := os.Getenv("AUTHLAYER_CLUSTER_TRIALS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 1000 {
			return n
		}
	}
	return 100
}

// runCells runs trials sessions per cell, concurrently within a cell
// (workers sessions at once), and returns the cells' figures.
func (c *cluster) runCells(site, target, label string, ns []int, spacings []time.Duration, trials int, delay time.Duration,
	workers func(n int, spacing time.Duration) int, tokens *tokenSet,
) []*stormCell {
	var cells []*stormCell
	for _, spacing := range spacings {
		for _, n := range ns {
			cell := &stormCell{n: n, spacing: spacing}
			sessions := make([]stormSession, trials)
			for i := range sessions {
				sessions[i] = c.newStormSession(fmt.Sprintf("%s-n%d-s%d-t%d", label, n, spacing.Milliseconds(), i), delay)
				tokens.add(sessions[i].label, sessions[i].tokens()...)
			}
			var mu sync.Mutex
			started := time.Now()
			_ = seRun(trials, workers(n, spacing), func(i int) error {
				o := c.runStorm(site, target, sessions[i], n, spacing, i%len(c.reps))
				mu.Lock()
				cell.add(o)
				mu.Unlock()
				return nil
			})
			cell.wall = time.Since(started)
			cells = append(cells, cell)
		}
	}
	return cells
}

// ---- what Redis holds ------------------------------------------------------

// tokenSet is every token string a test handed out, by owner label.
type tokenSet struct {
	mu     sync.Mutex
	owners map[string]string
}

func newTokenSet() *tokenSet { return &tokenSet{owners: map[string]string{}} }

func (ts *tokenSet) add(owner string, tokens ...string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, tok := range tokens {
		if tok != "" {
			ts.owners[tok] = owner
		}
	}
}

func (ts *tokenSet) list() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]string, 0, len(ts.owners))
	for tok := range ts.owners {
		out = append(out, tok)
	}
	return out
}

// jwtLike matches a JWT-looking string (three base64url segments, the
// first a JSON header), and threeSegments any dotted triple of long
// base64url runs.
var (
	jwtLike       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}`)
	threeSegments = regexp.MustCompile(`[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{8,}`)
)

// tokenMarkers are encodings of a JWT's first bytes ("eyJhbGci", the
// base64url of `{"alg"`) as other encodings would show them, and the
// signature marker of every fakebackend token.
var tokenMarkers = []string{
	"c2lnbmF0dXJl", // base64 of "signature": every fakebackend.Token's signature
	base64.StdEncoding.EncodeToString([]byte("eyJhbGci"))[:10],
	hex.EncodeToString([]byte("eyJhbGci")),
}

// traces describes what in text looks like a token: a JWT-looking
// string, an encoding marker, or one of tokens (raw, base64 or hex).
// Descriptions name the owner, never the token.
func traces(text string, tokens *tokenSet) []string {
	var out []string
	if m := jwtLike.FindString(text); m != "" {
		out = append(out, fmt.Sprintf("a JWT-looking string (%d characters)", len(m)))
	}
	if m := threeSegments.FindString(text); m != "" {
		out = append(out, fmt.Sprintf("a three-segment base64url string (%d characters)", len(m)))
	}
	for _, mk := range tokenMarkers {
		if strings.Contains(text, mk) {
			out = append(out, "an encoded token marker")
			break
		}
	}
	if tokens != nil && len(text) < 1<<16 {
		for _, tok := range tokens.list() {
			for _, enc := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), base64.RawURLEncoding.EncodeToString([]byte(tok)), hex.EncodeToString([]byte(tok))} {
				if strings.Contains(text, enc) {
					tokens.mu.Lock()
					owner := tokens.owners[tok]
					tokens.mu.Unlock()
					out = append(out, "a token of "+owner)
					break
				}
			}
		}
	}
	return out
}

// keyFamilies are the key families cluster mode may store ("rl" stands
// for rl<budget number>).
var keyFamilies = []string{"out", "lock", "res", "val", "rl"}

// familyOf is the family of a key ("<prefix><family>:..."), "" when the
// key does not have that shape.
func familyOf(key string) string {
	rest, ok := strings.CutPrefix(key, clusterPrefix)
	if !ok {
		return ""
	}
	fam, _, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	// Budget keys carry the budget's number: rl0:, rl1:, ...
	if digits := strings.TrimLeft(strings.TrimPrefix(fam, "rl"), "0123456789"); strings.HasPrefix(fam, "rl") && digits == "" {
		return "rl"
	}
	for _, f := range keyFamilies {
		if f == fam {
			return fam
		}
	}
	return ""
}

// redisHoldsNoToken dumps Redis and checks that no key or value holds a
// token (tokens, any JWT-looking string); every key must be
// "<prefix><family>:...". It returns the dump's key count by family.
func (c *cluster) redisHoldsNoToken(t *testing.T, tokens *tokenSet) map[string]int {
	t.Helper()
	dump := c.rd.Dump(t)
	families := map[string]int{}
	bad := 0
	for _, e := range dump {
		fam := familyOf(e.Key)
		if fam == "" {
			families["(other)"]++
			if bad < 5 {
				t.Errorf("redis key %.60q: want %s<%s>:...", e.Key, clusterPrefix, strings.Join(keyFamilies, "|"))
			}
			bad++
		} else {
			families[fam]++
		}
		text := e.Key + "\n" + strings.Join(e.Values, "\n")
		if found := traces(text, tokens); len(found) > 0 {
			if bad < 5 {
				t.Errorf("redis key of family %q (type %s) holds %s", fam, e.Type, strings.Join(found, ", "))
			}
			bad++
		}
	}
	if len(dump) == 0 {
		t.Errorf("redis holds no key at all: the check would prove nothing")
	}
	if bad > 0 {
		t.Errorf("%d of %d redis keys are misnamed or hold a token", bad, len(dump))
	}
	return families
}

func familyLine(families map[string]int) string {
	names := make([]string, 0, len(families))
	for k := range families {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, families[k])
	}
	return strings.Join(parts, ", ")
}

// ---- the refresh storms ----------------------------------------------------

// TestClusterRefreshStorms: a session whose access token expired sends 2,
// 8 or 32 requests at once or 50 ms apart, spread over three replicas;
// its refresh credential is single-use. Every request is served as the
// user with the new tokens (or at worst answered 503, retryable), no
// cookie is cleared, the session works afterwards with the cookies the
// client ended with, and the backend sees exactly one refresh call per
// credential. Then the same with a refresh slower than cluster.refreshLease.
// Neither Redis (dumped right after the storms and while the slow
// refreshes hold their locks) nor anything sent to it (MONITOR) holds a
// token.
func TestClusterRefreshStorms(t *testing.T) {
	const (
		slowLease  = "1s"
		slowHold   = 2500 * time.Millisecond
		slowTrials = 15
	)
	tokens := newTokenSet()
	c := startCluster(t, clusterReplicas, traefikrun.Options{}, func(c *cluster) sites {
		storm := m{
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes":  m{"protected": testkit.List("/api/me", "/account")},
		}
		slow := m{}
		testkit.Merge(slow, storm)
		testkit.Merge(slow, m{"backend": m{"timeout": "8s"}})
		guests := m{}
		testkit.Merge(guests, storm)
		testkit.Merge(guests, seGuestOpts)
		c.be.EnableGuest("guest-user", "guest-pass")
		return sites{
			"storm":  c.withCluster(storm, nil),
			"slow":   c.withCluster(slow, m{"refreshLease": slowLease}),
			"guests": c.withCluster(guests, nil),
		}
	})
	mon := c.rd.Monitor(t)
	trials := clusterTrials()
	ns := []int{2, 8, 32}
	spacings := []time.Duration{0, 50 * time.Millisecond}

	// Guests minted at one replica and used at the others, for the dump.
	guestsMinted := 0
	for i := 0; i < 30; i++ {
		r := c.do(t, i%clusterReplicas, page("guests", "/"))
		for _, ck := range r.SetCookies(testkit.GuestCookie) {
			tokens.add("a guest", ck.Value)
			guestsMinted++
			for j := 1; j < clusterReplicas; j++ {
				c.do(t, (i+j)%clusterReplicas, page("guests", "/").Cookie(testkit.GuestCookie, ck.Value))
			}
		}
	}

	started := time.Now()
	fast := c.runCells("storm", "/api/me", "storm", ns, spacings, trials, 0, func(n int, spacing time.Duration) int {
		if spacing > 0 {
			return 16
		}
		return max(1, 64/n)
	}, tokens)
	fastWall := time.Since(started)

	// Right after the storms, while the remembered results live.
	families := c.redisHoldsNoToken(t, tokens)

	// One batch per spacing, every cell of a batch at once: about 15
	// refreshes held per replica, under the 32 backend call slots one
	// client address may hold (backend.maxConcurrent 64), so no refresh
	// waits for a slot and times out.
	started = time.Now()
	var slowCells []*stormCell
	var midFamilies map[string]int
	for bi, spacing := range spacings {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, n := range ns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cells := c.runCells("slow", "/api/me", "slow", []int{n}, []time.Duration{spacing}, slowTrials, slowHold,
					func(int, time.Duration) int { return slowTrials }, tokens)
				mu.Lock()
				slowCells = append(slowCells, cells...)
				mu.Unlock()
			}()
		}
		if bi == 0 {
			// While the slow refreshes hold their locks.
			time.Sleep(slowHold / 2)
			midFamilies = c.redisHoldsNoToken(t, tokens)
		}
		wg.Wait()
	}
	sort.Slice(slowCells, func(i, j int) bool {
		if slowCells[i].spacing != slowCells[j].spacing {
			return slowCells[i].spacing < slowCells[j].spacing
		}
		return slowCells[i].n < slowCells[j].n
	})
	slowWall := time.Since(started)

	mon.Stop()
	monText := mon.Text()
	monLines := strings.Count(monText, "\n")
	monFound := traces(monText, nil)
	if len(monFound) > 0 {
		t.Errorf("MONITOR (%d commands sent to redis) shows %s", monLines, strings.Join(monFound, ", "))
	}
	if monLines == 0 {
		t.Errorf("MONITOR recorded no command: cluster mode did not talk to redis")
	}

	for _, cell := range fast {
		cell.check(t, "storm")
	}
	for _, cell := range slowCells {
		cell.check(t, "slow refresh")
	}
	if n := c.panicLines(); n != 0 {
		t.Errorf("the replicas' logs hold %d lines about a panic", n)
	}
	t.Logf("%s", stormTable(fmt.Sprintf("refresh storms over %d replicas, %d trials per cell (sessions run concurrently), wall %.1f s:", clusterReplicas, trials, fastWall.Seconds()), fast))
	t.Logf("%s", stormTable(fmt.Sprintf("refresh held %v > cluster.refreshLease %s (backend.timeout 8s), %d trials per cell, the cells of a spacing at once, wall %.1f s:", slowHold, slowLease, slowTrials, slowWall.Seconds()), slowCells))
	t.Logf("redis: %d guests minted; keys by family right after the storms: %s; during the slow refreshes: %s; MONITOR: %d commands, token traces: %d",
		guestsMinted, familyLine(families), familyLine(midFamilies), monLines, len(monFound))
}

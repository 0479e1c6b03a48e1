package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Bounds of the fault test, from the cluster-mode contract.
const (
	// clusterRecovery: cluster behaviour is back this soon after Redis.
	clusterRecovery = 2 * time.Second
	// clusterDegrade bounds how long a replica takes to say Redis is gone
	// (readTimeout 500ms, dialTimeout 2s, and margin).
	clusterDegrade = 4 * time.Second
	// steadyLatencyBound bounds a steady request while Redis fails: the
	// dial timeout (2s) and one read timeout (500ms) before falling back,
	// the backend's 2s timeout, and margin.
	steadyLatencyBound = 5500 * time.Millisecond
)

// phaseStats is what the steady load saw during one phase.
type phaseStats struct {
	requests   int
	bad        int // not served as the user
	status5xx  int
	clearing   int // answers clearing a cookie
	maxLatency time.Duration
	problems   []string
}

// steadyLoad keeps valid sessions (backend-validated and local JWTs)
// busy at every replica, round-robin, for the whole fault test, and
// every 8th request refreshes a session of its own: each request would
// succeed without Redis.
type steadyLoad struct {
	c    *cluster
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	phase  string
	order  []string
	stats  map[string]*phaseStats
	starts [][]int // per phase in order: the replicas' log sizes when it began
	states map[string]phaseState
	// refreshed are the sessions refreshed by one request each.
	refreshed []stormSession
}

type steadyUser struct {
	site, token, id string
}

func (c *cluster) startSteadyLoad(users []steadyUser, workers int, pause time.Duration) *steadyLoad {
	l := &steadyLoad{c: c, stop: make(chan struct{}), stats: map[string]*phaseStats{}, states: map[string]phaseState{}}
	l.setPhase("redis up", phaseUp)
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for j := 0; j < 1000000; j++ {
				select {
				case <-l.stop:
					return
				default:
				}
				rep := (w + j) % len(c.reps)
				phase := l.current()
				if j%8 == 7 {
					// A session refreshed by one request at one replica:
					// with or without Redis, one refresh and new cookies.
					s := c.newStormSession(fmt.Sprintf("steady-refresh-%d-%d", w, j), 0)
					r, err := c.send(rep, api("f-storm", "/api/me").Cookie(testkit.UserCookie, s.access).Cookie(testkit.RefreshCookie, s.refresh))
					l.record(phase, rep, r, err, func(r *testkit.Result) string {
						if class, detail := stormClass(s, r); class != "served" {
							return fmt.Sprintf("a refresh at replica %d: %s %s", rep, class, detail)
						}
						return ""
					})
					l.mu.Lock()
					l.refreshed = append(l.refreshed, s)
					l.mu.Unlock()
				} else {
					u := users[(w*7+j)%len(users)]
					r, err := c.send(rep, api(u.site, "/api/me").Cookie(testkit.UserCookie, u.token))
					l.record(phase, rep, r, err, func(r *testkit.Result) string {
						if r.Code != http.StatusOK || r.Upstream == nil || r.Upstream.Get(testkit.HeaderUserID) != u.id {
							return fmt.Sprintf("%s at replica %d: status %d (forwarded %v) body %.80q", u.site, rep, r.Code, r.Upstream != nil, r.Body)
						}
						return ""
					})
				}
				time.Sleep(pause)
			}
		}()
	}
	return l
}

// phaseState says what Redis does during a phase, for the log lines.
type phaseState int

const (
	phaseUp     phaseState = iota // Redis works: no "unavailable" line
	phaseBroken                   // Redis fails: no "back" line
	phaseMixed                    // a short outage inside: no check
)

// setPhase starts a phase.
func (l *steadyLoad) setPhase(name string, state phaseState) {
	offsets := l.c.logOffsets()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = name
	l.states[name] = state
	if l.stats[name] == nil {
		l.stats[name] = &phaseStats{}
		l.order = append(l.order, name)
		l.starts = append(l.starts, offsets)
	}
}

// logLines counts, per replica, the lines holding substr that were
// logged during phase i.
func (l *steadyLoad) logLines(logs []string, i int, substr string) (string, int) {
	parts := make([]string, len(logs))
	total := 0
	for rep, text := range logs {
		from, to := l.starts[i][rep], len(text)
		if i+1 < len(l.starts) {
			to = l.starts[i+1][rep]
		}
		n := 0
		if from <= to && to <= len(text) {
			n = strings.Count(text[from:to], substr)
		}
		parts[rep] = fmt.Sprint(n)
		total += n
	}
	return strings.Join(parts, " "), total
}

func (l *steadyLoad) current() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

// record counts one answer; wrong says what is wrong with it ("": it is
// the session's).
func (l *steadyLoad) record(phase string, rep int, r *testkit.Result, err error, wrong func(r *testkit.Result) string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats[phase]
	st.requests++
	if err != nil {
		st.bad++
		if len(st.problems) < 3 {
			st.problems = append(st.problems, err.Error())
		}
		return
	}
	if r.Elapsed > st.maxLatency {
		st.maxLatency = r.Elapsed
	}
	if r.Code >= 500 {
		st.status5xx++
	}
	clears := false
	for _, ck := range r.Cookies {
		clears = clears || testkit.IsClearing(ck)
	}
	if clears {
		st.clearing++
	}
	what := wrong(r)
	if clears && what == "" {
		what = fmt.Sprintf("replica %d: status %d clears a cookie", rep, r.Code)
	}
	if what != "" {
		st.bad++
		if len(st.problems) < 3 {
			st.problems = append(st.problems, fmt.Sprintf("%s (after %.2fs)", what, r.Elapsed.Seconds()))
		}
	}
}

// end stops the load and reports every phase: no answer but the user's
// session, no cookie cleared, bounded latency.
func (l *steadyLoad) end(t *testing.T) string {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	twice := 0
	for _, s := range l.refreshed {
		if l.c.be.CountFor(fakebackend.Refresh, s.refresh) != 1 {
			twice++
		}
	}
	if twice != 0 {
		t.Errorf("steady load: %d of %d sessions refreshed by one request made a refresh call count other than 1", twice, len(l.refreshed))
	}
	logs := make([]string, len(l.c.reps))
	for rep, tr := range l.c.reps {
		logs[rep] = tr.Logs()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %-34s %8s %10s %4s %8s %11s %-14s %-14s\n", "steady load, phase", "requests", "not served", "5xx", "clearing", "max latency", "'unavailable'", "'back'")
	for i, name := range l.order {
		st := l.stats[name]
		down, downs := l.logLines(logs, i, logRedisDown)
		back, backs := l.logLines(logs, i, logRedisBack)
		fmt.Fprintf(&b, "  %-34s %8d %10d %4d %8d %10.2fs %-14s %-14s\n", name, st.requests, st.bad, st.status5xx, st.clearing, st.maxLatency.Seconds(), down, back)
		// One line when a replica degrades, one when it recovers: no
		// "back" while Redis still fails, no "unavailable" while it works.
		if l.states[name] == phaseBroken && backs != 0 {
			t.Errorf("%s: the replicas logged %q %s times (per replica) while Redis still failed", name, logRedisBack, back)
		}
		if l.states[name] == phaseUp && downs != 0 {
			t.Errorf("%s: the replicas logged %q %s times (per replica) while Redis worked", name, logRedisDown, down)
		}
		if st.bad != 0 {
			t.Errorf("steady load, %s: %d of %d requests that need no Redis were not served as their user (%d 5xx, %d clearing a cookie): %s",
				name, st.bad, st.requests, st.status5xx, st.clearing, strings.Join(st.problems, "; "))
		}
		if st.maxLatency > steadyLatencyBound {
			t.Errorf("steady load, %s: a request took %.2f s, want at most %v (the replica falls back within the Redis timeouts)", name, st.maxLatency.Seconds(), steadyLatencyBound)
		}
	}
	fmt.Fprintf(&b, "  (every 8th steady request refreshes a session of its own at one replica: %d refreshes)\n", len(l.refreshed))
	return b.String()
}

// probe is one recovery probe: a session used at replica 1, logged out
// at replica 0 at offset after Redis returned, replayed at replicas 1 and
// 2 one second later.
type probe struct {
	offset  time.Duration
	valid   bool // the session worked before its logout, the logout answered 200
	refused bool
	detail  string
}

// recoveryProbes starts a probe every step for span from since and
// returns when every probe is done, with the offset from which every
// probe's logout held at the other replicas (-1: never).
func (c *cluster) recoveryProbes(site, label string, mint func(sub string) string, since time.Time, span, step time.Duration, tokens *tokenSet) (time.Duration, []probe) {
	n := int(span / step)
	probes := make([]probe, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if d := time.Until(since.Add(time.Duration(i) * step)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := fmt.Sprintf("u-%s-%d", label, i)
			tok := mint(sub)
			tokens.add(sub, tok)
			p := &probes[i]
			r, err := c.send(1, page(site, "/account").Cookie(testkit.UserCookie, tok))
			if err != nil || r.Code != http.StatusOK || r.Upstream == nil {
				p.detail = "the session did not work before its logout"
				return
			}
			p.offset = time.Since(since)
			r, err = c.send(0, seLogout(site).Cookie(testkit.UserCookie, tok))
			if err != nil || r.Code != http.StatusOK {
				p.detail = "the logout did not answer 200"
				return
			}
			p.valid = true
			time.Sleep(clusterPropagation)
			p.refused = true
			for _, rep := range []int{1, 2} {
				r, err := c.send(rep, page(site, "/account").Cookie(testkit.UserCookie, tok))
				if err != nil || seServedAsUser(r) {
					p.refused = false
					p.detail = fmt.Sprintf("served as the user at replica %d 1 s after the logout", rep)
				}
			}
		}()
	}
	wg.Wait()
	recovered := time.Duration(-1)
	for i := n - 1; i >= 0; i-- {
		if !probes[i].valid || !probes[i].refused {
			break
		}
		recovered = probes[i].offset
	}
	return recovered, probes
}

// heldRefreshAcross runs sessions whose refresh the backend holds: each
// session's first request goes to replica i%replicas and refreshes; once
// every refresh has reached the backend, outage runs (Redis fails and
// returns), then after settle each session sends followers requests at
// once, spread over every replica, while its refresh is still held. No
// follower may replay the credential: they wait for the holder's result
// (or answer retryable).
func (c *cluster) heldRefreshAcross(sessions []stormSession, followers int, outage func(), settle time.Duration) *stormCell {
	cell := &stormCell{n: 1 + followers}
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := time.Now()
	for i, s := range sessions {
		sends := []stormSend{{rep: i % len(c.reps)}}
		for k := 0; k < followers; k++ {
			sends = append(sends, stormSend{rep: (i + 1 + k) % len(c.reps), gate: gate})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := c.runStormSends("f-storm", "/api/me", s, sends, i+1)
			mu.Lock()
			cell.add(o)
			mu.Unlock()
		}()
	}
	for wait := 0; wait < 150; wait++ {
		arrived := 0
		for _, s := range sessions {
			if c.be.CountFor(fakebackend.Refresh, s.refresh) > 0 {
				arrived++
			}
		}
		if arrived == len(sessions) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	outage()
	time.Sleep(settle)
	close(gate)
	wg.Wait()
	cell.wall = time.Since(started)
	return cell
}

// TestClusterRedisFaults: while valid sessions keep every replica busy
// (every 8th request refreshing a session of its own), Redis is killed in
// the middle of refresh storms, restarted empty, paused (SIGSTOP) for
// 10 s, made to answer OOM errors to writes and NOPERM to every command;
// and, while refreshes are held at the backend, restarted empty or paused
// longer than cluster.refreshLease, the same credentials then arriving at
// the other replicas 2.2 s after Redis returned. Requests that need no
// Redis are all served as their user (no 5xx, no cookie cleared, bounded
// latency); the storms and the held refreshes lose no session and make
// one refresh per credential; each replica logs "cluster: redis
// unavailable" when Redis fails and "cluster: redis back" once it
// returns, neither while the other holds; within 2 s of Redis returning a
// logout at replica 0 holds at replicas 1 and 2 again.
func TestClusterRedisFaults(t *testing.T) {
	const (
		stormSessions = 12
		stormN        = 8
		stormHold     = 1500 * time.Millisecond
		pauseFor      = 10 * time.Second
		probeSpan     = 3 * time.Second
		probeStep     = 100 * time.Millisecond
		// Refreshes held across a short outage: Redis fails 200 ms after
		// they reach the backend, returns, and 2.2 s later other replicas
		// get the same credentials: the hold outlasts all that.
		heldSessions  = 6
		heldFollowers = 6
		heldHold      = 5 * time.Second
		heldPause     = 1500 * time.Millisecond
	)
	k := jwtkit.Generate(t)
	tokens := newTokenSet()
	c := startCluster(t, clusterReplicas, traefikrun.Options{}, func(c *cluster) sites {
		jwtSite := seEndpoints(m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"}})
		return sites{
			"f-steady": c.withCluster(m{"routes": m{"protected": testkit.List("/api/me")}}, nil),
			"f-jwt":    c.withCluster(jwtSite, nil),
			"f-storm": c.withCluster(m{
				"backend": m{"timeout": "8s"},
				"cookies": m{"refresh": testkit.RefreshCookie},
				"routes":  m{"protected": testkit.List("/api/me")},
			}, m{"refreshLease": "1s"}),
		}
	})
	mintJWT := func(sub string) string {
		return jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", jwtkit.Std(sub, "user"))
	}
	var users []steadyUser
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("u-steady-%d", i)
		tok := fakebackend.Token(id)
		c.be.SetUser(tok, fakebackend.UserData(id, "user", nil))
		users = append(users, steadyUser{"f-steady", tok, id})
	}
	for i := 0; i < 10; i++ {
		id := fmt.Sprintf("u-steady-jwt-%d", i)
		users = append(users, steadyUser{"f-jwt", mintJWT(id), id})
	}
	load := c.startSteadyLoad(users, 3, 15*time.Millisecond)
	time.Sleep(time.Second)

	type faultRow struct {
		name      string
		down      []time.Duration // per replica: "unavailable" logged after the fault began
		back      []time.Duration // per replica: "back" logged after Redis returned
		recovered time.Duration   // cluster logouts hold again, after Redis returned
		probes    []probe
	}
	var rows []*faultRow
	// recoverAndProbe waits for the "back" lines and probes the cluster's logouts.
	recoverAndProbe := func(row *faultRow, offsets []int, returned time.Time) {
		row.back = c.waitLogs(offsets, logRedisBack, returned, clusterRecovery+time.Second)
		row.recovered, row.probes = c.recoveryProbes("f-jwt", "probe-"+strings.ReplaceAll(row.name, " ", "-"), mintJWT, returned, probeSpan, probeStep, tokens)
	}

	// 1. Killed in the middle of refresh storms: every credential's
	// refresh has reached the backend (held there 1.5 s), the other
	// requests wait on it at every replica.
	stormRow := &faultRow{name: "killed mid-storm"}
	rows = append(rows, stormRow)
	cell := &stormCell{n: stormN}
	sessions := make([]stormSession, stormSessions)
	for i := range sessions {
		sessions[i] = c.newStormSession(fmt.Sprintf("fault-storm-%d", i), stormHold)
		tokens.add(sessions[i].label, sessions[i].tokens()...)
	}
	offsets := c.logOffsets()
	var swg sync.WaitGroup
	var smu sync.Mutex
	stormStarted := time.Now()
	for i := range sessions {
		swg.Add(1)
		go func() {
			defer swg.Done()
			o := c.runStorm("f-storm", "/api/me", sessions[i], stormN, 0, i%len(c.reps))
			smu.Lock()
			cell.add(o)
			smu.Unlock()
		}()
	}
	arrived := 0
	for wait := 0; wait < 150 && arrived < len(sessions); wait++ {
		arrived = 0
		for _, s := range sessions {
			if c.be.CountFor(fakebackend.Refresh, s.refresh) > 0 {
				arrived++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the other requests reach their replicas and wait
	load.setPhase("killed mid-storm", phaseBroken)
	killedAt := time.Now()
	c.rd.Kill(t)
	stormRow.down = c.waitLogs(offsets, logRedisDown, killedAt, clusterDegrade)
	swg.Wait()
	cell.wall = time.Since(stormStarted)
	cell.check(t, "Redis killed mid-storm")
	load.setPhase("down", phaseBroken)
	time.Sleep(1500 * time.Millisecond)

	// 2. Restarted empty on the same port.
	restartRow := &faultRow{name: "restarted empty", down: stormRow.down}
	rows = append(rows, restartRow)
	offsets = c.logOffsets()
	load.setPhase("restarted empty", phaseUp)
	c.rd.Restart(t)
	recoverAndProbe(restartRow, offsets, time.Now())

	// 2b. Restarted empty while refreshes are held at the backend: the
	// holders' locks are gone. Requests at the other replicas once Redis
	// has been back for the recovery bound must not replay the
	// credentials.
	load.setPhase("restart during held refreshes", phaseMixed)
	newHeld := func(label string) []stormSession {
		out := make([]stormSession, heldSessions)
		for i := range out {
			out[i] = c.newStormSession(fmt.Sprintf("%s-%d", label, i), heldHold)
			tokens.add(out[i].label, out[i].tokens()...)
		}
		return out
	}
	restartHeld := c.heldRefreshAcross(newHeld("held-restart"), heldFollowers, func() {
		c.rd.Kill(t)
		c.rd.Restart(t)
	}, clusterRecovery+200*time.Millisecond)
	restartHeld.check(t, "Redis restarted empty during held refreshes")

	// 3. Paused: connections open, nothing answered, for 10 s.
	pauseRow := &faultRow{name: fmt.Sprintf("paused %v", pauseFor)}
	rows = append(rows, pauseRow)
	offsets = c.logOffsets()
	load.setPhase("paused", phaseBroken)
	pausedAt := time.Now()
	c.rd.Pause(t)
	pauseRow.down = c.waitLogs(offsets, logRedisDown, pausedAt, clusterDegrade)
	time.Sleep(time.Until(pausedAt.Add(pauseFor)))
	offsets = c.logOffsets()
	load.setPhase("resumed", phaseUp)
	c.rd.Resume(t)
	recoverAndProbe(pauseRow, offsets, time.Now())

	// 3b. Paused longer than the lease (f-storm's refreshLease is 1s)
	// while refreshes are held, then
	// requests at the other replicas once Redis has been back for the
	// recovery bound.
	load.setPhase("pause during held refreshes", phaseMixed)
	pauseHeld := c.heldRefreshAcross(newHeld("held-pause"), heldFollowers, func() {
		c.rd.Pause(t)
		time.Sleep(heldPause)
		c.rd.Resume(t)
	}, clusterRecovery+200*time.Millisecond)
	pauseHeld.check(t, fmt.Sprintf("Redis paused %v (> cluster.refreshLease) during held refreshes", heldPause))

	// 4. Answering errors: OOM to every write, then NOPERM to every
	// command.
	for _, f := range []struct {
		name           string
		break_, repair func(testing.TB)
	}{
		{"OOM errors on writes", c.rd.FailWrites, c.rd.AllowWrites},
		{"NOPERM on every command", c.rd.DenyAll, c.rd.AllowAll},
	} {
		row := &faultRow{name: f.name}
		rows = append(rows, row)
		offsets = c.logOffsets()
		load.setPhase(f.name, phaseBroken)
		brokeAt := time.Now()
		f.break_(t)
		row.down = c.waitLogs(offsets, logRedisDown, brokeAt, clusterDegrade)
		time.Sleep(time.Until(brokeAt.Add(2 * time.Second)))
		offsets = c.logOffsets()
		load.setPhase(f.name+", repaired", phaseUp)
		f.repair(t)
		recoverAndProbe(row, offsets, time.Now())
	}

	steadyTable := load.end(t)

	var b strings.Builder
	fmt.Fprintf(&b, "redis faults under a steady load of %d sessions over %d replicas:\n", len(users), clusterReplicas)
	fmt.Fprintf(&b, "  %-24s %-26s %-26s %-14s %s\n", "fault", "'unavailable' logged at", "'back' logged at", "logouts hold", "probes refused")
	for _, row := range rows {
		rec := "never"
		if row.recovered >= 0 {
			rec = fmt.Sprintf("after %.2fs", row.recovered.Seconds())
		}
		refused, valid := 0, 0
		for _, p := range row.probes {
			if p.valid {
				valid++
				if p.refused {
					refused++
				}
			}
		}
		back := "-"
		if row.probes != nil {
			back = durations(row.back)
		}
		fmt.Fprintf(&b, "  %-24s %-26s %-26s %-14s %d/%d\n", row.name, durations(row.down), back, rec, refused, valid)
		for i, d := range row.down {
			if d < 0 && row.name != "restarted empty" {
				t.Errorf("%s: replica %d logged no %q within %v", row.name, i, logRedisDown, clusterDegrade)
			}
		}
		if row.probes == nil {
			continue
		}
		for i, d := range row.back {
			if d < 0 || d > clusterRecovery {
				t.Errorf("%s: replica %d logged %q %s after Redis returned, want within %v", row.name, i, logRedisBack, durations([]time.Duration{d}), clusterRecovery)
			}
		}
		if row.recovered < 0 || row.recovered > clusterRecovery {
			var bad []string
			for _, p := range row.probes {
				if !p.valid || !p.refused {
					bad = append(bad, fmt.Sprintf("probe at %.1fs: %s", p.offset.Seconds(), p.detail))
				}
				if len(bad) == 4 {
					break
				}
			}
			t.Errorf("%s: a logout at replica 0 held at replicas 1 and 2 from %s after Redis returned, want within %v; %s", row.name, rec, clusterRecovery, strings.Join(bad, "; "))
		}
	}
	b.WriteString(steadyTable)
	b.WriteString(stormTable(fmt.Sprintf("  refresh storms while Redis was killed (%d sessions × %d requests at once, refresh held %v, killed once every refresh reached the backend):", stormSessions, stormN, stormHold), []*stormCell{cell}))
	b.WriteString(stormTable(fmt.Sprintf("  refreshes held %v at the backend while Redis was restarted empty (first row) or paused %v (second row); then %d requests per session at every replica %v after Redis returned (n counts the holder's request):",
		heldHold, heldPause, heldFollowers, clusterRecovery+200*time.Millisecond), []*stormCell{restartHeld, pauseHeld}))
	if n := c.panicLines(); n != 0 {
		t.Errorf("the replicas' logs hold %d lines about a panic", n)
	}
	for rep := range c.reps {
		fmt.Fprintf(&b, "  replica %d: %q %d times, %q %d times in all\n", rep, logRedisDown, c.logCount(rep, 0, logRedisDown), logRedisBack, c.logCount(rep, 0, logRedisBack))
	}
	t.Logf("%s", b.String())
}

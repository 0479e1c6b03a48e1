package benchtraefik

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authlayer/authlayer/internal/redis"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// EnvRun must be 1 for TestBenchTraefik to run (`make bench-traefik` sets
// it); `make test` compiles the package and skips it.
const EnvRun = "AUTHLAYER_BENCH_TRAEFIK"

// knobs are the run's settings, from the environment (BENCH_*).
type knobs struct {
	duration, warmup time.Duration
	rounds, conns    int
	routes           map[string]bool // nil: all
	users            []usersSpec
	usersDuration    time.Duration
	heapEntries      int
	profileSeconds   int
	profileRoutes    []string
	soak             time.Duration
	maxForeign       float64 // cores other processes may use during a measurement
	retries          int
	baseline         string // another copy of the plugin to run side by side
	out              string
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func envFloat(t *testing.T, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return f
}

func envList(name, def string) []string {
	v, ok := os.LookupEnv(name)
	if !ok {
		v = def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func readKnobs(t *testing.T) knobs {
	k := knobs{
		duration:       envDuration(t, "BENCH_DURATION", 4*time.Second),
		warmup:         envDuration(t, "BENCH_WARMUP", time.Second),
		rounds:         envInt(t, "BENCH_ROUNDS", 3),
		conns:          envInt(t, "BENCH_CONNS", 32),
		usersDuration:  envDuration(t, "BENCH_USERS_DURATION", 8*time.Second),
		heapEntries:    envInt(t, "BENCH_HEAP_ENTRIES", 10000),
		profileSeconds: envInt(t, "BENCH_PROFILE_SECONDS", 10),
		profileRoutes:  envList("BENCH_PROFILE_ROUTES", "empty,user,guards"),
		soak:           envDuration(t, "BENCH_SOAK", 0),
		maxForeign:     envFloat(t, "BENCH_MAX_FOREIGN", 0.25),
		retries:        envInt(t, "BENCH_RETRIES", 2),
		baseline:       os.Getenv("BENCH_BASELINE"),
		out:            os.Getenv("BENCH_OUT"),
	}
	if names := envList("BENCH_ROUTES", ""); len(names) > 0 {
		k.routes = map[string]bool{}
		for _, n := range names {
			k.routes[n] = true
		}
	}
	for _, s := range envList("BENCH_USERS", "1,100,10000,10000@30s") {
		count, ttlText, withTTL := strings.Cut(s, "@")
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			t.Fatalf("BENCH_USERS: %q is not a positive count (optionally @<cache.ttl>)", s)
		}
		spec := usersSpec{n: n, ttl: defaultTTL}
		if withTTL {
			if spec.ttl, err = time.ParseDuration(ttlText); err != nil || spec.ttl <= 0 {
				t.Fatalf("BENCH_USERS: %q: bad cache.ttl", s)
			}
			spec.ttlOption = ttlText
		}
		k.users = append(k.users, spec)
	}
	if k.rounds < 1 || k.conns < 1 || k.duration <= 0 {
		t.Fatal("BENCH_ROUNDS, BENCH_CONNS and BENCH_DURATION must be positive")
	}
	return k
}

type m = map[string]interface{}

// usersSpec is one distinct-users phase: n users on a route with the
// README's minimal options, and cache.ttl when ttlOption is set.
type usersSpec struct {
	n         int
	ttl       time.Duration
	ttlOption string
}

// defaultTTL is authlayer's default cache.ttl (README), which the routes
// with the README's minimal options use.
const defaultTTL = 2 * time.Second

// route is one router of the run: Host(`<name>.test`) through its
// middleware (none when mw is nil) to the upstream.
type route struct {
	name, label string
	mw          m        // the middleware's dynamic configuration
	backend     *Backend // whose calls are counted for it
	headers     []string // request headers besides Host (name, value, …)
	wantUserID  string   // X-Seen-User-Id the upstream must report
	csrfCookie  bool     // fetch the CSRF cookie first and send it
	// tokens > 0 sends user tokens 1…tokens in turn instead of one token,
	// so that concurrent requests do not share (deduplicate) a backend
	// call: with cache.ttl 0s, every request makes one.
	tokens int
	// optIn routes run only when BENCH_ROUTES names them (or "jwt" for
	// the jwt-* routes).
	optIn bool
	jwt   bool // local verification: a baseline copy without it gets no twin
	// cluster: cluster mode on (cluster_test.go); compared with its
	// route without it, in the same rounds, and given no baseline twin.
	cluster bool
	// jwtCase is the token and key a jwt route verifies (the peers'
	// routes verify the same); peer names the peer plugin of a route of
	// peers_test.go (opt-in: BENCH_PEERS, then "jwt", "peers" or its name).
	jwtCase *JWTCase
	peer    string
	// floor: testdata/floorplugin, authlayer's work written flat (opt-in:
	// BENCH_ROUTES=floor or its name).
	floor bool
	req   []byte
	reqs  [][]byte // with tokens
}

// build returns the route's request number seq.
func (r *route) build(seq int64) []byte {
	if r.tokens > 0 {
		return r.reqs[seq%int64(r.tokens)]
	}
	return r.req
}

// browserHeaders are the headers every request carries, as a browser's
// would (the Cookie header is added per route).
func browserHeaders(cookie string, extra ...string) []string {
	h := []string{
		"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) authlayer-bench",
		"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Language", "en-US,en;q=0.9",
	}
	if cookie != "" {
		h = append(h, "Cookie", cookie)
	}
	return append(h, extra...)
}

const requestPath = "/app/page?tab=1"

// ttl0Tokens is how many users the cache.ttl 0s routes cycle through:
// more than twice the connections, so no two requests in flight carry the
// same token.
const ttl0Tokens = 97

func authlayerMW(opts m) m { return m{"plugin": m{traefikrun.PluginName: opts}} }

func minimal(be *Backend) m { return m{"backend": m{"url": be.URL}} }

func routes(t testing.TB, be0, be5 *Backend) []*route {
	user := Token("user", 1)
	guest := Token("guest", 2)
	guards := minimal(be0)
	guards["csrf"] = m{"enabled": "true", "secret": strings.Repeat("k", 40)}
	guards["rateLimit"] = m{"enabled": "true", "requests": "1000000000", "window": "1s"}
	guards["audit"] = m{"enabled": "true"}
	guestOpts := minimal(be0)
	guestOpts["guest"] = m{"enabled": "true", "username": "guest", "password": "guest-password"}
	ttl0 := func(be *Backend) m { o := minimal(be); o["cache"] = m{"ttl": "0s"}; return o }
	fwd := func(be *Backend) m {
		return m{"forwardAuth": m{
			"address":             be.URL + "/auth/me",
			"authResponseHeaders": []string{"X-Auth-User-Id"},
			"maxResponseBodySize": 1 << 20,
		}}
	}
	userCookie := "theme=dark; userToken=" + user
	return append([]*route{
		{name: "none", label: "no middleware", headers: browserHeaders(userCookie)},
		{name: "empty", label: "empty interpreted plugin", mw: m{"plugin": m{"emptyplugin": m{}}}, headers: browserHeaders(userCookie)},
		{name: "user", label: "authlayer, cached user token", mw: authlayerMW(minimal(be0)), backend: be0, headers: browserHeaders(userCookie), wantUserID: "1"},
		{name: "user5", label: "authlayer, cached user token, backend 5 ms", mw: authlayerMW(minimal(be5)), backend: be5, headers: browserHeaders(userCookie), wantUserID: "1"},
		{name: "guest", label: "authlayer, cached guest token", mw: authlayerMW(guestOpts), backend: be0, headers: browserHeaders("theme=dark; guestToken=" + guest), wantUserID: "2"},
		{name: "guards", label: "authlayer, cached user, csrf + rateLimit + audit", mw: authlayerMW(guards), backend: be0, headers: browserHeaders(userCookie), wantUserID: "1", csrfCookie: true},
		{name: "ttl0", label: "authlayer, cache.ttl 0s (a backend call per request)", mw: authlayerMW(ttl0(be0)), backend: be0, headers: browserHeaders(userCookie), wantUserID: "1", tokens: ttl0Tokens},
		{name: "ttl0-5", label: "authlayer, cache.ttl 0s, backend 5 ms", mw: authlayerMW(ttl0(be5)), backend: be5, headers: browserHeaders(userCookie), wantUserID: "1", tokens: ttl0Tokens},
		{name: "fwd", label: "Traefik forwardAuth", mw: fwd(be0), backend: be0, headers: browserHeaders("theme=dark", "Authorization", "Bearer "+user), wantUserID: "1"},
		{name: "fwd5", label: "Traefik forwardAuth, backend 5 ms", mw: fwd(be5), backend: be5, headers: browserHeaders("theme=dark", "Authorization", "Bearer "+user), wantUserID: "1"},
	}, jwtRoutes(t, be0)...)
}

// jwtRoutes are the local-verification routes (opt-in: BENCH_ROUTES=jwt
// or their names): jwt-<alg> with cache.ttl 0s verifies the token on every
// request; jwt-cached (RS256, the default cache) verifies it once, then
// answers from the validation cache and the session memo until its exp.
// Their backend is never called (jwt.mode local).
func jwtRoutes(t testing.TB, be0 *Backend) []*route {
	jwtRoute := func(c JWTCase, name, label string, ttl0 bool) *route {
		o := minimal(be0)
		o["jwt"] = c.Options()
		if ttl0 {
			o["cache"] = m{"ttl": "0s"}
		}
		return &route{name: name, label: label, mw: authlayerMW(o), backend: be0,
			headers: browserHeaders("theme=dark; userToken=" + c.Token), wantUserID: "1", optIn: true, jwt: true, jwtCase: &c}
	}
	var rs []*route
	for _, c := range JWTCases(t) {
		if c.Alg == "RS256" {
			rs = append([]*route{jwtRoute(c, "jwt-cached", "authlayer, jwt RS256 verified locally, cached", false)}, rs...)
		}
		rs = append(rs, jwtRoute(c, "jwt-"+c.Name, "authlayer, jwt "+c.Alg+" verified locally per request (cache.ttl 0s)", true))
		if c.Alg == "HS256" {
			rs = append(rs, floorRoutes(c)...)
		}
	}
	return rs
}

// floorRoutes run testdata/floorplugin on c's token: the work of
// authlayer's jwt-hs256 route (cache off) and of a remembered session
// (cache on), each written as one or two interpreted functions. Beside
// authlayer's routes they split its cost into the work itself and the
// structure around it (calls, and the frame slots each function declares).
func floorRoutes(c JWTCase) []*route {
	floor := func(name, label string, cache bool) *route {
		return &route{name: name, label: label, floor: true, optIn: true, jwtCase: &c, wantUserID: "1",
			headers: browserHeaders("theme=dark; userToken=" + c.Token),
			mw: m{"plugin": m{"floorplugin": m{"cookie": "userToken", "secret": c.Key,
				"issuer": JWTIssuer, "audience": JWTAudience, "cache": cache}}}}
	}
	return []*route{
		floor("floor-hs256", "floor: the jwt-hs256 route's work, written flat", false),
		floor("floor-cached", "floor: a remembered session's work, written flat", true),
	}
}

// Names of the baseline copy of the plugin (BENCH_BASELINE).
const (
	baselineAlias  = "authlayerbase"
	baselineModule = "example.com/baseline/authlayer"
)

// baselineRoutes loads the plugin copy in dir as a second local plugin
// (its module path rewritten, so one Traefik interprets both) and returns
// rs with a twin of every authlayer route on it, right after the original,
// so both are measured in every round.
func baselineRoutes(t *testing.T, dir string, rs []*route) (traefikrun.LocalPlugin, []*route) {
	stage := t.TempDir()
	if err := traefikrun.CopyPlugin(dir, stage); err != nil {
		t.Fatalf("BENCH_BASELINE: %v", err)
	}
	for _, f := range []struct{ name, prefix string }{{"go.mod", "module "}, {".traefik.yml", "import:"}} {
		path := filepath.Join(stage, f.name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("BENCH_BASELINE: %v", err)
		}
		lines := strings.Split(string(data), "\n")
		for i, line := range lines {
			if strings.HasPrefix(line, f.prefix) {
				lines[i] = f.prefix + " " + baselineModule
			}
		}
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The copy's own sub-packages, not the current plugin's: imports of
	// github.com/authlayer/authlayer/... in its sources name the new
	// module path too.
	if err := rewriteImports(stage, traefikrun.ModuleName, baselineModule); err != nil {
		t.Fatalf("BENCH_BASELINE: %v", err)
	}
	baseJWT := HasLocalJWT(dir)
	var out []*route
	for _, r := range rs {
		out = append(out, r)
		plugin, _ := r.mw["plugin"].(m)
		opts, ok := plugin[traefikrun.PluginName]
		if !ok || (r.jwt && !baseJWT) || r.cluster {
			continue
		}
		twin := *r
		twin.name += "-base"
		twin.label += " (baseline)"
		twin.mw = m{"plugin": m{baselineAlias: opts}}
		out = append(out, &twin)
	}
	return traefikrun.LocalPlugin{Alias: baselineAlias, ModuleName: baselineModule, Source: stage}, out
}

// rewriteImports makes every import of module (or of a package under it)
// in the .go files under dir an import of to.
func rewriteImports(dir, module, to string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		src := strings.ReplaceAll(string(data), `"`+module+`/`, `"`+to+`/`)
		src = strings.ReplaceAll(src, `"`+module+`"`, `"`+to+`"`)
		return os.WriteFile(p, []byte(src), 0o600)
	})
}

// dynamic renders the routers, middlewares and the upstream service.
func dynamic(rs []*route, upstream string) string {
	routers, mws := m{}, m{}
	for _, r := range rs {
		router := m{"rule": fmt.Sprintf("Host(`%s.test`)", r.name), "entryPoints": []string{"web"}, "service": "upstream"}
		if r.mw != nil {
			router["middlewares"] = []string{r.name}
			mws[r.name] = r.mw
		}
		routers[r.name] = router
	}
	doc := m{"http": m{
		"routers":     routers,
		"middlewares": mws,
		"services":    m{"upstream": m{"loadBalancer": m{"servers": []interface{}{m{"url": upstream}}}}},
	}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// measurement is one route in one round.
type measurement struct {
	rps, ratio       float64
	p50, p99         time.Duration
	requests         int64
	calls            int64
	conns            int64         // new backend connections
	redis            redisCounts   // cluster routes: Redis's commands during the timed part
	cpuPerReq        time.Duration // Traefik's
	genCPUPerReq     time.Duration // the load generator's process (upstream and backend included)
	rss              int64
	setCookie, fails int64
	foreign          float64 // cores used by other processes meanwhile
	attempts         int
}

type bench struct {
	t    *testing.T
	k    knobs
	tr   *traefikrun.Traefik
	addr string
	pid  string
	log  io.Writer
	// redis counts the cluster routes' Redis commands (nil without them).
	redis *redis.Client

	usersDone []int
}

func (b *bench) logf(format string, args ...interface{}) {
	fmt.Fprintf(b.log, format+"\n", args...)
}

func (b *bench) load(host string, d time.Duration, max int64, build func(int64) []byte) *Result {
	return Run(Load{Addr: b.addr, Conns: b.k.conns, Duration: d, MaxRequests: max, Build: build, WantStatus: http.StatusOK})
}

// measure runs one route for the configured duration after a warm-up, again
// (up to BENCH_RETRIES times) when other processes used more than
// BENCH_MAX_FOREIGN cores meanwhile; it keeps the quietest attempt.
func (b *bench) measure(r *route) measurement {
	var best measurement
	for attempt := 1; attempt <= 1+b.k.retries; attempt++ {
		ms := b.measureOnce(r)
		ms.attempts = attempt
		if attempt == 1 || ms.foreign < best.foreign {
			best = ms
		}
		if ms.foreign <= b.k.maxForeign {
			break
		}
		b.logf("         %-8s other processes used %.2f cores: again", r.name, ms.foreign)
	}
	if best.fails > 0 {
		b.t.Errorf("route %s: %d failed requests", r.name, best.fails)
	}
	return best
}

func (b *bench) measureOnce(r *route) measurement {
	build := r.build
	b.load(r.name, b.k.warmup, 0, build)
	var calls0, conns0 int64
	if r.backend != nil {
		calls0, conns0 = r.backend.Validations(), r.backend.Conns()
	}
	tr0, err := ReadProcStat(b.pid)
	if err != nil {
		b.t.Fatal(err)
	}
	self0, _ := ReadProcStat("self")
	busy0, _ := MachineBusy()
	var redis0 redisCounts
	if r.cluster {
		redis0 = redisCount(b.t, b.redis)
	}
	res := b.load(r.name, b.k.duration, 0, build)
	tr1, err := ReadProcStat(b.pid)
	if err != nil {
		b.t.Fatal(err)
	}
	self1, _ := ReadProcStat("self")
	busy1, _ := MachineBusy()
	ms := measurement{
		rps: res.RPS(), p50: res.Percentile(0.50), p99: res.Percentile(0.99),
		requests: res.Requests, rss: tr1.RSS,
		setCookie: res.SetCookie, fails: res.Errors + res.BadStatus,
	}
	if r.cluster {
		ms.redis = redisCount(b.t, b.redis).minus(redis0)
	}
	if r.backend != nil {
		ms.calls = r.backend.Validations() - calls0
		ms.conns = r.backend.Conns() - conns0
	}
	foreign := (busy1 - busy0) - (tr1.CPU - tr0.CPU) - (self1.CPU - self0.CPU)
	ms.foreign = float64(foreign) / float64(res.Elapsed)
	if res.Requests > 0 {
		ms.cpuPerReq = (tr1.CPU - tr0.CPU) / time.Duration(res.Requests)
		ms.genCPUPerReq = (self1.CPU - self0.CPU) / time.Duration(res.Requests)
	}
	if ms.fails > 0 {
		b.logf("route %s: %d failed requests (first: %s)", r.name, ms.fails, res.FirstBad)
	}
	return ms
}

// prepare checks each route once and builds its request (with the CSRF
// cookie a first answer issued, where the route needs one).
func (b *bench) prepare(r *route) {
	headers := r.headers
	c := NewConn(b.addr, 10*time.Second)
	defer c.Close()
	if r.csrfCookie {
		resp, err := c.Do(Request(r.name+".test", requestPath, headers...))
		if err != nil || resp.StatusCode != http.StatusOK {
			b.t.Fatalf("route %s: first request: %v %+v", r.name, err, resp)
		}
		var csrf string
		for _, ck := range resp.Cookies() {
			if ck.Name == "__csrf" {
				csrf = ck.Name + "=" + ck.Value
			}
		}
		if csrf == "" {
			b.t.Fatalf("route %s: no __csrf cookie issued (Set-Cookie %q)", r.name, resp.Header["Set-Cookie"])
		}
		headers = append([]string(nil), headers...)
		for i := 0; i+1 < len(headers); i += 2 {
			if headers[i] == "Cookie" {
				headers[i+1] += "; " + csrf
			}
		}
	}
	r.req = Request(r.name+".test", requestPath, headers...)
	for i := 1; i <= r.tokens; i++ {
		h := append([]string(nil), headers...)
		for j := 0; j+1 < len(h); j += 2 {
			if h[j] == "Cookie" {
				h[j+1] = strings.Replace(h[j+1], Token("user", 1), Token("user", i), 1)
			}
		}
		r.reqs = append(r.reqs, Request(r.name+".test", requestPath, h...))
	}
	for i := 0; i < 2; i++ { // the second answer is a cache hit
		resp, err := c.Do(r.req)
		if err != nil {
			b.t.Fatalf("route %s: %v", r.name, err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Seen-User-Id") != r.wantUserID {
			b.t.Fatalf("route %s: status %d, upstream saw user %q (want %q): %.200s", r.name, resp.StatusCode, resp.Header.Get("X-Seen-User-Id"), r.wantUserID, resp.Body)
		}
		if i == 1 && len(resp.Header["Set-Cookie"]) > 0 {
			b.t.Fatalf("route %s: a cache hit sets cookies: %q", r.name, resp.Header["Set-Cookie"])
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(xs []float64) (float64, float64) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		if x < lo {
			lo = x
		}
		if x > hi {
			hi = x
		}
	}
	return lo, hi
}

func us(d float64) string  { return fmt.Sprintf("%.0f", d/1e3) }
func ms1(d float64) string { return fmt.Sprintf("%.2f", d/1e6) }

// heapAlloc forces a GC in Traefik (/debug/pprof/heap?gc=1) and reads
// memstats.HeapAlloc from /debug/vars; the median of three.
func (b *bench) heapAlloc() int64 {
	var xs []float64
	for i := 0; i < 3; i++ {
		_, _ = b.tr.Get(b.t, "/debug/pprof/heap?gc=1")
		code, body := b.tr.Get(b.t, "/debug/vars")
		if code != http.StatusOK {
			b.t.Fatalf("/debug/vars: status %d", code)
		}
		var vars struct {
			Memstats struct {
				HeapAlloc int64
			} `json:"memstats"`
		}
		if err := json.Unmarshal(body, &vars); err != nil {
			b.t.Fatalf("/debug/vars: %v", err)
		}
		xs = append(xs, float64(vars.Memstats.HeapAlloc))
	}
	return int64(median(xs))
}

// TestBenchTraefik is `make bench-traefik`: see BENCHMARKS.md.
func TestBenchTraefik(t *testing.T) {
	if os.Getenv(EnvRun) != "1" {
		t.Skipf("the real-Traefik benchmark runs with %s=1 (make bench-traefik)", EnvRun)
	}
	k := readKnobs(t)
	if k.out == "" {
		dir, err := os.MkdirTemp("", "authlayer-bench-")
		if err != nil {
			t.Fatal(err)
		}
		k.out = dir
	}
	if err := os.MkdirAll(k.out, 0o750); err != nil {
		t.Fatal(err)
	}
	began := time.Now()

	be0, err := NewBackend(0)
	if err != nil {
		t.Fatal(err)
	}
	defer be0.Close()
	be5, err := NewBackend(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer be5.Close()
	up, err := NewUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()

	all := routes(t, be0, be5)
	var redisClient *redis.Client
	if clusterWanted(k) {
		var crs []*route
		crs, redisClient = clusterRoutes(t, all)
		all = append(all, crs...)
	}
	peerRs, peerLocal := peerRoutes(t, all)
	all = append(all, peerRs...)
	var rs []*route
	for _, r := range all {
		if r.name == "none" || (k.routes == nil && !r.optIn) || k.routes[r.name] || (r.jwt && k.routes["jwt"]) || (r.floor && k.routes["floor"]) || (r.peer != "" && (k.routes["jwt"] || k.routes["peers"])) {
			rs = append(rs, r)
		}
	}
	var localPlugins []traefikrun.LocalPlugin
	localPlugins = append(localPlugins, traefikrun.LocalPlugin{Alias: "emptyplugin", ModuleName: "example.com/emptyplugin", Source: "testdata/emptyplugin"},
		traefikrun.LocalPlugin{Alias: "floorplugin", ModuleName: "example.com/floorplugin", Source: "testdata/floorplugin"})
	localPlugins = append(localPlugins, peerLocal...)
	if k.baseline != "" {
		lp, twins := baselineRoutes(t, k.baseline, rs)
		localPlugins = append(localPlugins, lp)
		rs = twins
	}
	// Routes of the later phases, each with a cache of its own.
	users := map[usersSpec]*route{}
	extra := []*route{}
	for i, u := range k.users {
		opts := minimal(be0)
		if u.ttlOption != "" {
			opts["cache"] = m{"ttl": u.ttlOption}
		}
		r := &route{name: fmt.Sprintf("users%d-%d", i, u.n), mw: authlayerMW(opts), backend: be0}
		users[u] = r
		extra = append(extra, r)
	}
	heapRoute := &route{name: "heap", backend: be0, mw: authlayerMW(m{
		"backend": m{"url": be0.URL},
		"cache":   m{"ttl": "1h", "maxEntries": 1000000},
	})}
	soakRoute := &route{name: "soak", backend: be0, mw: authlayerMW(minimal(be0))}
	extra = append(extra, heapRoute, soakRoute)

	tr := traefikrun.Start(t, traefikrun.Options{
		LogLevel:     "ERROR",
		Dynamic:      dynamic(append(append([]*route{}, rs...), extra...), up.URL),
		StartTimeout: 2 * time.Minute,
		LocalPlugins: localPlugins,
	})
	b := &bench{redis: redisClient, t: t, k: k, tr: tr, addr: strings.TrimPrefix(tr.URL, "http://"), pid: strconv.Itoa(tr.PID()), log: os.Stdout}
	version, _ := traefikrun.BinaryVersion(tr.Bin)

	b.waitPeers(rs)
	for _, r := range rs {
		b.prepare(r)
	}
	b.logf("bench-traefik: Traefik %s pid %d, %d routes × %d rounds × (%v warm-up + %v), %d connections; output in %s",
		version, tr.PID(), len(rs), k.rounds, k.warmup, k.duration, k.conns, k.out)

	// Rounds: every route once per round, the order rotated each round.
	results := map[string][]measurement{}
	for round := 0; round < k.rounds; round++ {
		byName := map[string]measurement{}
		for i := range rs {
			r := rs[(i+round)%len(rs)]
			byName[r.name] = b.measure(r)
			x := byName[r.name]
			b.logf("round %d %-8s %8.0f rps  p50 %s ms  p99 %s ms  Traefik %s µs/req  calls %d  others %.2f cores",
				round+1, r.name, x.rps, ms1(float64(x.p50)), ms1(float64(x.p99)), us(float64(x.cpuPerReq)), x.calls, x.foreign)
		}
		for _, r := range rs {
			ms := byName[r.name]
			ms.ratio = ms.rps / byName["none"].rps
			results[r.name] = append(results[r.name], ms)
		}
	}

	var md strings.Builder
	md.WriteString(b.header(version, began))
	md.WriteString(routeTable(rs, results, k))
	md.WriteString(baselineTable(rs, results))
	md.WriteString(jwtTable(rs, results))
	md.WriteString(peerTable(rs, results))
	md.WriteString(clusterTable(rs, results))
	targets := targetRows(results)

	// Distinct users on the cached-user route (README's minimal options).
	if len(k.users) > 0 {
		fmt.Fprintf(&md, "\nDistinct users, each a cookie of its own, on the cached-user route (README's minimal options: cache.ttl %v unless stated, cache.maxEntries 10000), %v from a cold cache, %d connections cycling through the users; the minimum is what a perfect cache with that TTL needs for the requests sent (per user: one call at its first request and one for each request a TTL or more after the last call counted; N users × run ÷ TTL when every user is requested continuously):\n\n", defaultTTL, k.usersDuration, k.conns)
		md.WriteString("| distinct users | cache.ttl | requests | rps | backend calls | minimum | calls ÷ minimum | p99 ms |\n|---|---|---|---|---|---|---|---|\n")
		for _, u := range k.users {
			row, ratio := b.usersPhase(users[u], u)
			md.WriteString(row)
			targets = append(targets, target{fmt.Sprintf("backend calls ≤ 1.05× the minimum, %d users, cache.ttl %v", u.n, u.ttl), fmt.Sprintf("%.3f×", ratio), ratio <= 1.05})
		}
	}

	// Heap per cached entry.
	if k.heapEntries > 0 {
		row, beyond := b.heapPhase(heapRoute, k.heapEntries)
		md.WriteString("\nHeap per cached entry (Traefik's memstats.HeapAlloc after a forced GC, before and after caching new tokens; the route's cache.ttl 1h):\n\n")
		md.WriteString("| entries added | heap before | heap after | bytes per entry | of which the token (in the Cookie header the session memo keys on) | beyond the token |\n|---|---|---|---|---|---|\n")
		md.WriteString(row)
		targets = append(targets, target{"< 200 B of heap per cached entry beyond the token", fmt.Sprintf("%.0f B", beyond), beyond < 200})
	}

	if k.soak > 0 {
		row, flat := b.soakPhase(soakRoute, k.soak)
		md.WriteString(row)
		targets = append(targets, target{fmt.Sprintf("RSS flat over %v", k.soak), flat.what, flat.ok})
	} else {
		targets = append(targets, target{"RSS flat over a 5-minute run", "not run (BENCH_SOAK=5m runs it)", false})
	}

	md.WriteString("\nTargets (issue 8):\n\n| target | measured | met |\n|---|---|---|\n")
	for _, tg := range targets {
		mark := "**no**"
		if tg.ok {
			mark = "yes"
		}
		if strings.HasPrefix(tg.measured, "not run") {
			mark = "–"
		}
		fmt.Fprintf(&md, "| %s | %s | %s |\n", tg.name, tg.measured, mark)
	}

	if k.profileSeconds > 0 {
		md.WriteString("\nCPU profiles (Traefik's /debug/pprof/profile under load):\n\n")
		for _, name := range k.profileRoutes {
			for _, r := range rs {
				if r.name == name {
					md.WriteString(b.profile(r))
				}
			}
		}
	}
	md.WriteString(roundsTable(rs, results))
	fmt.Fprintf(&md, "\nWhole run: %v.\n", time.Since(began).Round(time.Second))

	out := md.String()
	if err := os.WriteFile(filepath.Join(k.out, "results.md"), []byte(out), 0o600); err != nil {
		t.Error(err)
	}
	fmt.Println("\n" + out)
	fmt.Printf("bench-traefik: results in %s\n", filepath.Join(k.out, "results.md"))
}

type target struct {
	name, measured string
	ok             bool
}

func medianOf(ms []measurement, f func(measurement) float64) float64 {
	xs := make([]float64, len(ms))
	for i, x := range ms {
		xs[i] = f(x)
	}
	return median(xs)
}

func routeTable(rs []*route, results map[string][]measurement, k knobs) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\nRoutes, medians of %d interleaved rounds (%v each after a %v warm-up, %d keep-alive connections); the ratio is to no middleware in the same round (range over the rounds in brackets):\n\n", k.rounds, k.duration, k.warmup, k.conns)
	s.WriteString("| route | × no middleware | CPU-bound estimate | rps | p50 ms | p99 ms | backend calls (new connections) / 10k req | Traefik CPU µs/req | + vs no middleware | Traefik RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	noneCPU := medianOf(results["none"], func(x measurement) float64 { return float64(x.cpuPerReq) })
	noneAll := noneCPU + medianOf(results["none"], func(x measurement) float64 { return float64(x.genCPUPerReq) })
	for _, r := range rs {
		ms := results[r.name]
		ratios := make([]float64, len(ms))
		for i, x := range ms {
			ratios[i] = x.ratio
		}
		lo, hi := minMax(ratios)
		cpu := medianOf(ms, func(x measurement) float64 { return float64(x.cpuPerReq) })
		calls := "–"
		if r.backend != nil {
			var c, nc, n int64
			for _, x := range ms {
				c += x.calls
				nc += x.conns
				n += x.requests
			}
			calls = fmt.Sprintf("%.1f (%.1f)", float64(c)*10000/float64(n), float64(nc)*10000/float64(n))
		}
		added := "–"
		if r.name != "none" {
			added = fmt.Sprintf("%+.0f", (cpu-noneCPU)/1e3)
		}
		all := cpu + medianOf(ms, func(x measurement) float64 { return float64(x.genCPUPerReq) })
		fmt.Fprintf(&s, "| %s | %.2f (%.2f–%.2f) | %.2f | %.0f | %s | %s | %s | %s | %s | %.0f |\n",
			r.label, median(ratios), lo, hi, noneAll/all,
			medianOf(ms, func(x measurement) float64 { return x.rps }),
			ms1(medianOf(ms, func(x measurement) float64 { return float64(x.p50) })),
			ms1(medianOf(ms, func(x measurement) float64 { return float64(x.p99) })),
			calls, us(cpu), added,
			medianOf(ms, func(x measurement) float64 { return float64(x.rss) })/(1<<20))
	}
	s.WriteString("\nThe CPU-bound estimate is the ratio a machine saturated by Traefik and the load generator would show: (Traefik + generator CPU per request without middleware) ÷ (the same with it), medians; it is much less sensitive to other processes than the measured ratio. Load generator CPU per request (this process: client, upstream and backend), medians: ")
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s µs", r.name, us(medianOf(results[r.name], func(x measurement) float64 { return float64(x.genCPUPerReq) }))))
	}
	s.WriteString(strings.Join(parts, ", ") + ".\n")
	return s.String()
}

// jwtTable compares the local-verification routes, when they ran, with no
// middleware, the cached user (a backend-validated token, cached) and
// ttl0 (a backend call per request), each ratio taken per round.
func jwtTable(rs []*route, results map[string][]measurement) string {
	var s strings.Builder
	vs := func(a, bname string) string {
		ma, mb := results[a], results[bname]
		if len(mb) == 0 {
			return "–"
		}
		xs := make([]float64, len(ma))
		for i := range ma {
			xs[i] = ma[i].rps / mb[i].rps
		}
		lo, hi := minMax(xs)
		return fmt.Sprintf("%.2f (%.2f–%.2f)", median(xs), lo, hi)
	}
	cpu := func(name string) float64 {
		return medianOf(results[name], func(x measurement) float64 { return float64(x.cpuPerReq) })
	}
	added := func(a, bname string) string {
		if len(results[bname]) == 0 {
			return "–"
		}
		return fmt.Sprintf("%+.0f", (cpu(a)-cpu(bname))/1e3)
	}
	for _, r := range rs {
		if !r.jwt {
			continue
		}
		if s.Len() == 0 {
			s.WriteString("\nLocal JWT verification (jwt.mode local; the jwt-<alg> routes verify on every request, cache.ttl 0s), against routes of the same rounds: ratios of throughput per round, medians (range); Traefik CPU per request, medians:\n\n")
			s.WriteString("| route | × no middleware | × cached user | × cache.ttl 0s (backend call) | Traefik CPU µs/req | + vs no middleware | + vs cached user | + vs cache.ttl 0s |\n|---|---|---|---|---|---|---|---|\n")
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.label,
			vs(r.name, "none"), vs(r.name, "user"), vs(r.name, "ttl0"),
			us(cpu(r.name)), added(r.name, "none"), added(r.name, "user"), added(r.name, "ttl0"))
	}
	return s.String()
}

// baselineTable compares each route with its baseline twin
// (BENCH_BASELINE) round by round: this VM's speed drifts between rounds
// (no middleware has cost from 63 to 119 µs of Traefik CPU per request in
// one run), and the two routes of a pair share their round's speed.
func baselineTable(rs []*route, results map[string][]measurement) string {
	var s strings.Builder
	for _, r := range rs {
		this, base := results[r.name], results[r.name+"-base"]
		if len(base) == 0 || len(base) != len(this) {
			continue
		}
		if s.Len() == 0 {
			s.WriteString("\nAgainst the baseline, round by round: each route ÷ its baseline twin in the same round (the machine's speed drifts between rounds; the two routes of a pair share it). Traefik CPU per request per round, its median, and the throughput ratio's median (range):\n\n")
			s.WriteString("| route | Traefik CPU per request, this ÷ baseline, per round | median | throughput, this ÷ baseline |\n|---|---|---|---|\n")
		}
		cpu, thr := pairRatios(this, base)
		var per []string
		for _, c := range cpu {
			per = append(per, fmt.Sprintf("%.2f", c))
		}
		lo, hi := minMax(thr)
		fmt.Fprintf(&s, "| %s | %s | %.2f | %.2f (%.2f–%.2f) |\n", r.label, strings.Join(per, ", "), median(cpu), median(thr), lo, hi)
	}
	return s.String()
}

// pairRatios divides this round's measurement by base's, round by round:
// Traefik CPU per request and throughput (a round without CPU figures
// counts as 1).
func pairRatios(this, base []measurement) (cpu, thr []float64) {
	for i := range this {
		c := 1.0
		if base[i].cpuPerReq > 0 {
			c = float64(this[i].cpuPerReq) / float64(base[i].cpuPerReq)
		}
		t := 1.0
		if base[i].rps > 0 {
			t = this[i].rps / base[i].rps
		}
		cpu, thr = append(cpu, c), append(thr, t)
	}
	return cpu, thr
}

// roundsTable lists every measurement, for judging the noise.
func roundsTable(rs []*route, results map[string][]measurement) string {
	var s strings.Builder
	s.WriteString("\nEvery round (rps, × no middleware, Traefik µs/req, cores used by other processes, attempts):\n\n| route |")
	n := len(results["none"])
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, " round %d |", i+1)
	}
	s.WriteString("\n|---|" + strings.Repeat("---|", n) + "\n")
	for _, r := range rs {
		s.WriteString("| " + r.name + " |")
		for _, x := range results[r.name] {
			fmt.Fprintf(&s, " %.0f, %.2f×, %s µs, %.2f, %d |", x.rps, x.ratio, us(float64(x.cpuPerReq)), x.foreign, x.attempts)
		}
		s.WriteString("\n")
	}
	return s.String()
}

func targetRows(results map[string][]measurement) []target {
	var ts []target
	ratio := func(name string) (float64, bool) {
		ms, ok := results[name]
		if !ok {
			return 0, false
		}
		return medianOf(ms, func(x measurement) float64 { return x.ratio }), true
	}
	vs := func(a, bname string) (float64, bool) {
		ma, ok1 := results[a]
		mb, ok2 := results[bname]
		if !ok1 || !ok2 {
			return 0, false
		}
		// Per round, then the median: both ran in the same round.
		xs := make([]float64, len(ma))
		for i := range ma {
			xs[i] = ma[i].rps / mb[i].rps
		}
		return median(xs), true
	}
	// cpuAll is Traefik's and the generator's CPU per request, medians
	// (as in the routes table).
	cpuAll := func(name string) float64 {
		return medianOf(results[name], func(x measurement) float64 { return float64(x.cpuPerReq) }) +
			medianOf(results[name], func(x measurement) float64 { return float64(x.genCPUPerReq) })
	}
	add := func(name, a, bname string, v float64, ok bool, floor float64) {
		if !ok {
			return
		}
		est := cpuAll(bname) / cpuAll(a)
		ts = append(ts, target{name, fmt.Sprintf("%.2f× (CPU-bound estimate %.2f×)", v, est), v >= floor})
	}
	v, ok := ratio("user")
	add("cached user token ≥ 0.85× no middleware", "user", "none", v, ok, 0.85)
	v, ok = ratio("guest")
	add("cached guest token ≥ 0.85× no middleware", "guest", "none", v, ok, 0.85)
	v, ok = ratio("guards")
	add("csrf + rateLimit + audit ≥ 0.75× no middleware", "guards", "none", v, ok, 0.75)
	v, ok = vs("user", "fwd")
	add("≥ 2× forwardAuth's throughput, backend 0 ms (cached user ÷ forwardAuth)", "user", "fwd", v, ok, 2)
	v, ok = vs("user5", "fwd5")
	add("≥ 2.5× forwardAuth's throughput, backend 5 ms (cached user ÷ forwardAuth)", "user5", "fwd5", v, ok, 2.5)
	return ts
}

func (b *bench) header(version string, began time.Time) string {
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
				break
			}
		}
	}
	root := os.Getenv(traefikrun.EnvPluginRoot)
	if root == "" {
		wd, _ := os.Getwd()
		root, _ = traefikrun.FindPluginRoot(wd)
	}
	src := root
	if rev, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		src += " at " + strings.TrimSpace(string(rev))
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "*.go").Output(); err == nil {
			if n := len(strings.Fields(string(st))) / 2; n > 0 {
				src += fmt.Sprintf(" with %d .go files modified", n)
			}
		}
	}
	if b.k.baseline != "" {
		src += "; baseline (routes marked so) " + b.k.baseline
	}
	return fmt.Sprintf("Run of %s: %d CPUs (%s), %s, Traefik %s (%s), plugin source %s.\n",
		began.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpu, runtime.Version(), version, b.tr.Bin, src)
}

// usersPhase runs u.n distinct users on r from a cold cache and compares
// backend calls with the minimum a perfect cache with u.ttl needs.
func (b *bench) usersPhase(r *route, u usersSpec) (string, float64) {
	n := u.n
	base := 1000000 * (len(b.usersDone) + 2)
	b.usersDone = append(b.usersDone, n)
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = Request(r.name+".test", requestPath, browserHeaders("theme=dark; userToken="+Token("user", base+i))...)
	}
	calls0 := r.backend.Validations()
	res := b.load(r.name, b.k.usersDuration, 0, func(seq int64) []byte { return reqs[seq%int64(n)] })
	calls := r.backend.Validations() - calls0
	minimum := MinimumCalls(res.Samples, func(seq int64) int { return int(seq % int64(n)) }, u.ttl)
	if fails := res.Errors + res.BadStatus; fails > 0 {
		b.t.Errorf("users %d: %d failed requests (first: %s)", n, fails, res.FirstBad)
	}
	ratio := float64(calls) / float64(minimum)
	b.logf("users %d (ttl %v): %d requests, %.0f rps, %d backend calls, minimum %d (%.3f×)", n, u.ttl, res.Requests, res.RPS(), calls, minimum, ratio)
	return fmt.Sprintf("| %d | %v | %d | %.0f | %d | %d | %.3f | %s |\n", n, u.ttl, res.Requests, res.RPS(), calls, minimum, ratio, ms1(float64(res.Percentile(0.99)))), ratio
}

// heapPhase measures Traefik's heap growth per cached entry: the backend
// connection pool is warmed by a first batch of tokens, then n new tokens
// are cached, each requested once; a second pass proves they were cached.
func (b *bench) heapPhase(r *route, n int) (string, float64) {
	reqsFor := func(base, count int) [][]byte {
		reqs := make([][]byte, count)
		for i := range reqs {
			reqs[i] = Request(r.name+".test", requestPath, browserHeaders("theme=dark; userToken="+Token("user", base+i))...)
		}
		return reqs
	}
	fill := func(reqs [][]byte) {
		res := b.load(r.name, time.Minute, int64(len(reqs)), func(seq int64) []byte { return reqs[seq] })
		if res.Requests != int64(len(reqs)) {
			b.t.Fatalf("heap: %d of %d requests answered (first failure: %s)", res.Requests, len(reqs), res.FirstBad)
		}
	}
	fill(reqsFor(50000000, 2000))
	before := b.heapAlloc()
	b.saveHeapProfile("heap-before.pprof")
	reqs := reqsFor(60000000, n)
	fill(reqs)
	after := b.heapAlloc()
	b.saveHeapProfile("heap-after.pprof")
	b.heapDiff("heap-before.pprof", "heap-after.pprof")
	calls0 := r.backend.Validations()
	fill(reqs)
	if again := r.backend.Validations() - calls0; again != 0 {
		b.t.Errorf("heap: %d backend calls on the second pass over %d cached tokens, want 0", again, n)
	}
	per := float64(after-before) / float64(n)
	token := float64(TokenLen)
	b.logf("heap: %d → %d bytes, %.0f B per entry", before, after, per)
	return fmt.Sprintf("| %d | %.1f MiB | %.1f MiB | %.0f | %.0f | %.0f |\n", n, float64(before)/(1<<20), float64(after)/(1<<20), per, token, per-token), per - token
}

// saveHeapProfile saves Traefik's heap profile (after a GC) in the output
// directory.
func (b *bench) saveHeapProfile(name string) {
	code, body := b.tr.Get(b.t, "/debug/pprof/heap?gc=1")
	if code != http.StatusOK {
		b.t.Errorf("heap profile: status %d", code)
		return
	}
	if err := os.WriteFile(filepath.Join(b.k.out, name), body, 0o600); err != nil {
		b.t.Error(err)
	}
}

// heapDiff writes what the heap gained between two profiles
// (inuse_space, -base) to heap-diff.txt.
func (b *bench) heapDiff(before, after string) {
	top, err := exec.Command(goBinary(), "tool", "pprof", "-top", "-nodecount=30",
		"-sample_index=inuse_space", "-base", filepath.Join(b.k.out, before), filepath.Join(b.k.out, after)).CombinedOutput()
	if err != nil {
		b.t.Errorf("pprof heap diff: %v: %s", err, top)
	}
	_ = os.WriteFile(filepath.Join(b.k.out, "heap-diff.txt"), top, 0o600)
}

type flatness struct {
	what string
	ok   bool
}

// soakPhase runs 1000 users (cache entries expiring and refilled every
// 2 s) for d, sampling Traefik's RSS and heap each 30 s.
func (b *bench) soakPhase(r *route, d time.Duration) (string, flatness) {
	const n = 1000
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = Request(r.name+".test", requestPath, browserHeaders("theme=dark; userToken="+Token("user", 70000000+i))...)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\nSoak: %d users on the cached-user route for %v; Traefik's RSS and heap (after a forced GC) every 30 s:\n\n| time | rps | RSS MiB | heap MiB |\n|---|---|---|---|\n", n, d)
	var rss []float64
	start := time.Now()
	for time.Since(start) < d {
		res := b.load(r.name, 30*time.Second, 0, func(seq int64) []byte { return reqs[seq%n] })
		st, err := ReadProcStat(b.pid)
		if err != nil {
			b.t.Fatal(err)
		}
		heap := b.heapAlloc()
		rss = append(rss, float64(st.RSS)/(1<<20))
		fmt.Fprintf(&s, "| %v | %.0f | %.1f | %.1f |\n", time.Since(start).Round(time.Second), res.RPS(), float64(st.RSS)/(1<<20), float64(heap)/(1<<20))
		b.logf("soak %v: RSS %.1f MiB, heap %.1f MiB", time.Since(start).Round(time.Second), float64(st.RSS)/(1<<20), float64(heap)/(1<<20))
	}
	// Flat: the second half never exceeds the first half's peak by more
	// than 5%.
	half := len(rss) / 2
	if half == 0 {
		return s.String(), flatness{"too short to judge", false}
	}
	_, peak1 := minMax(rss[:half])
	_, peak2 := minMax(rss[half:])
	growth := peak2/peak1 - 1
	return s.String(), flatness{fmt.Sprintf("peak %.1f MiB in the first half, %.1f MiB in the second (%+.1f%%)", peak1, peak2, growth*100), growth <= 0.05}
}

// profile takes a CPU profile of Traefik while r is under load, saves it
// and returns `go tool pprof -top`'s head.
func (b *bench) profile(r *route) string {
	secs := b.k.profileSeconds
	done := make(chan *Result, 1)
	go func() {
		done <- b.load(r.name, time.Duration(secs+2)*time.Second, 0, r.build)
	}()
	time.Sleep(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.tr.APIURL, secs), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Errorf("profile %s: %v", r.name, err)
		<-done
		return ""
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	res := <-done
	if err != nil || resp.StatusCode != http.StatusOK {
		b.t.Errorf("profile %s: status %d, %v", r.name, resp.StatusCode, err)
		return ""
	}
	file := filepath.Join(b.k.out, "cpu-"+r.name+".pprof")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		b.t.Error(err)
		return ""
	}
	goBin := goBinary()
	top, err := exec.Command(goBin, "tool", "pprof", "-top", "-nodecount=25", file).CombinedOutput()
	if err != nil {
		b.t.Errorf("pprof %s: %v: %s", file, err, top)
	}
	_ = os.WriteFile(strings.TrimSuffix(file, ".pprof")+".txt", top, 0o600)
	return fmt.Sprintf("- %s (%.0f rps during the profile): `%s`, top functions in `%s`\n", r.label, res.RPS(), file, strings.TrimSuffix(file, ".pprof")+".txt")
}

// goBinary is the go command that runs this test (`go test` puts its
// GOROOT's bin first on PATH), for go tool pprof.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

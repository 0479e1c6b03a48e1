package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/benchtraefik"
	"github.com/authlayer/authlayer/test/loader"
)

// BenchmarkServer is the quick stand-in for `make bench-traefik` (see
// BENCHMARKS.md): the plugin interpreted by Yaegi through the Traefik-like
// loader, behind a real http.Server on loopback, between the X-Forwarded-*
// headers Traefik's entry point adds and an httputil.ReverseProxy to a
// small upstream (as Traefik proxies), driven by 32 concurrent keep-alive
// connections, with a heap as large as a Traefik's held live (GC work per
// allocated byte grows with it). Every route runs in the same process and
// the same run as two baselines, no middleware and an empty interpreted
// plugin; read the ratios:
//
//	x-none        throughput ÷ no middleware's, measured just before
//	cpu-µs/req    this process's CPU per request (client, server, proxy,
//	              upstream and backend)
//	+cpu-µs/req   the same minus no middleware's: the middleware's cost
//	x-none-cpu    no middleware's cpu-µs/req ÷ this one's: the ratio a
//	              CPU-bound machine would show, steadier than x-none
//	others-cores  CPU other processes used meanwhile (a busy machine
//	              makes every figure unreliable: run again)
//
// The routes: none, empty, user (a cached user token), guest, guards
// (csrf + rateLimit + audit), ttl0 (cache.ttl 0s: a backend call per
// request), and local verification (jwt.enabled) with HS256, RS256, ES256
// and EdDSA, each as jwt-<alg> (cache.ttl 0s: the token verified on every
// request) and jwt-<alg>-cached (the default cache: verified once); the
// summary adds each route's throughput ÷ user's and ÷ ttl0's per round.
// AUTHLAYER_BENCH_ROUTES (a comma list of names, "jwt" for every jwt-*
// route; none always runs) runs some only.
//
// It runs AUTHLAYER_BENCH_ROUNDS rounds (3), every route once per round,
// and logs the medians; `make bench-quick` takes about two minutes:
//
//	cd test && go test -run '^$' -bench '^BenchmarkServer$' -benchtime 2s ./bench/
//
// AUTHLAYER_PLUGIN_ROOT points it at another copy of the plugin (for
// example `git archive HEAD | tar -x -C /tmp/p`); AUTHLAYER_BENCH_BASELINE
// at a second copy measured side by side (routes "<name>-base"), to judge
// a change within one run.
func BenchmarkServer(b *testing.B) {
	root := os.Getenv("AUTHLAYER_PLUGIN_ROOT")
	if root == "" {
		root = "../.."
	}
	be, err := benchtraefik.NewBackend(0)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	up := httptest.NewServer(benchtraefik.UpstreamHandler())
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	defer transport.CloseIdleConnections()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upURL)
			pr.Out.Host = pr.In.Host // Traefik's passHostHeader
			pr.SetXForwarded()
		},
		Transport: transport,
	}

	user := benchtraefik.Token("user", 1)
	guest := benchtraefik.Token("guest", 2)
	minimal := func() map[string]interface{} {
		return map[string]interface{}{"backend": map[string]interface{}{"url": be.URL}}
	}
	guestOpts := minimal()
	guestOpts["guest"] = map[string]interface{}{"enabled": "true", "username": "guest", "password": "guest-password"}
	guards := minimal()
	guards["csrf"] = map[string]interface{}{"enabled": "true", "secret": strings.Repeat("k", 40)}
	guards["rateLimit"] = map[string]interface{}{"enabled": "true", "requests": "1000000000", "window": "1s"}
	// Every event but auth:success, written once per cache miss (to this
	// process's stdout, which the benchmark's output shares): the checks
	// made per request are the same.
	guards["audit"] = map[string]interface{}{"enabled": "true", "events": "auth:fail,auth:guest,auth:refresh,auth:refresh:fail,auth:reuse,access:denied,csrf:fail,rateLimit:exceeded,error"}

	ttl0 := minimal()
	ttl0["cache"] = map[string]interface{}{"ttl": "0s"}

	userCookie := "theme=dark; userToken=" + user
	type route struct {
		name, cookie, userID string
		plugin               string // "" none, else the plugin root
		opts                 map[string]interface{}
		csrf                 bool
		// tokens > 0 cycles through user tokens 1…tokens instead of one,
		// so that concurrent requests do not share (deduplicate) a backend
		// call: with cache.ttl 0s, every request makes one.
		tokens int
		jwt    bool // local verification: a baseline copy without it gets no twin
	}
	routes := []route{
		{name: "none", cookie: userCookie},
		{name: "empty", cookie: userCookie, plugin: "testdata/emptyplugin"},
		{name: "user", cookie: userCookie, userID: "1", plugin: root, opts: minimal()},
		{name: "guest", cookie: "theme=dark; guestToken=" + guest, userID: "2", plugin: root, opts: guestOpts},
		{name: "guards", cookie: userCookie, userID: "1", plugin: root, opts: guards, csrf: true},
		{name: "ttl0", cookie: userCookie, userID: "1", plugin: root, opts: ttl0, tokens: ttl0Tokens},
	}
	// Local verification (jwt.enabled, jwt.mode local): jwt-<alg> with
	// cache.ttl 0s verifies the token on every request; jwt-<alg>-cached
	// (the default cache.ttl) verifies it once and then answers from the
	// validation cache and the session memo until its exp.
	cases := benchtraefik.JWTCases(b)
	for _, c := range cases {
		opts := minimal()
		opts["cache"] = map[string]interface{}{"ttl": "0s"}
		opts["jwt"] = c.Options()
		routes = append(routes, route{name: "jwt-" + c.Name, cookie: "theme=dark; userToken=" + c.Token, userID: "1", plugin: root, opts: opts, jwt: true})
	}
	for _, c := range cases {
		opts := minimal()
		opts["jwt"] = c.Options()
		routes = append(routes, route{name: "jwt-" + c.Name + "-cached", cookie: "theme=dark; userToken=" + c.Token, userID: "1", plugin: root, opts: opts, jwt: true})
	}
	if only := os.Getenv("AUTHLAYER_BENCH_ROUTES"); only != "" {
		routes = selectRoutes(routes, only, func(r route) string { return r.name })
	}
	if base := os.Getenv("AUTHLAYER_BENCH_BASELINE"); base != "" {
		// Another copy of the plugin (its own interpreter), a twin of
		// every authlayer route right after it (of the jwt routes, only
		// when that copy verifies tokens locally).
		baseJWT := benchtraefik.HasLocalJWT(base)
		var ab []route
		for _, r := range routes {
			ab = append(ab, r)
			if r.plugin == root && (!r.jwt || baseJWT) {
				twin := r
				twin.name += "-base"
				twin.plugin = base
				ab = append(ab, twin)
			}
		}
		routes = ab
	}
	heldLive = ballast(ballastMB())
	defer func() { heldLive = nil }()

	type target struct {
		name, addr string
		reqs       [][]byte
	}
	var targets []target
	for _, r := range routes {
		var h http.Handler = proxy
		if r.plugin != "" {
			f, err := loader.Yaegi(r.plugin)
			if err != nil {
				b.Fatal(err)
			}
			if h, err = f(r.opts, proxy, r.name+"@bench"); err != nil {
				b.Fatal(err)
			}
		}
		srv := httptest.NewServer(entryPoint(h))
		defer srv.Close()
		addr := strings.TrimPrefix(srv.URL, "http://")
		headers := []string{
			"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) authlayer-bench",
			"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
			"Accept-Language", "en-US,en;q=0.9",
			"Cookie", r.cookie,
		}
		if r.csrf {
			headers[7] += "; " + csrfCookie(b, addr, headers)
		}
		reqs := [][]byte{benchtraefik.Request("bench.test", "/app/page?tab=1", headers...)}
		check(b, addr, reqs[0], r.userID)
		if r.tokens > 0 {
			reqs = nil
			for i := 1; i <= r.tokens; i++ {
				h := append([]string(nil), headers...)
				h[7] = strings.Replace(h[7], user, benchtraefik.Token("user", i), 1)
				reqs = append(reqs, benchtraefik.Request("bench.test", "/app/page?tab=1", h...))
			}
		}
		targets = append(targets, target{r.name, addr, reqs})
	}

	// Rounds, each route once per round (go test's -count would run each
	// sub-benchmark its count of times in a row, not interleaved).
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("AUTHLAYER_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	type sample struct{ rps, ratio, cpuRatio, addedCPU, others float64 }
	results := map[string][]sample{}
	for round := 1; round <= rounds; round++ {
		var noneRPS, noneCPU float64
		for _, t := range targets {
			var rps, cpu, others float64
			b.Run(t.name, func(b *testing.B) {
				rps, cpu, others = drive(b, t.addr, t.reqs)
				if t.name == "none" {
					noneRPS, noneCPU = rps, cpu
				}
				b.ReportMetric(rps/noneRPS, "x-none")
				b.ReportMetric(cpu-noneCPU, "+cpu-µs/req")
				b.ReportMetric(noneCPU/cpu, "x-none-cpu")
			})
			results[t.name] = append(results[t.name], sample{rps, rps / noneRPS, noneCPU / cpu, cpu - noneCPU, others})
		}
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "medians of %d rounds (range); x-user and x-ttl0 are the throughput ÷ the user and ttl0 routes' in the same round:\n| route | x-none | x-none-cpu | +cpu-µs/req | x-user | x-ttl0 | others-cores |\n|---|---|---|---|---|---|---|\n", rounds)
	for _, t := range targets {
		ss := results[t.name]
		col := func(f func(int, sample) float64) string {
			xs := make([]float64, len(ss))
			for i, x := range ss {
				xs[i] = f(i, x)
			}
			sort.Float64s(xs)
			return fmt.Sprintf("%.2f (%.2f–%.2f)", xs[len(xs)/2], xs[0], xs[len(xs)-1])
		}
		// vs is the ratio to another route, per round.
		vs := func(other string) string {
			ro, ok := results[other]
			if !ok {
				return "–"
			}
			return col(func(i int, x sample) float64 { return x.rps / ro[i].rps })
		}
		fmt.Fprintf(&summary, "| %s | %s | %s | %s | %s | %s | %s |\n", t.name,
			col(func(_ int, x sample) float64 { return x.ratio }),
			col(func(_ int, x sample) float64 { return x.cpuRatio }),
			col(func(_ int, x sample) float64 { return x.addedCPU }),
			vs("user"), vs("ttl0"),
			col(func(_ int, x sample) float64 { return x.others }))
	}
	// Printed, not logged: a benchmark with sub-benchmarks prints no log.
	fmt.Print("BenchmarkServer " + summary.String())
}

// entryPoint adds what Traefik's entry point adds to every request before
// a router's middlewares see it.
func entryPoint(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header
		host, port, _ := strings.Cut(r.Host, ":")
		if port == "" {
			port = "80"
		}
		ip, _, _ := strings.Cut(r.RemoteAddr, ":")
		h["X-Forwarded-Host"] = []string{host}
		h["X-Forwarded-Port"] = []string{port}
		h["X-Forwarded-Proto"] = []string{"http"}
		h["X-Forwarded-Server"] = []string{"bench"}
		h["X-Real-Ip"] = []string{ip}
		next.ServeHTTP(w, r)
	})
}

// heldLive keeps the ballast reachable during BenchmarkServer.
var heldLive []*ballastNode

type ballastNode struct {
	next *ballastNode
	_    [48]byte // size: 64 bytes a node
}

// ballastMB is the live heap to hold: AUTHLAYER_BENCH_BALLAST_MB, else
// 30 MiB (Traefik held about 33 MiB live in make bench-traefik).
func ballastMB() int {
	if v, err := strconv.Atoi(os.Getenv("AUTHLAYER_BENCH_BALLAST_MB")); err == nil && v >= 0 {
		return v
	}
	return 30
}

// ballast allocates mb MiB of small linked objects: live memory with
// pointers, which every GC cycle marks, as Traefik's routers, connections
// and caches are.
func ballast(mb int) []*ballastNode {
	n := mb << 20 / 64
	nodes := make([]*ballastNode, n)
	for i := range nodes {
		nodes[i] = &ballastNode{}
		if i > 0 {
			nodes[i].next = nodes[i-1]
		}
	}
	return nodes
}

// csrfCookie fetches the CSRF cookie a first answer issues.
func csrfCookie(b *testing.B, addr string, headers []string) string {
	c := benchtraefik.NewConn(addr, 10*time.Second)
	defer c.Close()
	resp, err := c.Do(benchtraefik.Request("bench.test", "/app/page?tab=1", headers...))
	if err != nil {
		b.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "__csrf" {
			return ck.Name + "=" + ck.Value
		}
	}
	b.Fatalf("no __csrf cookie issued: %q", resp.Header["Set-Cookie"])
	return ""
}

// check makes sure the route answers 200 with the expected identity, and
// that its second answer (a cache hit) sets no cookie.
func check(b *testing.B, addr string, req []byte, userID string) {
	c := benchtraefik.NewConn(addr, 10*time.Second)
	defer c.Close()
	for i := 0; i < 2; i++ {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Seen-User-Id") != userID {
			b.Fatalf("status %d, upstream saw user %q (want %q): %.200s", resp.StatusCode, resp.Header.Get("X-Seen-User-Id"), userID, resp.Body)
		}
		if i == 1 && len(resp.Header["Set-Cookie"]) > 0 {
			b.Fatalf("a cache hit sets cookies: %q", resp.Header["Set-Cookie"])
		}
	}
}

// conns is the number of concurrent keep-alive connections, as in make
// bench-traefik.
const conns = 32

// ttl0Tokens is how many users the cache.ttl 0s route cycles through, as
// in make bench-traefik: more than twice the connections, so no two
// requests in flight carry the same token.
const ttl0Tokens = 97

// selectRoutes keeps the routes named in the comma list only (and "none",
// which every ratio needs); "jwt" names every jwt-* route.
func selectRoutes[R any](rs []R, only string, name func(R) string) []R {
	want := map[string]bool{"none": true}
	for _, n := range strings.Split(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []R
	for _, r := range rs {
		if n := name(r); want[n] || (want["jwt"] && strings.HasPrefix(n, "jwt-")) {
			out = append(out, r)
		}
	}
	return out
}

// drive sends b.N requests over conns connections, taking reqs in turn,
// and reports throughput, latency and CPU per request; it returns req/s,
// cpu-µs/req and the cores other processes used meanwhile.
func drive(b *testing.B, addr string, reqs [][]byte) (rps, cpuPerReq, others float64) {
	// RunParallel runs GOMAXPROCS × parallelism goroutines, one
	// connection each.
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var (
		mu   sync.Mutex
		lats []time.Duration
		fail string
	)
	cpu0 := processCPU()
	busy0, _ := benchtraefik.MachineBusy()
	b.ResetTimer()
	start := time.Now()
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		c := benchtraefik.NewConn(addr, 10*time.Second)
		defer c.Close()
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			req := reqs[0]
			if len(reqs) > 1 {
				req = reqs[seq.Add(1)%int64(len(reqs))]
			}
			t0 := time.Now()
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				mu.Lock()
				if fail == "" {
					fail = "request failed"
					if err != nil {
						fail = err.Error()
					} else {
						fail = "status " + strconv.Itoa(resp.StatusCode)
					}
				}
				mu.Unlock()
				continue
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU() - cpu0
	busy1, _ := benchtraefik.MachineBusy()
	others = float64(busy1-busy0-cpu) / float64(elapsed)
	if fail != "" {
		b.Fatalf("failed request: %s", fail)
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	rps = float64(b.N) / elapsed.Seconds()
	cpuPerReq = float64(cpu.Microseconds()) / float64(b.N)
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(cpuPerReq, "cpu-µs/req")
	b.ReportMetric(others, "others-cores")
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1e3, "p50-ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1e3, "p99-ms")
	}
	return rps, cpuPerReq, others
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Package e2e runs authlayer's contract through a real Traefik binary
// (../traefikrun): the plugin loaded from plugins-local by Traefik's own
// Yaegi, options decoded by Traefik from the file provider, requests over
// real connections, reloads by rewriting the dynamic configuration.
//
// Each test function starts one Traefik, a fake auth backend
// (../fakebackend) and an upstream that records what it receives, and
// reloads Traefik between its cases. A configuration is a set of sites:
// each site is a router for Host(`<name>.test`) with a middleware of its
// own (named <name>) in front of the upstream, so one configuration serves
// several option sets at once. The requests, results and want*
// assertions are ../testkit's, shared with the contract suite; this file
// holds what is the e2e suite's own: Traefik, sites, deploying them and
// sending requests over the wire.
//
// From the test module (cd test):
//
//	TRAEFIK_BIN=/path/to/traefik go test -count=1 -v ./e2e/
//
// Without a binary the tests skip; with AUTHLAYER_REQUIRE_TRAEFIK=1 they
// fail instead.
package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// waitBound bounds every wait for a response: reaching it is a failure.
const waitBound = 15 * time.Second

// m is shorthand for an option map.
type m = map[string]interface{}

// suite is one test function's world: Traefik, backend, upstream, client.
type suite struct {
	tr     *traefikrun.Traefik
	be     *fakebackend.Backend
	up     *testkit.Upstream
	upURL  string // where the upstream serves
	client *http.Client
	sites  sites // the configuration last deployed
}

// start starts the backend, the upstream and Traefik (with no site yet).
func start(t *testing.T, opts traefikrun.Options) *suite {
	t.Helper()
	be := fakebackend.New(t)
	up := testkit.NewUpstream()
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	tr := traefikrun.Start(t, opts)
	transport := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &suite{
		tr: tr, be: be, up: up, upURL: upSrv.URL,
		client: &http.Client{
			Transport:     transport,
			Timeout:       waitBound,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// sites maps a site name to its option overrides (merged onto base).
type sites map[string]m

// base is every site's starting options: this suite's backend with a 2 s
// timeout, cookies without Secure (plain http).
func (s *suite) base() m {
	return m{
		"backend": m{"url": s.be.URL, "timeout": "2s"},
		"cookies": m{"secure": "false"},
	}
}

// options returns the options of a site as deployed.
func (s *suite) options(overrides m) m {
	o := s.base()
	testkit.Merge(o, overrides)
	return o
}

// dynamic renders the dynamic configuration for these sites; extra is
// merged into the "http" section (for routers of a test's own).
func (s *suite) dynamic(ss sites, extra m) string {
	routers, middlewares := m{}, m{}
	names := make([]string, 0, len(ss))
	for name := range ss {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		routers[name] = m{
			"rule":        fmt.Sprintf("Host(`%s.test`)", name),
			"entryPoints": []string{"web"},
			"middlewares": []string{name},
			"service":     "upstream",
		}
		middlewares[name] = m{"plugin": m{traefikrun.PluginName: s.options(ss[name])}}
	}
	httpSection := m{
		"routers":     routers,
		"middlewares": middlewares,
		"services": m{"upstream": m{"loadBalancer": m{
			"servers": []interface{}{m{"url": s.upURL}},
		}}},
	}
	testkit.Merge(httpSection, extra)
	out, err := yaml.Marshal(m{"http": httpSection})
	if err != nil {
		panic(err)
	}
	return string(out)
}

// deploy reloads Traefik with these sites and returns once they are served.
func (s *suite) deploy(t *testing.T, ss sites) {
	t.Helper()
	s.deployWith(t, ss, nil)
}

func (s *suite) deployWith(t *testing.T, ss sites, extra m) {
	t.Helper()
	s.tr.Reload(t, s.dynamic(ss, extra))
	s.sites = ss
}

// page is a browser navigation to site.
func page(site, target string) testkit.Request { return testkit.Page(target).OnSite(site) }

// api is a fetch from a script to site.
func api(site, target string) testkit.Request { return testkit.API(target).OnSite(site) }

// send performs rq; it is safe from any goroutine.
func (s *suite) send(rq testkit.Request) (*testkit.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	req, err := rq.ClientRequest(ctx, s.tr.URL)
	if err != nil {
		return nil, err
	}
	id := s.up.Tag(req)
	startT := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s (Host %s): %w", req.Method, rq.Target, req.Host, err)
	}
	defer resp.Body.Close()
	res, err := testkit.ReadResult(resp)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, rq.Target, err)
	}
	res.Upstream = s.up.Received(id)
	res.Elapsed = time.Since(startT)
	return res, nil
}

// do performs rq or fails the test.
func (s *suite) do(t *testing.T, rq testkit.Request) *testkit.Result {
	t.Helper()
	r, err := s.send(rq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// burst sends n copies of rq at once; results come back in no particular
// order.
type burst struct {
	n       int
	results chan testkit.AsyncResult
}

func (s *suite) startBurst(n int, rq testkit.Request) *burst {
	b := &burst{n: n, results: make(chan testkit.AsyncResult, n)}
	for i := 0; i < n; i++ {
		go func() {
			r, err := s.send(rq)
			b.results <- testkit.AsyncResult{Res: r, Err: err}
		}()
	}
	return b
}

// collect waits (bounded) for every response.
func (b *burst) collect(t *testing.T) []*testkit.Result {
	t.Helper()
	return testkit.Collect(t, b.results, b.n, waitBound+5*time.Second)
}

// settle gives requests already sent time to reach the plugin and queue
// behind a held backend call: over real connections there is nothing to
// wait on but the clock. It only makes a deduplication test stricter: a
// request that arrives after the call completes is served from the cache.
func settle() { time.Sleep(400 * time.Millisecond) }

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
// several option sets at once.
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
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Header names of the default configuration.
const (
	hUser      = "X-Auth-User"
	hUserID    = "X-Auth-User-Id"
	hTokenType = "X-Auth-Token-Type"
	hRefreshed = "X-Refreshed-Token"
	hAuthz     = "Authorization"
	hTestID    = "X-Test-Id" // pairs a request with what the upstream saw
)

var identityHeaders = []string{hUser, hUserID, hTokenType, hRefreshed, hAuthz}

// Cookie names of the default configuration, plus the refresh cookie the
// dual-token cases configure.
const (
	userCookie    = "userToken"
	guestCookie   = "guestToken"
	refreshCookie = "refreshToken"
)

// waitBound bounds every wait for a response: reaching it is a failure.
const waitBound = 15 * time.Second

// m is shorthand for an option map.
type m = map[string]interface{}

// list is an option list.
func list(items ...string) []interface{} {
	out := make([]interface{}, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

// merge deep-merges src into dst; a nil value in src deletes the key.
func merge(dst, src m) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, ok := v.(m)
		dm, ok2 := dst[k].(m)
		if ok && ok2 {
			merge(dm, sm)
			continue
		}
		if ok {
			cp := m{}
			merge(cp, sm)
			dst[k] = cp
			continue
		}
		dst[k] = v
	}
}

// suite is one test function's world: Traefik, backend, upstream, client.
type suite struct {
	tr     *traefikrun.Traefik
	be     *fakebackend.Backend
	up     *upstream
	client *http.Client
	sites  sites // the configuration last deployed
}

// start starts the backend, the upstream and Traefik (with no site yet).
func start(t *testing.T, opts traefikrun.Options) *suite {
	t.Helper()
	be := fakebackend.New(t)
	up := newUpstream(t)
	tr := traefikrun.Start(t, opts)
	transport := &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	t.Cleanup(transport.CloseIdleConnections)
	return &suite{
		tr: tr, be: be, up: up,
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
	merge(o, overrides)
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
			"servers": []interface{}{m{"url": s.up.srv.URL}},
		}}},
	}
	merge(httpSection, extra)
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

// upstream is the app: it answers 200 "upstream" and records the headers
// of every request by X-Test-Id.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex // protects byID
	byID  map[string]http.Header
	idSeq atomic.Int64
	count atomic.Int64
}

const upstreamBody = "upstream"

func newUpstream(t *testing.T) *upstream {
	u := &upstream{byID: map[string]http.Header{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		u.mu.Lock()
		u.byID[r.Header.Get(hTestID)] = r.Header.Clone()
		u.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, upstreamBody)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) received(id string) http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id]
}

// request describes one client request.
type request struct {
	site    string // the Host is <site>.test
	method  string // "" means GET
	target  string // path and query
	accept  string // "" sends no Accept header
	cookies [][2]string
	header  http.Header       // added with Header.Add (canonical keys)
	rawKeys map[string]string // sent under exactly these keys
	body    string            // sent when not "" (see withBody)
}

const acceptHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// page is a browser navigation to site.
func page(site, target string) request {
	return request{site: site, target: target, accept: acceptHTML}
}

// api is a fetch from a script.
func api(site, target string) request {
	return request{site: site, target: target, accept: "application/json"}
}

func (r request) with(method string) request { r.method = method; return r }

// withBody sends body with this Content-Type.
func (r request) withBody(contentType, body string) request {
	r.body = body
	return r.withHeader("Content-Type", contentType)
}

func (r request) cookie(name, value string) request {
	r.cookies = append(append([][2]string(nil), r.cookies...), [2]string{name, value})
	return r
}

func (r request) withHeader(name, value string) request {
	h := http.Header{}
	for k, vs := range r.header {
		h[k] = append([]string(nil), vs...)
	}
	h.Add(name, value)
	r.header = h
	return r
}

// result is what the client got, and what the upstream received.
type result struct {
	code     int
	header   http.Header
	body     string
	cookies  []*http.Cookie
	upstream http.Header // nil when the upstream was not called
	elapsed  time.Duration
}

// send performs rq; it is safe from any goroutine.
func (s *suite) send(rq request) (*result, error) {
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var reqBody io.Reader
	if rq.body != "" {
		reqBody = strings.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.tr.URL+rq.target, reqBody)
	if err != nil {
		return nil, err
	}
	req.Host = rq.site + ".test"
	if rq.accept != "" {
		req.Header.Set("Accept", rq.accept)
	}
	for k, vs := range rq.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range rq.rawKeys {
		req.Header[k] = append(req.Header[k], v)
	}
	for _, c := range rq.cookies {
		req.AddCookie(&http.Cookie{Name: c[0], Value: c[1]})
	}
	id := strconv.FormatInt(s.up.idSeq.Add(1), 10)
	req.Header.Set(hTestID, id)
	startT := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s (Host %s): %w", method, rq.target, req.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the body: %w", method, rq.target, err)
	}
	return &result{
		code:     resp.StatusCode,
		header:   resp.Header,
		body:     string(body),
		cookies:  resp.Cookies(),
		upstream: s.up.received(id),
		elapsed:  time.Since(startT),
	}, nil
}

// do performs rq or fails the test.
func (s *suite) do(t *testing.T, rq request) *result {
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
	results chan asyncResult
}

type asyncResult struct {
	res *result
	err error
}

func (s *suite) startBurst(n int, rq request) *burst {
	b := &burst{n: n, results: make(chan asyncResult, n)}
	for i := 0; i < n; i++ {
		go func() {
			r, err := s.send(rq)
			b.results <- asyncResult{r, err}
		}()
	}
	return b
}

// collect waits (bounded) for every response.
func (b *burst) collect(t *testing.T) []*result {
	t.Helper()
	out := make([]*result, 0, b.n)
	deadline := time.NewTimer(waitBound + 5*time.Second)
	defer deadline.Stop()
	for i := 0; i < b.n; i++ {
		select {
		case ar := <-b.results:
			if ar.err != nil {
				t.Fatalf("burst request %d: %v", i, ar.err)
			}
			out = append(out, ar.res)
		case <-deadline.C:
			t.Fatalf("burst: %d of %d responses in time", i, b.n)
		}
	}
	return out
}

// settle gives requests already sent time to reach the plugin and queue
// behind a held backend call: over real connections there is nothing to
// wait on but the clock. It only makes a deduplication test stricter: a
// request that arrives after the call completes is served from the cache.
func settle() { time.Sleep(400 * time.Millisecond) }

// ---- assertions ----------------------------------------------------------

func (r *result) setCookies(name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.cookies {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

func isClearing(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

func rawCookies(cs []*http.Cookie) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

// wantCookieSet checks that the response sets name=value exactly once and
// does not clear it.
func wantCookieSet(t *testing.T, r *result, name, value string) *http.Cookie {
	t.Helper()
	cs := r.setCookies(name)
	if len(cs) != 1 {
		t.Fatalf("Set-Cookie %s: got %d entries %q, want exactly 1 setting %q", name, len(cs), rawCookies(cs), value)
	}
	c := cs[0]
	if c.Value != value || isClearing(c) {
		t.Fatalf("Set-Cookie %s: got %q, want value %q, not expired", name, c.Raw, value)
	}
	return c
}

func wantCookieCleared(t *testing.T, r *result, name string) {
	t.Helper()
	for _, c := range r.setCookies(name) {
		if isClearing(c) {
			return
		}
	}
	t.Errorf("Set-Cookie %s: got %q, want it cleared", name, rawCookies(r.setCookies(name)))
}

func wantNoCookieClearing(t *testing.T, r *result) {
	t.Helper()
	for _, c := range r.cookies {
		if isClearing(c) {
			t.Errorf("Set-Cookie %q clears cookie %s, want cookies kept", c.Raw, c.Name)
		}
	}
}

func wantNoSetCookie(t *testing.T, r *result) {
	t.Helper()
	if v := r.header.Values("Set-Cookie"); len(v) > 0 {
		t.Errorf("Set-Cookie: got %q, want none", v)
	}
}

// wantCookieAttrs checks HttpOnly, Path, SameSite=Lax, Max-Age, no Secure
// (the suite turns it off for plain http).
func wantCookieAttrs(t *testing.T, c *http.Cookie, maxAge int) {
	t.Helper()
	if !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.MaxAge != maxAge || c.Secure {
		t.Errorf("cookie %s: got %q, want HttpOnly, Path=/, SameSite=Lax, Max-Age=%d, no Secure", c.Name, c.Raw, maxAge)
	}
}

func wantForwarded(t *testing.T, r *result) {
	t.Helper()
	if r.upstream == nil || r.code != http.StatusOK || r.body != upstreamBody {
		t.Fatalf("got status %d body %q (upstream called: %v), want the request forwarded to the upstream",
			r.code, r.body, r.upstream != nil)
	}
}

func wantNotForwarded(t *testing.T, r *result) {
	t.Helper()
	if r.upstream != nil {
		t.Errorf("the upstream received the request (status %d), want it stopped by authlayer", r.code)
	}
}

func normHeader(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// identityValues returns the values the upstream received for each
// identity header under any spelling (alias spellings are reported).
func identityValues(h http.Header, names []string) map[string][]string {
	want := map[string]string{}
	for _, n := range names {
		want[normHeader(n)] = n
	}
	out := map[string][]string{}
	for k, vs := range h {
		if n, ok := want[normHeader(k)]; ok {
			out[n] = append(out[n], vs...)
			if k != http.CanonicalHeaderKey(n) {
				out[n] = append(out[n], "(alias "+k+")")
			}
		}
	}
	return out
}

func wantAnonymous(t *testing.T, r *result) {
	t.Helper()
	wantForwarded(t, r)
	if got := identityValues(r.upstream, identityHeaders); len(got) > 0 {
		t.Errorf("upstream identity headers: got %v, want none", got)
	}
}

// wantIdentity checks the upstream's identity headers (see the contract
// suite's wantIdentity); wantType "" means no X-Auth-Token-Type.
func wantIdentity(t *testing.T, r *result, token string, data map[string]interface{}, wantID, wantType, refreshed string) {
	t.Helper()
	wantForwarded(t, r)
	got := identityValues(r.upstream, identityHeaders)
	want := map[string][]string{
		hUser:   nil,
		hUserID: {wantID},
		hAuthz:  {"Bearer " + token},
	}
	if wantType != "" {
		want[hTokenType] = []string{wantType}
	}
	if refreshed != "" {
		want[hRefreshed] = []string{refreshed}
	}
	for _, n := range identityHeaders {
		w, expected := want[n]
		g := got[n]
		if !expected {
			if len(g) > 0 {
				t.Errorf("upstream %s: got %q, want absent", n, g)
			}
			continue
		}
		if n == hUser {
			wantUserHeader(t, g, data)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("upstream %s: got %q, want %q", n, g, w)
		}
	}
}

func wantUserHeader(t *testing.T, values []string, data map[string]interface{}) {
	t.Helper()
	if len(values) != 1 {
		t.Errorf("upstream %s: got %q, want exactly one value", hUser, values)
		return
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(values[0])
	if err != nil {
		t.Errorf("upstream %s: %q is not standard padded base64: %v", hUser, values[0], err)
		return
	}
	var got interface{}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Errorf("upstream %s: decoded %q is not JSON: %v", hUser, raw, err)
		return
	}
	wantJSON, _ := json.Marshal(data)
	var want interface{}
	_ = json.Unmarshal(wantJSON, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upstream %s: got JSON %s, want %s", hUser, raw, wantJSON)
	}
}

func wantNoStore(t *testing.T, r *result) {
	t.Helper()
	if cc := r.header.Get("Cache-Control"); !strings.Contains(strings.ToLower(cc), "no-store") {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
}

// wantJSONError checks status, application/json and
// {"success":false,"message":"…"}.
func wantJSONError(t *testing.T, r *result, status int) {
	t.Helper()
	if r.code != status {
		t.Errorf("status: got %d, want %d (body %q)", r.code, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var body struct {
		Success *bool       `json:"success"`
		Message interface{} `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Errorf("body %q: not JSON: %v", r.body, err)
		return
	}
	if body.Success == nil || *body.Success {
		t.Errorf("body %q: want \"success\": false", r.body)
	}
	if s, ok := body.Message.(string); !ok || s == "" {
		t.Errorf("body %q: want a non-empty string \"message\"", r.body)
	}
}

// wantExactJSON checks that body is the same JSON value as want.
func wantExactJSON(t *testing.T, body, want string) {
	t.Helper()
	var got, exp interface{}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Errorf("body %q: not JSON: %v", body, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("body: got %s, want %s", body, want)
	}
}

// wantLoginRedirect checks a redirect to /login carrying the original
// path and query.
func wantLoginRedirect(t *testing.T, r *result, status int, original string) {
	t.Helper()
	want := "/login?redirect=" + url.QueryEscape(original)
	if r.code != status || r.header.Get("Location") != want {
		t.Errorf("got %d Location %q, want %d Location %q", r.code, r.header.Get("Location"), status, want)
	}
	wantNoStore(t, r)
}

// wantBackendUntouched checks that no backend call was made since before.
func (s *suite) wantBackendUntouched(t *testing.T, before int) {
	t.Helper()
	if got := s.be.Total() - before; got != 0 {
		t.Errorf("backend calls: got %d, want 0", got)
	}
}

// fingerprint sums up what a client and the upstream saw, to compare the
// responses of a burst.
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

// wantAllLike runs check on the first result and requires the others to
// match it.
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

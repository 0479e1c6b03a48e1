// Package contract holds authlayer's behaviour tests. Every test runs
// against each loader factory ("compiled" and "yaegi"), through the raw
// option maps Traefik hands a plugin, with a fake auth backend
// (../fakebackend) and an upstream that records what it received.
//
// From the test module (cd test):
//
//	go test -count=1 ./contract/                  # compiled and Yaegi
//	go test -race -count=1 ./contract/            # the same under the race detector
//	go test -count=1 -run '/compiled' ./contract/ # one factory
package contract

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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/loader"
)

// Header names of the default configuration.
const (
	hUser      = "X-Auth-User"
	hUserID    = "X-Auth-User-Id"
	hTokenType = "X-Auth-Token-Type"
	hRefreshed = "X-Refreshed-Token"
	hAuthz     = "Authorization"
	hTestID    = "X-Test-Id" // set by the harness to pair requests with what upstream saw
)

// identityHeaders are the headers authlayer sets for the app by default.
var identityHeaders = []string{hUser, hUserID, hTokenType, hRefreshed, hAuthz}

// Cookie names of the default configuration, plus the refresh cookie the
// dual-token tests configure.
const (
	userCookie    = "userToken"
	guestCookie   = "guestToken"
	refreshCookie = "refreshToken"
)

// waitBound bounds every wait in the suite: reaching it is a failure.
const waitBound = 10 * time.Second

type namedFactory struct {
	name string
	load func() (loader.Factory, error)
}

var factories = []namedFactory{
	{"compiled", func() (loader.Factory, error) { return loader.Compiled(), nil }},
	{"yaegi", yaegiFactory},
}

// Both factories run under -race. Yaegi v0.16.1 shares a select
// statement's case list between goroutines (interp/run.go _select), a race
// in the interpreter itself; the plugin therefore has no select on its
// request path, and this suite under -race is what keeps it that way.

// run runs body once per factory, as subtests "compiled" and "yaegi".
func run(t *testing.T, body func(t *testing.T, e *env)) {
	t.Helper()
	for _, nf := range factories {
		t.Run(nf.name, func(t *testing.T) {
			f, err := nf.load()
			if err != nil {
				t.Fatalf("load %s factory: %v", nf.name, err)
			}
			body(t, newEnv(t, f))
		})
	}
}

// env is one test's world: a factory, a fake backend and an upstream.
type env struct {
	factory loader.Factory
	be      *fakebackend.Backend
	up      *upstream
	built   map[string]int // handlers built per test name
}

func newEnv(t *testing.T, f loader.Factory) *env {
	return &env{factory: f, be: fakebackend.New(t), up: newUpstream(), built: map[string]int{}}
}

// m is shorthand for an option map.
type m = map[string]interface{}

// list is an option list as Traefik's providers deliver it.
func list(items ...string) []interface{} {
	out := make([]interface{}, len(items))
	for i, s := range items {
		out[i] = s
	}
	return out
}

// opts returns the base options (this env's backend, a 2s timeout,
// cookies without Secure since tests run on plain http) deep-merged with
// each override in turn. A nil value in an override deletes the key.
func (e *env) opts(overrides ...m) m {
	base := m{
		"backend": m{"url": e.be.URL, "timeout": "2s"},
		"cookies": m{"secure": "false"},
	}
	for _, o := range overrides {
		merge(base, o)
	}
	return base
}

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

// guestOpts turns guests on with credentials the fake backend accepts.
func (e *env) guestOpts() m {
	e.be.EnableGuest("guest-user", "guest-pass")
	return m{"guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}}
}

// handler builds the middleware, or fails the test. Its name is the
// test's name (with "#n" from the second handler of one test on), so no
// two handlers share a name.
func (e *env) handler(t *testing.T, options m) http.Handler {
	t.Helper()
	name := t.Name()
	if n := e.built[name]; n > 0 {
		name = fmt.Sprintf("%s#%d", name, n)
	}
	e.built[t.Name()]++
	h, err := e.factory(options, e.up, name)
	if err != nil {
		t.Fatalf("New(%v): unexpected error: %v", options, err)
	}
	if h == nil {
		t.Fatalf("New returned a nil handler")
	}
	return h
}

// upstream is the next handler: it answers 200 "upstream" and records the
// headers of every request it receives.
type upstream struct {
	mu    sync.Mutex // protects byID
	byID  map[string]http.Header
	idSeq atomic.Int64
}

const upstreamBody = "upstream"

func newUpstream() *upstream { return &upstream{byID: map[string]http.Header{}} }

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.byID[r.Header.Get(hTestID)] = r.Header.Clone()
	u.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, upstreamBody)
}

func (u *upstream) received(id string) http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.byID[id]
}

// request describes one client request.
type request struct {
	method  string // "" means GET
	target  string // path and query
	accept  string // "" sends no Accept header
	cookies map[string]string
	header  http.Header // added with Header.Add (canonicalised, as Go's server does)
	rawKeys map[string]string
	ctx     context.Context
	body    string // sent when not "" (see withBody)
}

const acceptHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// page is a browser navigation.
func page(target string) request { return request{target: target, accept: acceptHTML} }

// api is a fetch from a script.
func api(target string) request { return request{target: target, accept: "application/json"} }

func (r request) with(method string) request { r.method = method; return r }

// withBody sends body with this Content-Type.
func (r request) withBody(contentType, body string) request {
	r.body = body
	return r.withHeader("Content-Type", contentType)
}

func (r request) cookie(name, value string) request {
	c := map[string]string{}
	for k, v := range r.cookies {
		c[k] = v
	}
	c[name] = value
	r.cookies = c
	return r
}

// result is what the client got, and what the upstream received.
type result struct {
	code     int
	header   http.Header
	body     string
	cookies  []*http.Cookie
	upstream http.Header // nil when next was not called
}

func (e *env) newRequest(rq request) (*http.Request, string) {
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req := httptest.NewRequest(method, rq.target, body)
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
	for name, value := range rq.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	id := strconv.FormatInt(e.up.idSeq.Add(1), 10)
	req.Header.Set(hTestID, id)
	if rq.ctx != nil {
		req = req.WithContext(rq.ctx)
	}
	return req, id
}

// do sends rq through h. A panic fails the test.
func (e *env) do(t *testing.T, h http.Handler, rq request) *result {
	t.Helper()
	req, id := e.newRequest(rq)
	res, err := serve(h, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, rq.target, err)
	}
	res.upstream = e.up.received(id)
	return res
}

// serve runs one request and converts a panic into an error, so that it
// is safe to call from any goroutine.
func serve(h http.Handler, req *http.Request) (res *result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return &result{
		code:    resp.StatusCode,
		header:  resp.Header,
		body:    string(body),
		cookies: resp.Cookies(),
	}, nil
}

// doAsync sends rq in a goroutine; the returned channel yields the result.
func (e *env) doAsync(h http.Handler, rq request) <-chan asyncResult {
	req, id := e.newRequest(rq)
	ch := make(chan asyncResult, 1)
	go func() {
		res, err := serve(h, req)
		if res != nil {
			res.upstream = e.up.received(id)
		}
		ch <- asyncResult{res, err}
	}()
	return ch
}

type asyncResult struct {
	res *result
	err error
}

// await waits (bounded) for an async result.
func await(t *testing.T, ch <-chan asyncResult, what string) *result {
	t.Helper()
	select {
	case ar := <-ch:
		if ar.err != nil {
			t.Fatalf("%s: %v", what, ar.err)
		}
		return ar.res
	case <-time.After(waitBound):
		t.Fatalf("%s: no response within %v", what, waitBound)
	}
	return nil
}

// ---- assertions ----------------------------------------------------------

// setCookies returns the Set-Cookie entries named name.
func (r *result) setCookies(name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.cookies {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// isClearing says whether c deletes its cookie.
func isClearing(c *http.Cookie) bool {
	return c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

// wantCookieSet checks that the response sets name=value exactly once and
// does not also clear it, and returns that cookie.
func wantCookieSet(t *testing.T, r *result, name, value string) *http.Cookie {
	t.Helper()
	cs := r.setCookies(name)
	if len(cs) != 1 {
		t.Fatalf("Set-Cookie %s: got %d entries %v, want exactly 1 setting %q", name, len(cs), cs, value)
	}
	c := cs[0]
	if c.Value != value || isClearing(c) {
		t.Fatalf("Set-Cookie %s: got %q (raw %q), want value %q, not expired", name, c.Value, c.Raw, value)
	}
	return c
}

// wantCookieCleared checks that the response deletes name.
func wantCookieCleared(t *testing.T, r *result, name string) {
	t.Helper()
	cs := r.setCookies(name)
	for _, c := range cs {
		if isClearing(c) {
			if c.Value != "" {
				t.Errorf("Set-Cookie %s clears with value %q, want empty", name, c.Value)
			}
			return
		}
	}
	t.Errorf("Set-Cookie %s: got %v, want it cleared (Max-Age<=0 or Expires in the past)", name, rawCookies(cs))
}

// wantNoCookieClearing checks that no Set-Cookie deletes a cookie.
func wantNoCookieClearing(t *testing.T, r *result) {
	t.Helper()
	for _, c := range r.cookies {
		if isClearing(c) {
			t.Errorf("Set-Cookie %q clears cookie %s, want cookies kept", c.Raw, c.Name)
		}
	}
}

// wantNoSetCookie checks that the response sets no cookie at all.
func wantNoSetCookie(t *testing.T, r *result) {
	t.Helper()
	if v := r.header.Values("Set-Cookie"); len(v) > 0 {
		t.Errorf("Set-Cookie: got %q, want none", v)
	}
}

func rawCookies(cs []*http.Cookie) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Raw
	}
	return out
}

// wantForwarded checks that the upstream answered the request.
func wantForwarded(t *testing.T, r *result) {
	t.Helper()
	if r.upstream == nil || r.code != http.StatusOK || r.body != upstreamBody {
		t.Fatalf("got status %d body %q (upstream called: %v), want the request forwarded to upstream",
			r.code, r.body, r.upstream != nil)
	}
}

// wantNotForwarded checks that the upstream never saw the request.
func wantNotForwarded(t *testing.T, r *result) {
	t.Helper()
	if r.upstream != nil {
		t.Errorf("upstream received the request (status %d), want it stopped by authlayer", r.code)
	}
}

// normHeader folds a header name as PHP, WSGI and nginx do: lower case,
// '_' and '.' as '-'.
func normHeader(name string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
}

// identityValues returns, for each identity header (by folded name), the
// values the upstream received under any alias spelling.
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

// wantAnonymous checks that the upstream got no identity header under any
// spelling.
func wantAnonymous(t *testing.T, r *result) {
	t.Helper()
	wantForwarded(t, r)
	if got := identityValues(r.upstream, identityHeaders); len(got) > 0 {
		t.Errorf("upstream identity headers: got %v, want none", got)
	}
}

// wantIdentity checks the upstream's identity headers: X-Auth-User is
// base64 of data's JSON, X-Auth-User-Id the id, X-Auth-Token-Type the type,
// Authorization Bearer token; X-Refreshed-Token is refreshed ("" = absent);
// wantType "" means no type header.
// No header may appear twice or under an alias spelling.
func wantIdentity(t *testing.T, r *result, token string, data map[string]interface{}, wantID, wantType, refreshed string) {
	t.Helper()
	wantForwarded(t, r)
	got := identityValues(r.upstream, identityHeaders)
	want := map[string][]string{
		hUser:      nil, // compared as decoded JSON below
		hUserID:    {wantID},
		hTokenType: {wantType},
		hAuthz:     {"Bearer " + token},
	}
	if refreshed != "" {
		want[hRefreshed] = []string{refreshed}
	}
	if wantType == "" {
		delete(want, hTokenType) // an answer without its type field: no type header
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

// wantUserHeader checks X-Auth-User: one value, standard padded base64 of
// JSON equal (as JSON) to data.
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

// wantNoStore checks Cache-Control: no-store.
func wantNoStore(t *testing.T, r *result) {
	t.Helper()
	if cc := r.header.Get("Cache-Control"); !strings.Contains(strings.ToLower(cc), "no-store") {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
}

// wantJSONError checks a JSON error answer: status, Content-Type
// application/json, body {"success":false,"message":"…"}.
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

// wantCount checks a fake backend call counter.
func wantCount(t *testing.T, be *fakebackend.Backend, endpoint string, want int) {
	t.Helper()
	if got := be.Count(endpoint); got != want {
		t.Errorf("backend %s calls: got %d, want %d", endpoint, got, want)
	}
}

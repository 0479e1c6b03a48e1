package contract

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// methodOverride (issue 10): PUT/PATCH/DELETE reach the app as POST with
// the method in X-HTTP-Method-Override (header mode) or a _method field
// (body mode), after every check saw the real method; a client's own
// override never reaches the app while a mode is on.

// methodApp records the method, request line, headers and body the app
// received, by X-Test-Id.
type methodApp struct {
	mu  sync.Mutex
	got map[string]*received
}

type received struct {
	method, uri, query, body string
	length                   int64
	header                   http.Header
}

func newMethodApp() *methodApp { return &methodApp{got: map[string]*received{}} }

func (a *methodApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.got[r.Header.Get(hTestID)] = &received{
		method: r.Method, uri: r.RequestURI, query: r.URL.RawQuery, body: string(b),
		length: r.ContentLength, header: r.Header.Clone(),
	}
	a.mu.Unlock()
	_, _ = io.WriteString(w, upstreamBody)
}

// send sends rq with body (Content-Type ctype) through h and returns the
// answer and what the app received (nil when nothing reached it).
func (a *methodApp) send(t *testing.T, e *env, h http.Handler, rq request, ctype, body string) (*result, *received) {
	t.Helper()
	req, id := e.newRequest(rq)
	req.RequestURI = rq.target
	if body != "" || ctype != "" {
		req.Body = io.NopCloser(strings.NewReader(body))
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := serve(h, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, rq.target, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return res, a.got[id]
}

// overrideKeys are the client's override headers in the spellings
// servers fold into X-HTTP-Method-Override and its siblings.
var overrideKeys = []string{
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	"x_http_method_override", "X.HTTP.Method.Override", "X_METHOD_OVERRIDE",
}

func withOverrides(rq request, value string) request {
	for _, k := range overrideKeys {
		rq = rq.withRawKey(k, value)
	}
	return rq
}

// wantNoClientOverride checks that no override header but authlayer's
// (want, "" for none) reached the app.
func wantNoClientOverride(t *testing.T, got *received, want string) {
	t.Helper()
	for k, vs := range got.header {
		n := normHeader(k)
		if n != "x-http-method-override" && n != "x-http-method" && n != "x-method-override" {
			continue
		}
		if want == "" || k != "X-Http-Method-Override" || len(vs) != 1 || vs[0] != want {
			t.Errorf("the app received %s: %q (want only authlayer's X-Http-Method-Override %q)", k, vs, want)
		}
	}
	if want != "" && got.header.Get("X-Http-Method-Override") != want {
		t.Errorf("X-Http-Method-Override: got %q, want %q", got.header.Get("X-Http-Method-Override"), want)
	}
}

// TestMethodOverrideHeader: header mode.
func TestMethodOverrideHeader(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := newMethodApp()
		h := e.handlerIn(t, e.opts(m{"methodOverride": m{"mode": "header"}, "routes": m{"excluded": list("/static")}}), app, "header")
		tok, data := freshUser(e, "override-header", "u-override")
		for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
			r, got := app.send(t, e, h, withOverrides(api("/api/items/1?a=1&_method=GET").with(method).cookie(userCookie, tok), "GET"),
				"application/json", `{"a":1}`)
			if r.code != http.StatusOK || got == nil || got.method != http.MethodPost || got.body != `{"a":1}` {
				t.Fatalf("%s: %d, app got %+v", method, r.code, got)
			}
			wantNoClientOverride(t, got, method)
			if got.query != "a=1" || got.uri != "/api/items/1?a=1" {
				t.Errorf("%s: the client's _method reached the app: %q %q", method, got.query, got.uri)
			}
			r.upstream = got.header
			r.body = upstreamBody
			wantIdentity(t, r, tok, data, "u-override", "user", "")
		}
		// GET, POST and excluded paths: never an override the client chose.
		for _, rq := range []request{
			page("/items?_method=DELETE&b=2"),
			api("/items?%5Fmethod=DELETE&b=2").with(http.MethodPost),
			page("/static/app.js?_METHOD[]=DELETE&b=2"),
		} {
			r, got := app.send(t, e, h, withOverrides(rq, "DELETE"), "", "")
			method := rq.method
			if method == "" {
				method = http.MethodGet
			}
			if r.code != http.StatusOK || got == nil || got.method != method || got.query != "b=2" {
				t.Fatalf("%s %s: %d, app got %+v", method, rq.target, r.code, got)
			}
			wantNoClientOverride(t, got, "")
		}
	})
}

// TestMethodOverrideBody: body mode rewrites JSON and form bodies (the
// client's _method replaced, Content-Length updated), falls back to the
// header for other bodies, and answers 413 beyond maxBodyBytes without
// forwarding.
func TestMethodOverrideBody(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := newMethodApp()
		h := e.handlerIn(t, e.opts(m{"methodOverride": m{"mode": "body", "maxBodyBytes": "64"}}), app, "body")
		tok, _ := freshUser(e, "override-body", "u-body")
		for _, tc := range []struct {
			desc, method, ctype, body string
			wantBody, wantHeader      string
		}{
			{"JSON", http.MethodPut, "application/json", `{"name":"x","n":1.50}`, `{"_method":"PUT","name":"x","n":1.50}`, ""},
			{"JSON with the client's _method", http.MethodPatch, "application/json", `{"_method":"GET","a":1}`, `{"_method":"PATCH","a":1}`, ""},
			{"form", http.MethodDelete, "application/x-www-form-urlencoded", "id=3&_method=GET", "id=3&_method=DELETE", ""},
			{"no body", http.MethodDelete, "", "", "_method=DELETE", ""},
			{"JSON array", http.MethodPut, "application/json", `[1]`, `[1]`, http.MethodPut},
			{"text", http.MethodPut, "text/plain", "hi", "hi", http.MethodPut},
			{"a POST's own _method", http.MethodPost, "application/json", `{"_method":"DELETE","a":1}`, `{"a":1}`, ""},
		} {
			r, got := app.send(t, e, h, withOverrides(api("/api/items").with(tc.method).cookie(userCookie, tok), "GET"), tc.ctype, tc.body)
			if r.code != http.StatusOK || got == nil || got.method != http.MethodPost {
				t.Fatalf("%s: %d, app got %+v", tc.desc, r.code, got)
			}
			if got.body != tc.wantBody || got.length != int64(len(tc.wantBody)) {
				t.Errorf("%s: app got body %q (length %d), want %q", tc.desc, got.body, got.length, tc.wantBody)
			}
			if cl := got.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(tc.wantBody)) {
				t.Errorf("%s: Content-Length header %q for a %d-byte body", tc.desc, cl, len(tc.wantBody))
			}
			wantNoClientOverride(t, got, tc.wantHeader)
		}
		before := e.be.Total()
		r, got := app.send(t, e, h, api("/api/items").with(http.MethodPut).cookie(userCookie, tok), "application/json", `{"a":"`+strings.Repeat("x", 64)+`"}`)
		if got != nil || r.code != http.StatusRequestEntityTooLarge || r.body != `{"success":false,"message":"Request body too large"}` {
			t.Errorf("over maxBodyBytes: %d %q, forwarded: %v", r.code, r.body, got != nil)
		}
		wantNoStore(t, r)
		wantBackendUntouched(t, e, before)

		if _, err := e.factory(e.opts(m{"methodOverride": m{"mode": "query"}}), e.up, t.Name()+"#bad"); err == nil || !strings.Contains(err.Error(), "methodOverride.mode") {
			t.Errorf("methodOverride.mode=query: %v, want an error naming methodOverride.mode", err)
		}
	})
}

// TestMethodOverrideCSRF: CSRF judges the real method, before the
// rewrite: a cross-site DELETE is refused as one; a GET asking for DELETE
// is refused cross-site and reaches the app as a plain GET same-site; the
// rewrite never opens a way round the check.
func TestMethodOverrideCSRF(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := newMethodApp()
		h := e.handlerIn(t, csrfOpts(e, m{"methodOverride": m{"mode": "header"}}), app, "csrf")
		tok, _ := freshUser(e, "override-csrf", "u-csrf")
		for _, tc := range []struct {
			desc       string
			rq         request
			wantStatus int
			wantMethod string
		}{
			{"cross-site DELETE", api("/api/items/1").with(http.MethodDelete).withHeader("Sec-Fetch-Site", "cross-site"), http.StatusForbidden, ""},
			{"cross-site GET asking for DELETE", withOverrides(api("/api/items/1").withHeader("Sec-Fetch-Site", "cross-site"), "DELETE"), http.StatusForbidden, ""},
			{"cross-site GET with ?_method=DELETE", api("/api/items/1?_method=DELETE").withHeader("Sec-Fetch-Site", "cross-site"), http.StatusForbidden, ""},
			{"same-origin GET asking for DELETE", withOverrides(api("/api/items/1").withHeader("Sec-Fetch-Site", "same-origin"), "DELETE"), http.StatusOK, http.MethodGet},
			{"same-origin DELETE", api("/api/items/1").with(http.MethodDelete).withHeader("Sec-Fetch-Site", "same-origin"), http.StatusOK, http.MethodPost},
		} {
			r, got := app.send(t, e, h, tc.rq.cookie(userCookie, tok), "", "")
			if r.code != tc.wantStatus {
				t.Errorf("%s: %d, want %d", tc.desc, r.code, tc.wantStatus)
				continue
			}
			if tc.wantMethod == "" {
				if got != nil {
					t.Errorf("%s: reached the app as %s", tc.desc, got.method)
				}
				continue
			}
			if got == nil || got.method != tc.wantMethod {
				t.Errorf("%s: app got %+v, want %s", tc.desc, got, tc.wantMethod)
				continue
			}
			want := ""
			if tc.wantMethod == http.MethodPost {
				want = http.MethodDelete
			}
			wantNoClientOverride(t, got, want)
		}
	})
}

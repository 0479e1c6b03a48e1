package authlayer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// bodyApp records the method, request line, headers and body the app
// received.
type bodyApp struct {
	mu     sync.Mutex
	calls  int
	method string
	uri    string
	query  string
	header http.Header
	body   string
	length int64
}

func (a *bodyApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.calls++
	a.method, a.uri, a.query = r.Method, r.RequestURI, r.URL.RawQuery
	a.header = r.Header.Clone()
	a.body, a.length = string(b), r.ContentLength
	a.mu.Unlock()
	_, _ = w.Write([]byte("app"))
}

// overrideMiddleware is the test middleware with methodOverride.mode and
// a user session "user-7" ready.
func overrideMiddleware(t *testing.T, mode string, mutate func(*Config)) (http.Handler, *bodyApp) {
	t.Helper()
	f := newFakeBackend(t)
	app := &bodyApp{}
	h, _ := newTestMiddleware(t, f, func(c *Config) {
		c.MethodOverride.Mode = mode
		if mutate != nil {
			mutate(c)
		}
	})
	h.(*middleware).next = app
	return h, app
}

// bodyRequest is a script's request with a body (Content-Length known
// unless chunked).
func bodyRequest(method, target, ctype, body string, chunked bool) *http.Request {
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(strings.NewReader(body)) // no length known
	}
	req := httptest.NewRequest(method, target, r)
	req.RequestURI = target
	if chunked {
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "user-7"})
	return req
}

func TestMethodOverrideOptions(t *testing.T) {
	f := newFakeBackend(t)
	for _, tc := range []struct {
		mode   string
		max    int
		option string
	}{
		{"put", 1 << 20, "methodOverride.mode"},
		{"headers", 1 << 20, "methodOverride.mode"},
		{"body", 0, "methodOverride.maxBodyBytes"},
		{"body", -1, "methodOverride.maxBodyBytes"},
	} {
		c := CreateConfig()
		c.Backend.URL = f.srv.URL
		c.MethodOverride = MethodOverrideConfig{Mode: tc.mode, MaxBodyBytes: tc.max}
		_, err := New(context.Background(), &upstream{}, c, t.Name())
		if err == nil || !strings.Contains(err.Error(), tc.option) {
			t.Errorf("mode %q max %d: error %v, want one naming %s", tc.mode, tc.max, err, tc.option)
		}
	}
	for _, mode := range []string{"off", "", "Header", " body "} {
		c := CreateConfig()
		c.Backend.URL = f.srv.URL
		c.MethodOverride.Mode = mode
		if _, err := New(context.Background(), &upstream{}, c, t.Name()); err != nil {
			t.Errorf("mode %q refused: %v", mode, err)
		}
	}
}

func TestMethodOverrideHeaderMode(t *testing.T) {
	h, app := overrideMiddleware(t, "header", nil)
	for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req := bodyRequest(method, "/items/1", "application/json", `{"a":1}`, false)
		req.Header.Set("X-HTTP-Method-Override", "GET") // the client's own: never reaches the app
		rec := serve(h, req)
		if rec.Code != http.StatusOK || app.method != http.MethodPost || app.body != `{"a":1}` ||
			app.header.Values("X-Http-Method-Override")[0] != method || len(app.header.Values("X-Http-Method-Override")) != 1 {
			t.Errorf("%s: app got %s %q override %q (status %d)", method, app.method, app.body, app.header.Values("X-Http-Method-Override"), rec.Code)
		}
		if app.header.Get("X-Auth-User-Id") != "7" {
			t.Errorf("%s: the identity did not reach the app: %v", method, app.header)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions, "PROPFIND"} {
		serve(h, bodyRequest(method, "/items", "", "", false))
		if app.method != method || len(app.header.Values("X-Http-Method-Override")) != 0 {
			t.Errorf("%s: app got %s override %q", method, app.method, app.header.Values("X-Http-Method-Override"))
		}
	}
}

func TestClientOverridesNeverReachTheApp(t *testing.T) {
	spellings := []string{
		"X-HTTP-Method-Override", "X-Http-Method", "X-Method-Override",
		"x_http_method_override", "X.HTTP.Method.Override", "X_METHOD_OVERRIDE", "x~http~method",
	}
	for _, mode := range []string{"header", "body"} {
		h, app := overrideMiddleware(t, mode, func(c *Config) { c.Routes.Excluded = []string{"/static"} })
		for _, target := range []string{"/items", "/static/app.js"} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req := bodyRequest(method, target+"?a=1&_method=DELETE&%5Fmethod=PUT&_METHOD[]=PATCH;.method=DELETE&b=2", "", "", false)
				for _, name := range spellings {
					req.Header[name] = []string{"DELETE"}
				}
				rec := serve(h, req)
				if rec.Code != http.StatusOK || app.method != method {
					t.Fatalf("%s %s %s: %d, app got %s", mode, method, target, rec.Code, app.method)
				}
				for k := range app.header {
					if csrfOverrideHeaders[normalizeHeaderName(k)] {
						t.Errorf("%s %s %s: the client's %s reached the app", mode, method, target, k)
					}
				}
				if app.query != "a=1&b=2" || app.uri != target+"?a=1&b=2" {
					t.Errorf("%s %s %s: app got query %q, request line %q; want a=1&b=2 only", mode, method, target, app.query, app.uri)
				}
			}
		}
	}
	// Off: authlayer leaves them alone (the app decides whether it trusts
	// them; CSRF still judges a GET that carries one as unsafe).
	h, app := overrideMiddleware(t, "off", nil)
	req := bodyRequest(http.MethodGet, "/items?_method=DELETE", "", "", false)
	req.Header.Set("X-HTTP-Method-Override", "DELETE")
	serve(h, req)
	if app.header.Get("X-Http-Method-Override") != "DELETE" || app.query != "_method=DELETE" {
		t.Errorf("mode off changed the request: %v %q", app.header, app.query)
	}
}

func TestMethodOverrideBodyMode(t *testing.T) {
	h, app := overrideMiddleware(t, "body", nil)
	for _, tc := range []struct {
		desc, method, ctype, body string
		chunked                   bool
		wantBody, wantCT          string
		wantHeader                string // X-Http-Method-Override, "" for none
	}{
		{"JSON object", http.MethodPut, "application/json", `{"a":1,"b":[1,2]}`, false,
			`{"_method":"PUT","a":1,"b":[1,2]}`, "application/json", ""},
		{"JSON with spaces and a charset", http.MethodPatch, "application/json; charset=utf-8", " {\n \"a\" : 1 }\n", false,
			"{\"_method\":\"PATCH\",\n \"a\" : 1 }", "application/json; charset=utf-8", ""},
		{"empty JSON object", http.MethodDelete, "application/json", `{}`, false, `{"_method":"DELETE"}`, "application/json", ""},
		{"JSON+suffix type, chunked", http.MethodPatch, "application/merge-patch+json", `{"n":12345678901234567890}`, true,
			`{"_method":"PATCH","n":12345678901234567890}`, "application/merge-patch+json", ""},
		{"JSON with the client's _method", http.MethodDelete, "application/json", `{"_method":"GET","_METHOD":"POST","a":1}`, false,
			`{"_method":"DELETE","a":1}`, "application/json", ""},
		{"JSON with an escaped _method key", http.MethodDelete, "application/json", `{"\u005fmethod":"GET","a":1}`, false,
			`{"_method":"DELETE","a":1}`, "application/json", ""},
		{"JSON array", http.MethodPut, "application/json", `[1,2]`, false, `[1,2]`, "application/json", "PUT"},
		{"invalid JSON", http.MethodPut, "application/json", `{"a":`, false, `{"a":`, "application/json", "PUT"},
		{"form", http.MethodPut, "application/x-www-form-urlencoded", "a=1&b=two", false,
			"a=1&b=two&_method=PUT", "application/x-www-form-urlencoded", ""},
		{"form with the client's _method", http.MethodDelete, "application/x-www-form-urlencoded", "_method=GET&a=1;%5Fmethod=POST&_method[]=PUT", false,
			"a=1&_method=DELETE", "application/x-www-form-urlencoded", ""},
		{"empty form", http.MethodPatch, "application/x-www-form-urlencoded", "", false, "_method=PATCH", "application/x-www-form-urlencoded", ""},
		{"no body", http.MethodDelete, "", "", false, "_method=DELETE", "application/x-www-form-urlencoded", ""},
		{"multipart", http.MethodPut, "multipart/form-data; boundary=x", "--x--", false, "--x--", "multipart/form-data; boundary=x", "PUT"},
		{"plain text", http.MethodPut, "text/plain", "hello", false, "hello", "text/plain", "PUT"},
		{"unknown body without a type", http.MethodPut, "", "raw", false, "raw", "", "PUT"},
	} {
		rec := serve(h, bodyRequest(tc.method, "/items/1", tc.ctype, tc.body, tc.chunked))
		if rec.Code != http.StatusOK || app.method != http.MethodPost {
			t.Errorf("%s: %d, app got %s", tc.desc, rec.Code, app.method)
			continue
		}
		if app.body != tc.wantBody || app.header.Get("Content-Type") != tc.wantCT {
			t.Errorf("%s: app got body %q type %q, want %q %q", tc.desc, app.body, app.header.Get("Content-Type"), tc.wantBody, tc.wantCT)
		}
		if app.length != int64(len(tc.wantBody)) || (app.header.Get("Content-Length") != "" && app.header.Get("Content-Length") != strconv.Itoa(len(tc.wantBody))) {
			t.Errorf("%s: Content-Length %d / %q for a %d-byte body", tc.desc, app.length, app.header.Get("Content-Length"), len(tc.wantBody))
		}
		if got := app.header.Get("X-Http-Method-Override"); got != tc.wantHeader {
			t.Errorf("%s: X-HTTP-Method-Override %q, want %q", tc.desc, got, tc.wantHeader)
		}
	}
}

func TestMethodOverrideCleansPostBodiesInBodyMode(t *testing.T) {
	h, app := overrideMiddleware(t, "body", nil)
	for _, tc := range []struct{ desc, ctype, body, want string }{
		{"JSON without _method keeps its bytes", "application/json", " {\"b\":1, \"a\":2}", " {\"b\":1, \"a\":2}"},
		{"JSON with _method loses it", "application/json", `{"a":1,"_method":"DELETE"}`, `{"a":1}`},
		{"form without _method keeps its bytes", "application/x-www-form-urlencoded", "x=%41&y=2", "x=%41&y=2"},
		{"form with _method loses it", "application/x-www-form-urlencoded", "x=1&_method=DELETE", "x=1"},
		{"multipart is not read", "multipart/form-data; boundary=x", "_method=DELETE", "_method=DELETE"},
	} {
		serve(h, bodyRequest(http.MethodPost, "/items", tc.ctype, tc.body, false))
		if app.method != http.MethodPost || app.body != tc.want || app.length != int64(len(tc.want)) {
			t.Errorf("%s: app got %s %q (length %d), want POST %q", tc.desc, app.method, app.body, app.length, tc.want)
		}
	}
	// Header mode never reads a body.
	h, app = overrideMiddleware(t, "header", nil)
	serve(h, bodyRequest(http.MethodPost, "/items", "application/x-www-form-urlencoded", "_method=DELETE", false))
	if app.body != "_method=DELETE" {
		t.Errorf("header mode changed a POST body: %q", app.body)
	}
}

func TestMethodOverrideBodyCap(t *testing.T) {
	h, app := overrideMiddleware(t, "body", func(c *Config) { c.MethodOverride.MaxBodyBytes = 16 })
	for _, tc := range []struct {
		desc    string
		req     *http.Request
		want413 bool
	}{
		{"at the cap", bodyRequest(http.MethodPut, "/items", "application/json", `{"a":"12345678"}`, false), false},
		{"over the cap, length known", bodyRequest(http.MethodPut, "/items", "application/json", `{"a":"123456789"}`, false), true},
		{"over the cap, chunked", bodyRequest(http.MethodPatch, "/items", "application/x-www-form-urlencoded", strings.Repeat("a", 17), true), true},
		{"a POST over the cap in body mode", bodyRequest(http.MethodPost, "/items", "application/json", `{"a":"123456789"}`, false), true},
		{"other types are not read", bodyRequest(http.MethodPut, "/items", "application/octet-stream", strings.Repeat("a", 100), false), false},
	} {
		before := app.calls
		rec := serve(h, tc.req)
		if tc.want413 {
			if rec.Code != http.StatusRequestEntityTooLarge || app.calls != before ||
				rec.Body.String() != `{"success":false,"message":"Request body too large"}` {
				t.Errorf("%s: %d %q, app calls +%d; want 413 and nothing forwarded", tc.desc, rec.Code, rec.Body.String(), app.calls-before)
			}
			continue
		}
		if rec.Code != http.StatusOK || app.calls != before+1 {
			t.Errorf("%s: %d, want it forwarded", tc.desc, rec.Code)
		}
	}
	// Too many form fields to look through: 413 too.
	h, app = overrideMiddleware(t, "body", nil)
	before := app.calls
	rec := serve(h, bodyRequest(http.MethodPut, "/items", "application/x-www-form-urlencoded", strings.Repeat("a=1&", maxOverrideFormFields+1), false))
	if rec.Code != http.StatusRequestEntityTooLarge || app.calls != before {
		t.Errorf("a form with too many fields: %d", rec.Code)
	}
}

func TestMethodOverride413KeepsTheRefreshedCookies(t *testing.T) {
	h, app := overrideMiddleware(t, "body", func(c *Config) { c.MethodOverride.MaxBodyBytes = 4 })
	req := bodyRequest(http.MethodPut, "/items", "application/json", `{"a":1}`, false)
	req.Header.Del("Cookie")
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "expired-41"})
	rec := serve(h, req)
	if rec.Code != http.StatusRequestEntityTooLarge || app.calls != 0 {
		t.Fatalf("%d, app calls %d", rec.Code, app.calls)
	}
	if got := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "userToken=user-41;") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("the refreshed token was lost on the 413: Set-Cookie %q", got)
	}
}

func TestMethodOverrideAfterCSRF(t *testing.T) {
	h, app := overrideMiddleware(t, "header", func(c *Config) {
		c.CSRF = CSRFConfig{Enabled: true, Secret: strings.Repeat("k", 32), CookieName: "__csrf", HeaderName: "X-CSRF-Token"}
	})
	// A cross-site DELETE is refused as a DELETE: it never becomes a POST
	// the app would accept.
	req := bodyRequest(http.MethodDelete, "/items/1", "", "", false)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := serve(h, req); rec.Code != http.StatusForbidden || app.calls != 0 {
		t.Errorf("cross-site DELETE: %d, app calls %d", rec.Code, app.calls)
	}
	// A cross-site GET asking for DELETE is refused (csrf.go) ...
	req = bodyRequest(http.MethodGet, "/items/1", "", "", false)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("X-HTTP-Method-Override", "DELETE")
	if rec := serve(h, req); rec.Code != http.StatusForbidden || app.calls != 0 {
		t.Errorf("cross-site GET with an override: %d, app calls %d", rec.Code, app.calls)
	}
	// ... and a same-origin one reaches the app as the plain GET it is.
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := serve(h, req); rec.Code != http.StatusOK || app.method != http.MethodGet || app.header.Get("X-Http-Method-Override") != "" {
		t.Errorf("same-origin GET with an override: %d, app got %s override %q", rec.Code, app.method, app.header.Get("X-Http-Method-Override"))
	}
	// A same-origin DELETE passes CSRF and is rewritten afterwards.
	req = bodyRequest(http.MethodDelete, "/items/1", "", "", false)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := serve(h, req); rec.Code != http.StatusOK || app.method != http.MethodPost || app.header.Get("X-Http-Method-Override") != http.MethodDelete {
		t.Errorf("same-origin DELETE: %d, app got %s override %q", rec.Code, app.method, app.header.Get("X-Http-Method-Override"))
	}
}

func TestMethodOverrideOnTheRememberedPath(t *testing.T) {
	h, app := overrideMiddleware(t, "header", nil)
	for i := 0; i < 3; i++ { // the second and third are answered from the session memo
		req := bodyRequest(http.MethodPut, "/items/1", "text/plain", "x", false)
		req.Header.Set("X-Method-Override", "GET")
		serve(h, req)
		if app.method != http.MethodPost || app.header.Get("X-Http-Method-Override") != http.MethodPut || app.header.Get("X-Method-Override") != "" {
			t.Errorf("request %d: app got %s %v", i, app.method, app.header)
		}
	}
}

func TestDropOverrideFields(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a=1", "a=1"},
		{"_method=PUT", ""},
		{"a=1&_method=PUT&b=2", "a=1&b=2"},
		{"a=1;_method=PUT;b=2&c=3", "a=1;b=2&c=3"},
		{"%5Fmethod=PUT&%255Fmethod=PUT&+_method=PUT&.method=PUT&[method=PUT&_Method[0]=PUT&x=_method", "x=_method"},
		{"methods=1&_methodx=2&method=3", "methods=1&_methodx=2&method=3"},
	} {
		got, _, ok := dropOverrideFields(tc.in, 100)
		if !ok || got != tc.want {
			t.Errorf("dropOverrideFields(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if _, _, ok := dropOverrideFields(strings.Repeat("a&", 10), 5); ok {
		t.Error("the field limit was not applied")
	}
}

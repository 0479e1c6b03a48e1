package authlayer

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/internal/csrf"
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
					if csrf.OverrideHeaders[normalizeHeaderName(k)] {
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
		{"JSON with a byte-order mark", http.MethodPut, "application/json", "\xef\xbb\xbf{\"_method\":\"GET\",\"a\":1}", false,
			`{"_method":"PUT","a":1}`, "application/json", ""},
		{"form", http.MethodPut, "application/x-www-form-urlencoded", "a=1&b=two", false,
			"a=1&b=two&_method=PUT", "application/x-www-form-urlencoded", ""},
		{"form with the client's _method", http.MethodDelete, "application/x-www-form-urlencoded", "_method=GET&a=1;%5Fmethod=POST&_method[]=PUT", false,
			"a=1&_method=DELETE", "application/x-www-form-urlencoded", ""},
		{"empty form", http.MethodPatch, "application/x-www-form-urlencoded", "", false, "_method=PATCH", "application/x-www-form-urlencoded", ""},
		{"no body", http.MethodDelete, "", "", false, "_method=DELETE", "application/x-www-form-urlencoded", ""},
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
		{"JSON with a BOM keeps its bytes", "application/json", "\xef\xbb\xbf{\"a\":1}", "\xef\xbb\xbf{\"a\":1}"},
		{"JSON with a BOM loses _method", "application/json", "\xef\xbb\xbf{\"a\":1,\"_method\":\"DELETE\"}", `{"a":1}`},
		{"a JSON array keeps its bytes", "text/json", `[{"_method":"DELETE"}]`, `[{"_method":"DELETE"}]`},
		{"form with _method%00 loses it", "application/x-www-form-urlencoded; charset=UTF-8", "x=1&_method%00=DELETE", "x=1"},
		{"untyped body with _method loses it", "", "_method=DELETE&x=1", "x=1"},
		{"text keeps its bytes", "text/plain", "_method=DELETE", "_method=DELETE"},
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
	// A cross-site GET asking for DELETE is refused (internal/csrf) ...
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

// TestMethodOverrideBodyReading: what body mode does with each kind of
// body the app would receive as a POST: read and cleaned, kept as it is
// (a type no framework reads fields from), or refused with 415 or 400
// when authlayer cannot be sure what the app would read.
func TestMethodOverrideBodyReading(t *testing.T) {
	h, app := overrideMiddleware(t, "body", nil)
	for _, tc := range []struct {
		desc, ctype, encoding, body string
		want                        int // 0: forwarded
	}{
		{"text/json", "text/json", "", `{"_method":"DELETE"}`, 0},
		{"vendor +json", "application/vnd.api+json", "", `{"_method":"DELETE"}`, 0},
		{"json5 that is JSON", "application/json5", "", `{"_method":"DELETE"}`, 0},
		{"json5 that is not JSON", "application/json5", "", `{_method: 'DELETE'}`, bodyInvalid},
		{"invalid JSON", "application/json", "", `{"_method":"DELETE",}`, bodyInvalid},
		{"two JSON values", "application/json", "", `{"a":1} {"_method":"DELETE"}`, bodyInvalid},
		{"UTF-16 JSON", "application/json; charset=utf-16", "", "{\x00}\x00", bodyUnsupported},
		{"UTF-16 JSON with a BOM", "application/json", "", "\xff\xfe{\x00}\x00", bodyInvalid},
		{"gzip JSON", "application/json", "gzip", "\x1f\x8b", bodyUnsupported},
		{"deflate form", "application/x-www-form-urlencoded", "deflate", "x", bodyUnsupported},
		{"br untyped", "", "br", "x", bodyUnsupported},
		{"identity encoding", "application/json", "identity", `{"a":1}`, 0},
		{"gzip image", "image/png", "gzip", "\x1f\x8b", 0},
		{"form in UTF-16", "application/x-www-form-urlencoded; charset=utf-16", "", "a=1", bodyUnsupported},
		{"form in UTF-7", "application/x-www-form-urlencoded;charset=UTF-7", "", "+AF8-method=DELETE", bodyUnsupported},
		{"form in Latin-1", "application/x-www-form-urlencoded; charset=ISO-8859-1", "", "a=1", 0},
		{"form, odd case and spacing", " Application/X-WWW-Form-URLEncoded ;  Charset=\"utf-8\" ", "", "a=1&_method=DELETE", 0},
		{"form with a comma list", "application/x-www-form-urlencoded, text/plain", "", "_method=DELETE", bodyUnsupported},
		{"form named in a parameter", "text/plain; x=application/x-www-form-urlencoded", "", "_method=DELETE", bodyUnsupported},
		{"JSON named in a parameter (Laravel)", "text/plain; v=/json", "", `{"_method":"DELETE"}`, bodyUnsupported},
		{"multipart/mixed (Rack)", "multipart/mixed; boundary=x", "", "--x--", bodyUnsupported},
		{"multipart without a boundary", "multipart/form-data", "", "--x--", bodyInvalid},
		{"an unknown form type", "application/x-www-form-urlencoded2", "", "_method=DELETE", bodyUnsupported},
		{"a type that does not parse", "application/x-www-form-urlencoded; =", "", "_method=DELETE", bodyUnsupported},
		{"an office document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "", "PK", 0},
		{"octet stream", "application/octet-stream", "", "_method=DELETE", 0},
	} {
		before := app.calls
		req := bodyRequest(http.MethodPost, "/items", tc.ctype, tc.body, false)
		if tc.ctype != "" {
			req.Header["Content-Type"] = []string{tc.ctype}
		}
		if tc.encoding != "" {
			req.Header.Set("Content-Encoding", tc.encoding)
		}
		rec := serve(h, req)
		if tc.want != 0 {
			if rec.Code != tc.want || app.calls != before || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("%s: %d (app calls +%d), want %d and nothing forwarded", tc.desc, rec.Code, app.calls-before, tc.want)
			}
			continue
		}
		if rec.Code != http.StatusOK || app.calls != before+1 {
			t.Errorf("%s: %d, want it forwarded", tc.desc, rec.Code)
			continue
		}
		if readable := !strings.HasPrefix(tc.ctype, "image/") && !strings.Contains(tc.ctype, "octet") && !strings.Contains(tc.ctype, "officedocument"); readable &&
			strings.Contains(strings.ToLower(app.body), "method") {
			t.Errorf("%s: the app received %q", tc.desc, app.body)
		}
	}
	// Two Content-Type headers, or one spelled as an alias: 400.
	for _, set := range []func(http.Header){
		func(h http.Header) { h["Content-Type"] = []string{"text/plain", "application/x-www-form-urlencoded"} },
		func(h http.Header) { h["Content_type"] = []string{"application/x-www-form-urlencoded"} },
		func(h http.Header) { h["Content.Encoding"] = []string{"gzip"} },
	} {
		req := bodyRequest(http.MethodPost, "/items", "text/plain", "_method=DELETE", false)
		set(req.Header)
		if rec := serve(h, req); rec.Code != http.StatusBadRequest {
			t.Errorf("ambiguous body headers %v: %d, want 400", req.Header, rec.Code)
		}
	}
	// A browser gets the page, not JSON.
	req := bodyRequest(http.MethodPost, "/items", "application/json", "{", false)
	req.Header.Set("Accept", "text/html")
	if rec := serve(h, req); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "<!doctype html>") {
		t.Errorf("browser: %d %q", rec.Code, rec.Body.String())
	}
	req = bodyRequest(http.MethodPost, "/items", "application/json", "{}", false)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "text/html")
	if rec := serve(h, req); rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "Error 415") {
		t.Errorf("browser, 415: %d %q", rec.Code, rec.Body.String())
	}
}

// multipartBody builds a multipart/form-data body from raw parts (each a
// header block and a value), with CRLF line ends.
func multipartBody(boundary string, parts ...[2]string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p[0] + "\r\n\r\n" + p[1] + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

// readParts parses what the app received: name, filename, value of each
// part, in order.
func readParts(t *testing.T, ctype, body string) [][3]string {
	t.Helper()
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("the app's Content-Type %q: %v", ctype, err)
	}
	r := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var out [][3]string
	for i := 0; i < 100; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the app's body does not parse: %v\n%s", err, body)
		}
		v, _ := io.ReadAll(p)
		out = append(out, [3]string{p.FormName(), p.FileName(), string(v)})
	}
	t.Fatal("too many parts")
	return nil
}

func TestMethodOverrideMultipartBodies(t *testing.T) {
	h, app := overrideMiddleware(t, "body", nil)
	const ct = "multipart/form-data; boundary=XyZ"
	cd := func(params string) string { return "Content-Disposition: form-data; " + params }
	for _, tc := range []struct {
		desc, method, body string
		want               [][3]string
	}{
		{"a POST loses every _method part", http.MethodPost, multipartBody("XyZ",
			[2]string{cd(`name="_method"`), "DELETE"},
			[2]string{cd(`name="title"`), "hello"},
			[2]string{cd(`name="_METHOD[]"`), "DELETE"},
			[2]string{cd(`name*=utf-8''%5Fmethod`), "DELETE"},
			[2]string{cd(`name="file"; filename="a;b.txt"`) + "\r\nContent-Type: text/plain", "data _method=DELETE"},
			[2]string{cd(`name=".method"`), "DELETE"},
		), [][3]string{{"title", "", "hello"}, {"file", "a;b.txt", "data _method=DELETE"}}},
		{"a PUT gets authlayer's _method first", http.MethodPut, multipartBody("XyZ",
			[2]string{cd(`name="_method"`), "GET"},
			[2]string{cd(`name="title"`), "hi"},
		), [][3]string{{"_method", "", "PUT"}, {"title", "", "hi"}}},
		{"LF line ends and a preamble", http.MethodPost,
			"preamble\n--XyZ\n" + cd(`name="a"`) + "\n\n1\n--XyZ\n" + cd(`name="_method"`) + "\n\nDELETE\n--XyZ--\n",
			[][3]string{{"a", "", "1"}}},
		{"an empty multipart body", http.MethodPatch, "--XyZ--\r\n", [][3]string{{"_method", "", "PATCH"}}},
	} {
		before := app.calls
		rec := serve(h, bodyRequest(tc.method, "/items", ct, tc.body, false))
		if rec.Code != http.StatusOK || app.calls != before+1 || app.method != http.MethodPost {
			t.Errorf("%s: %d, app got %s", tc.desc, rec.Code, app.method)
			continue
		}
		got := readParts(t, app.header.Get("Content-Type"), app.body)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: the app's parts %q, want %q", tc.desc, got, tc.want)
		}
		if app.length != int64(len(app.body)) || app.header.Get("Content-Length") != strconv.Itoa(len(app.body)) {
			t.Errorf("%s: Content-Length %d %q for %d bytes", tc.desc, app.length, app.header.Get("Content-Length"), len(app.body))
		}
		if app.header.Get("X-Http-Method-Override") != "" {
			t.Errorf("%s: the header was set too", tc.desc)
		}
		// The rebuilt body holds no header but the ones kept.
		if strings.Contains(app.body, "name*") || strings.Contains(app.body, "preamble") {
			t.Errorf("%s: the rebuilt body: %q", tc.desc, app.body)
		}
	}
	for _, tc := range []struct{ desc, body string }{
		{"a name with a quote", multipartBody("XyZ", [2]string{cd(`name="a\"b"`), "x"})},
		{"a filename hiding a second name (Rack)", multipartBody("XyZ", [2]string{cd(`name="f"; filename="x;name=_method"`), "DELETE"})},
		{"two names", multipartBody("XyZ", [2]string{cd(`name="a"; name="_method"`), "DELETE"})},
		{"two dispositions", multipartBody("XyZ", [2]string{cd(`name="a"`) + "\r\n" + cd(`name="_method"`), "DELETE"})},
		{"no name", multipartBody("XyZ", [2]string{cd(`filename="a"`), "x"})},
		{"not form-data", multipartBody("XyZ", [2]string{`Content-Disposition: attachment; name="_method"`, "DELETE"})},
		{"no closing boundary", "--XyZ\r\n" + cd(`name="a"`) + "\r\n\r\nx"},
		{"no boundary at all", "_method=DELETE"},
	} {
		before := app.calls
		if rec := serve(h, bodyRequest(http.MethodPost, "/items", ct, tc.body, false)); rec.Code != http.StatusBadRequest || app.calls != before {
			t.Errorf("%s: %d (app calls +%d), want 400", tc.desc, rec.Code, app.calls-before)
		}
	}
}

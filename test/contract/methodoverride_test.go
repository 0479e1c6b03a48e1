package contract

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authlayer/authlayer/test/testkit"
)

// methodOverride: PUT/PATCH/DELETE reach the app as POST with
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
	a.got[r.Header.Get(testkit.HeaderTestID)] = &received{
		method: r.Method, uri: r.RequestURI, query: r.URL.RawQuery, body: string(b),
		length: r.ContentLength, header: r.Header.Clone(),
	}
	a.mu.Unlock()
	_, _ = io.WriteString(w, testkit.UpstreamBody)
}

// send sends rq with body (Content-Type ctype) through h and returns the
// answer and what the app received (nil when nothing reached it).
func (a *methodApp) send(t *testing.T, e *env, h http.Handler, rq testkit.Request, ctype, body string) (*testkit.Result, *received) {
	t.Helper()
	req, id := e.newRequest(rq)
	req.RequestURI = rq.Target
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
		t.Fatalf("%s %s: %v", req.Method, rq.Target, err)
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

func withOverrides(rq testkit.Request, value string) testkit.Request {
	for _, k := range overrideKeys {
		rq = rq.WithRawKey(k, value)
	}
	return rq
}

// wantNoClientOverride checks that no override header but authlayer's
// (want, "" for none) reached the app.
func wantNoClientOverride(t *testing.T, got *received, want string) {
	t.Helper()
	for k, vs := range got.header {
		n := testkit.NormHeader(k)
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
		h := e.handlerIn(t, e.opts(m{"methodOverride": m{"mode": "header"}, "routes": m{"excluded": testkit.List("/static")}}), app, "header")
		tok, data := freshUser(e, "override-header", "u-override")
		for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
			r, got := app.send(t, e, h, withOverrides(testkit.API("/api/items/1?a=1&_method=GET").With(method).Cookie(testkit.UserCookie, tok), "GET"),
				"application/json", `{"a":1}`)
			if r.Code != http.StatusOK || got == nil || got.method != http.MethodPost || got.body != `{"a":1}` {
				t.Fatalf("%s: %d, app got %+v", method, r.Code, got)
			}
			wantNoClientOverride(t, got, method)
			if got.query != "a=1" || got.uri != "/api/items/1?a=1" {
				t.Errorf("%s: the client's _method reached the app: %q %q", method, got.query, got.uri)
			}
			r.Upstream = got.header
			r.Body = testkit.UpstreamBody
			testkit.WantIdentity(t, r, tok, data, "u-override", "user", "")
		}
		// GET, POST and excluded paths: never an override the client chose.
		for _, rq := range []testkit.Request{
			testkit.Page("/items?_method=DELETE&b=2"),
			testkit.API("/items?%5Fmethod=DELETE&b=2").With(http.MethodPost),
			testkit.Page("/static/app.js?_METHOD[]=DELETE&b=2"),
		} {
			r, got := app.send(t, e, h, withOverrides(rq, "DELETE"), "", "")
			method := rq.Method
			if method == "" {
				method = http.MethodGet
			}
			if r.Code != http.StatusOK || got == nil || got.method != method || got.query != "b=2" {
				t.Fatalf("%s %s: %d, app got %+v", method, rq.Target, r.Code, got)
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
			r, got := app.send(t, e, h, withOverrides(testkit.API("/api/items").With(tc.method).Cookie(testkit.UserCookie, tok), "GET"), tc.ctype, tc.body)
			if r.Code != http.StatusOK || got == nil || got.method != http.MethodPost {
				t.Fatalf("%s: %d, app got %+v", tc.desc, r.Code, got)
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
		r, got := app.send(t, e, h, testkit.API("/api/items").With(http.MethodPut).Cookie(testkit.UserCookie, tok), "application/json", `{"a":"`+strings.Repeat("x", 64)+`"}`)
		if got != nil || r.Code != http.StatusRequestEntityTooLarge || r.Body != `{"success":false,"message":"Request body too large"}` {
			t.Errorf("over maxBodyBytes: %d %q, forwarded: %v", r.Code, r.Body, got != nil)
		}
		testkit.WantNoStore(t, r)
		testkit.WantBackendUntouched(t, e.be, before)

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
			rq         testkit.Request
			wantStatus int
			wantMethod string
		}{
			{"cross-site DELETE", testkit.API("/api/items/1").With(http.MethodDelete).WithHeader("Sec-Fetch-Site", "cross-site"), http.StatusForbidden, ""},
			{"cross-site GET asking for DELETE", withOverrides(testkit.API("/api/items/1").WithHeader("Sec-Fetch-Site", "cross-site"), "DELETE"), http.StatusForbidden, ""},
			{"cross-site GET with ?_method=DELETE", testkit.API("/api/items/1?_method=DELETE").WithHeader("Sec-Fetch-Site", "cross-site"), http.StatusForbidden, ""},
			{"same-origin GET asking for DELETE", withOverrides(testkit.API("/api/items/1").WithHeader("Sec-Fetch-Site", "same-origin"), "DELETE"), http.StatusOK, http.MethodGet},
			{"same-origin DELETE", testkit.API("/api/items/1").With(http.MethodDelete).WithHeader("Sec-Fetch-Site", "same-origin"), http.StatusOK, http.MethodPost},
		} {
			r, got := app.send(t, e, h, tc.rq.Cookie(testkit.UserCookie, tok), "", "")
			if r.Code != tc.wantStatus {
				t.Errorf("%s: %d, want %d", tc.desc, r.Code, tc.wantStatus)
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

// smuggled is the method value the client's own override asks for in
// TestMethodOverrideBodyNeverPassesTheClientsField: it must never reach
// the app in any form.
const smuggled = "SMUGGLED"

// carriesSmuggled reports whether a body the app received still holds the
// client's override value, read as leniently as a framework might:
// inflated (gzip, deflate), NUL bytes dropped (UTF-16), percent-escapes
// decoded, any case.
func carriesSmuggled(body string, header http.Header) bool {
	switch strings.ToLower(header.Get("Content-Encoding")) {
	case "gzip":
		if r, err := gzip.NewReader(strings.NewReader(body)); err == nil {
			b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
			body = string(b)
		}
	case "deflate":
		b, _ := io.ReadAll(io.LimitReader(flate.NewReader(strings.NewReader(body)), 1<<20))
		body = string(b)
	}
	body = strings.ReplaceAll(body, "\x00", "")
	if u, err := url.QueryUnescape(body); err == nil {
		body = u
	}
	return strings.Contains(strings.ToUpper(body), smuggled) || strings.Contains(body, "+AFM-") // UTF-7
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.String()
}

func deflated(s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.String()
}

// utf16 is s in UTF-16LE (ASCII only).
func utf16(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}

func multipartOf(boundary, nl string, parts ...[2]string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + nl + p[0] + nl + nl + p[1] + nl)
	}
	b.WriteString("--" + boundary + "--" + nl)
	return b.String()
}

// TestMethodOverrideBodyNeverPassesTheClientsField: in body mode, a body
// the app receives as a POST never carries a _method field of the
// client's, whatever type, encoding or spelling a framework (Rails/Rack,
// Laravel/Symfony, Express body-parser, Django) would still read it from:
// the field is removed, or the request is refused (415, 400) without
// reaching the app. Bodies of ordinary types still pass.
func TestMethodOverrideBodyNeverPassesTheClientsField(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		app := newMethodApp()
		h := e.handlerIn(t, e.opts(m{"methodOverride": m{"mode": "body"}}), app, "body")
		tok, _ := freshUser(e, "override-smuggle", "u-smuggle")
		jsonField := `{"_method":"` + smuggled + `","a":1}`
		formField := "_method=" + smuggled + "&a=1"
		cd := func(name string) string { return "Content-Disposition: form-data; " + name }
		attacks := []struct {
			desc, ctype, encoding, body string
		}{
			{"JSON with a byte-order mark", "application/json", "", "\xef\xbb\xbf" + jsonField},
			{"text/json", "text/json", "", jsonField},
			{"application/*+json", "application/vnd.api+json", "", jsonField},
			{"application/json5, JSON syntax", "application/json5", "", jsonField},
			{"application/json5, JSON5 syntax", "application/json5", "", `{_method: '` + smuggled + `', a: 1,}`},
			{"JSON, odd case and spacing", "  Application/JSON ; Charset=UTF-8", "", jsonField},
			{"JSON, escaped key", "application/json", "", `{"\u005f\u006dethod":"` + smuggled + `"}`},
			{"JSON, upper-case key", "application/json", "", `{"_METHOD":"` + smuggled + `"}`},
			{"JSON in UTF-16 (body-parser)", "application/json; charset=utf-16le", "", utf16(jsonField)},
			{"JSON, gzip (body-parser inflates)", "application/json", "gzip", gzipped(jsonField)},
			{"JSON, deflate", "application/json", "deflate", deflated(jsonField)},
			{"JSON, two encodings", "application/json", "identity, gzip", gzipped(jsonField)},
			{"JSON named in a parameter (Laravel)", "text/plain; profile=/json", "", jsonField},
			{"JSON named with +json in a parameter (Laravel)", "application/octet-stream; x=a+json", "", jsonField},
			{"form with a charset", "application/x-www-form-urlencoded; charset=UTF-8", "", formField},
			{"form, odd spacing and case", " APPLICATION/X-WWW-FORM-URLENCODED ;charset=utf-8 ", "", formField},
			{"form followed by a comma (Rack, PHP)", "application/x-www-form-urlencoded, text/plain", "", formField},
			{"form, empty parameter", "application/x-www-form-urlencoded;;", "", formField},
			{"form in UTF-16 (Django)", "application/x-www-form-urlencoded; charset=utf-16", "", utf16(formField)},
			{"form in UTF-7 (Django)", "application/x-www-form-urlencoded; charset=utf-7", "", "+AF8-method=+AFM-MUGGLED"},
			{"form, gzip", "application/x-www-form-urlencoded", "gzip", gzipped(formField)},
			{"form, _method%00 (PHP)", "application/x-www-form-urlencoded", "", "_method%00=" + smuggled},
			{"form, _method%00 and more (PHP)", "application/x-www-form-urlencoded", "", "a=1&_method%00x=" + smuggled},
			{"form, %5Fmethod%2500 (decoded twice)", "application/x-www-form-urlencoded", "", "%5Fmethod%2500=" + smuggled},
			{"form, leading spaces (PHP)", "application/x-www-form-urlencoded", "", "++_method=" + smuggled},
			{"form, array", "application/x-www-form-urlencoded", "", "_method[]=" + smuggled},
			{"form, .method (PHP)", "application/x-www-form-urlencoded", "", ".method=" + smuggled},
			{"form, byte-order mark (body-parser)", "application/x-www-form-urlencoded", "", "\xef\xbb\xbf_method=" + smuggled},
			{"form, semicolons", "application/x-www-form-urlencoded", "", "a=1;_method=" + smuggled},
			{"no Content-Type (Rack reads a form)", "", "", formField},
			{"an empty Content-Type (Rack reads a form)", " ", "", formField},
			{"no Content-Type, gzip", "", "gzip", gzipped(formField)},
			{"multipart", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name="_method"`), smuggled}, [2]string{cd(`name="a"`), "1"})},
			{"multipart, odd type spelling", "Multipart/Form-Data ; boundary=\"b0\"", "", multipartOf("b0", "\r\n", [2]string{cd(`name="_method"`), smuggled})},
			{"multipart, LF line ends", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\n", [2]string{cd(`name="_method"`), smuggled})},
			{"multipart, RFC 2231 name", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name*=utf-8''%5Fmethod`), smuggled})},
			{"multipart, upper-case array name", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name="_METHOD[]"`), smuggled})},
			{"multipart, a second name in a filename (Rack)", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name="f"; filename="x;name=_method"`), smuggled})},
			{"multipart, a name in another header (Rack's Content-ID)", "multipart/form-data; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`filename="x"`) + "\r\nContent-ID: _method", smuggled})},
			{"multipart, gzip", "multipart/form-data; boundary=b0", "gzip", gzipped(multipartOf("b0", "\r\n", [2]string{cd(`name="_method"`), smuggled}))},
			{"multipart/mixed (Rack)", "multipart/mixed; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name="_method"`), smuggled})},
			{"multipart/related (Rack)", "multipart/related; boundary=b0", "", multipartOf("b0", "\r\n", [2]string{cd(`name="_method"`), smuggled})},
		}
		for _, method := range []string{http.MethodPost, http.MethodDelete} {
			for _, tc := range attacks {
				rq := testkit.API("/api/items").With(method).Cookie(testkit.UserCookie, tok)
				if tc.encoding != "" {
					rq = rq.WithHeader("Content-Encoding", tc.encoding)
				}
				r, got := app.send(t, e, h, rq, tc.ctype, tc.body)
				desc := method + " " + tc.desc
				if got == nil {
					if r.Code != http.StatusUnsupportedMediaType && r.Code != http.StatusBadRequest {
						t.Errorf("%s: %d %q, want it cleaned or refused with 415 or 400", desc, r.Code, r.Body)
					}
					if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(r.Body, `"success":false`) {
						t.Errorf("%s: the refusal is not the JSON error: %q %q", desc, r.Header.Get("Content-Type"), r.Body)
					}
					testkit.WantNoStore(t, r)
					continue
				}
				if r.Code != http.StatusOK || got.method != http.MethodPost {
					t.Errorf("%s: %d, the app got %s", desc, r.Code, got.method)
					continue
				}
				if carriesSmuggled(got.body, got.header) {
					t.Errorf("%s: the client's _method reached the app: %q (type %q, encoding %q)", desc, got.body, got.header.Get("Content-Type"), got.header.Get("Content-Encoding"))
				}
				if method == http.MethodDelete && !strings.Contains(got.body, "DELETE") && got.header.Get("X-Http-Method-Override") != "DELETE" {
					t.Errorf("%s: the app was not told DELETE: %q %v", desc, got.body, got.header)
				}
				if got.length != int64(len(got.body)) {
					t.Errorf("%s: Content-Length %d for %d bytes", desc, got.length, len(got.body))
				}
			}
		}

		// Ordinary bodies still pass, kept as they are or rewritten.
		upload := multipartOf("b1", "\r\n", [2]string{cd(`name="title"`), "holiday"},
			[2]string{cd(`name="photo"; filename="a b;c.png"`) + "\r\nContent-Type: image/png", "\x89PNG\r\n\x1a\n\x00\x01"})
		for _, tc := range []struct{ desc, ctype, encoding, body, want string }{
			{"JSON", "application/json", "", `{"a":1}`, `{"a":1}`},
			{"JSON with a UTF-8 charset", "application/json; charset=utf-8", "", `{"a":1}`, `{"a":1}`},
			{"a form", "application/x-www-form-urlencoded", "", "a=1&payment_method=card", "a=1&payment_method=card"},
			{"a Latin-1 form", "application/x-www-form-urlencoded; charset=iso-8859-1", "", "a=%E9", "a=%E9"},
			{"text", "text/plain", "", "_method=x is just text here", "_method=x is just text here"},
			{"octet stream, gzip", "application/octet-stream", "gzip", gzipped("bytes"), gzipped("bytes")},
			{"an image", "image/png", "", "\x89PNG", "\x89PNG"},
			{"XML", "application/xml", "", "<_method>x</_method>", "<_method>x</_method>"},
			{"a multipart upload", "multipart/form-data; boundary=b1", "", upload, ""},
		} {
			rq := testkit.API("/api/items").With(http.MethodPost).Cookie(testkit.UserCookie, tok)
			if tc.encoding != "" {
				rq = rq.WithHeader("Content-Encoding", tc.encoding)
			}
			r, got := app.send(t, e, h, rq, tc.ctype, tc.body)
			if r.Code != http.StatusOK || got == nil {
				t.Errorf("%s: %d %q, want it forwarded", tc.desc, r.Code, r.Body)
				continue
			}
			if tc.want != "" && got.body != tc.want {
				t.Errorf("%s: the app got %q, want %q", tc.desc, got.body, tc.want)
			}
			if tc.want == "" {
				_, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
				if err != nil {
					t.Fatalf("%s: the app's Content-Type: %v", tc.desc, err)
				}
				form, err := multipart.NewReader(strings.NewReader(got.body), params["boundary"]).ReadForm(1 << 20)
				if err != nil {
					t.Fatalf("%s: the app's body: %v", tc.desc, err)
				}
				photo := form.File["photo"]
				if len(form.Value["title"]) != 1 || form.Value["title"][0] != "holiday" || len(photo) != 1 ||
					photo[0].Filename != "a b;c.png" || photo[0].Header.Get("Content-Type") != "image/png" || photo[0].Size != 10 {
					t.Errorf("%s: the app's form: %v %q %q %d\n%q", tc.desc, form.Value, photo[0].Filename, photo[0].Header, photo[0].Size, got.body)
				}
			}
		}
	})
}

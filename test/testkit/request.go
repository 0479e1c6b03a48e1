package testkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
)

// Request describes one client request. Its builders return a copy, so a
// base request can be extended in several ways.
type Request struct {
	Site    string // the e2e site: the request's Host is <Site>.test (ClientRequest)
	Method  string // "" means GET
	Target  string // path and query
	Accept  string // "" sends no Accept header
	Cookies [][2]string
	Header  http.Header       // added with Header.Add (canonicalised, as Go's server does)
	RawKeys map[string]string // sent under exactly these keys
	Body    string            // sent when not "" (see WithBody)
	Ctx     context.Context   // the in-process request's context when not nil (ServerRequest)
}

// AcceptHTML is the Accept header of a browser navigation.
const AcceptHTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// Page is a browser navigation.
func Page(target string) Request { return Request{Target: target, Accept: AcceptHTML} }

// API is a fetch from a script.
func API(target string) Request { return Request{Target: target, Accept: "application/json"} }

// OnSite returns r sent to the e2e site named site.
func (r Request) OnSite(site string) Request { r.Site = site; return r }

// With returns r with this method.
func (r Request) With(method string) Request { r.Method = method; return r }

// WithBody sends body with this Content-Type.
func (r Request) WithBody(contentType, body string) Request {
	r.Body = body
	return r.WithHeader("Content-Type", contentType)
}

// Cookie returns r with the cookie name=value, sent after those r has.
func (r Request) Cookie(name, value string) Request {
	r.Cookies = append(append([][2]string(nil), r.Cookies...), [2]string{name, value})
	return r
}

// WithHeader returns r with one more header value (added with Header.Add,
// canonicalised as Go's server does).
func (r Request) WithHeader(name, value string) Request {
	h := http.Header{}
	for k, vs := range r.Header {
		h[k] = append([]string(nil), vs...)
	}
	h.Add(name, value)
	r.Header = h
	return r
}

// WithRawKey returns r with one more header set under exactly this map
// key (no canonicalisation).
func (r Request) WithRawKey(key, value string) Request {
	raw := map[string]string{}
	for k, v := range r.RawKeys {
		raw[k] = v
	}
	raw[key] = value
	r.RawKeys = raw
	return r
}

// methodOrGet is r's method, GET when unset.
func (r Request) methodOrGet() string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

// bodyReader is a reader of r's body, nil when it has none.
func (r Request) bodyReader() io.Reader {
	if r.Body == "" {
		return nil
	}
	return strings.NewReader(r.Body)
}

// ServerRequest is r as a handler receives it in process
// (httptest.NewRequest: RemoteAddr 192.0.2.1:1234, Host example.com), with
// r.Ctx as its context when set.
func (r Request) ServerRequest() *http.Request {
	ctx := r.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	req := httptest.NewRequestWithContext(ctx, r.methodOrGet(), r.Target, r.bodyReader())
	r.addHeaders(req)
	return req
}

// ClientRequest is r as a client sends it to baseURL, with Host
// <Site>.test.
func (r Request) ClientRequest(ctx context.Context, baseURL string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.methodOrGet(), baseURL+r.Target, r.bodyReader())
	if err != nil {
		return nil, err
	}
	req.Host = r.Site + ".test"
	r.addHeaders(req)
	return req, nil
}

// addHeaders adds Accept, the headers, the raw keys and the cookies.
func (r Request) addHeaders(req *http.Request) {
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range r.RawKeys {
		req.Header[k] = append(req.Header[k], v)
	}
	for _, c := range r.Cookies {
		req.AddCookie(&http.Cookie{Name: c[0], Value: c[1]}) //nolint:gosec // G124: a request cookie; only its name and value are sent
	}
}

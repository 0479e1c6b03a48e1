package testkit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of reporting
// them; Fatalf ends the goroutine as testing.T's does.
type recorder struct {
	testing.TB // the methods the assertions do not call stay unimplemented
	msgs       []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...interface{}) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...interface{}) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// failures runs check against a recorder in a goroutine of its own and
// returns what it reported.
func failures(check func(t testing.TB)) []string {
	rec := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(rec)
	}()
	<-done
	return rec.msgs
}

// identityHeader returns upstream headers as authlayer sets them for a
// user: alice's data, id u-1, type user, Bearer tok.
func identityHeader() http.Header {
	h := http.Header{}
	h.Set(HeaderUser, "eyJpZCI6InUtMSJ9") // {"id":"u-1"}
	h.Set(HeaderUserID, "u-1")
	h.Set(HeaderTokenType, "user")
	h.Set(HeaderAuthz, "Bearer tok")
	return h
}

func forwarded(h http.Header) *Result {
	return &Result{Code: http.StatusOK, Body: UpstreamBody, Header: http.Header{}, Upstream: h}
}

func withSetCookie(lines ...string) *Result {
	h := http.Header{}
	for _, l := range lines {
		h.Add("Set-Cookie", l)
	}
	return &Result{Code: http.StatusOK, Header: h, Cookies: (&http.Response{Header: h}).Cookies()}
}

func jsonAnswer(status int, body string, header ...string) *Result {
	h := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &Result{Code: status, Header: h, Body: body}
}

// TestAssertionsPassAndFail: every assertion accepts the answer it
// describes and fails on each way an answer can miss it.
func TestAssertionsPassAndFail(t *testing.T) {
	user := map[string]interface{}{"id": "u-1"}
	identity := func(r *Result) func(t testing.TB) {
		return func(t testing.TB) { WantIdentity(t, r, "tok", user, "u-1", "user", "") }
	}
	alias := identityHeader()
	alias["X_auth_user_id"] = []string{"u-1"}
	twice := identityHeader()
	twice.Add(HeaderUserID, "u-2")
	unpadded := identityHeader()
	unpadded.Set(HeaderUser, "eyJpZCI6InUtMSJ9"[:15])
	limited := `{"success":false,"message":"` + RateLimitedMessage + `","retryAfter":60}`
	for _, tc := range []struct {
		desc  string
		check func(t testing.TB)
		fails bool
	}{
		{"forwarded", func(t testing.TB) { WantForwarded(t, forwarded(http.Header{})) }, false},
		{"forwarded: upstream not called", func(t testing.TB) { WantForwarded(t, &Result{Code: 200, Body: UpstreamBody}) }, true},
		{"forwarded: another body", func(t testing.TB) { WantForwarded(t, &Result{Code: 200, Body: "x", Upstream: http.Header{}}) }, true},
		{"not forwarded", func(t testing.TB) { WantNotForwarded(t, &Result{Code: 401}) }, false},
		{"not forwarded: upstream called", func(t testing.TB) { WantNotForwarded(t, forwarded(http.Header{})) }, true},
		{"anonymous", func(t testing.TB) { WantAnonymous(t, forwarded(http.Header{"Accept": {"x"}})) }, false},
		{"anonymous: an alias spelling", func(t testing.TB) {
			WantAnonymous(t, forwarded(http.Header{"X.auth.user": {"x"}}))
		}, true},
		{"identity", identity(forwarded(identityHeader())), false},
		{"identity: an alias spelling too", identity(forwarded(alias)), true},
		{"identity: a header twice", identity(forwarded(twice)), true},
		{"identity: unpadded base64", identity(forwarded(unpadded)), true},
		{"identity: an unexpected refreshed token", func(t testing.TB) {
			h := identityHeader()
			h.Set(HeaderRefreshed, "new")
			WantIdentity(t, forwarded(h), "tok", user, "u-1", "user", "")
		}, true},
		{"identity: no type header wanted", func(t testing.TB) {
			WantIdentity(t, forwarded(identityHeader()), "tok", user, "u-1", "", "")
		}, true},
		{"cookie set", func(t testing.TB) { WantCookieSet(t, withSetCookie("a=1; Max-Age=60"), "a", "1") }, false},
		{"cookie set: twice", func(t testing.TB) { WantCookieSet(t, withSetCookie("a=1", "a=1"), "a", "1") }, true},
		{"cookie set: but expired", func(t testing.TB) { WantCookieSet(t, withSetCookie("a=1; Max-Age=0"), "a", "1") }, true},
		{"cookie cleared", func(t testing.TB) { WantCookieCleared(t, withSetCookie("a=; Max-Age=0"), "a") }, false},
		{"cookie cleared: by Expires", func(t testing.TB) {
			WantCookieCleared(t, withSetCookie("a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"), "a")
		}, false},
		{"cookie cleared: with a value", func(t testing.TB) { WantCookieCleared(t, withSetCookie("a=1; Max-Age=0"), "a") }, true},
		{"cookie cleared: only set", func(t testing.TB) { WantCookieCleared(t, withSetCookie("a=1"), "a") }, true},
		{"no cookie clearing", func(t testing.TB) { WantNoCookieClearing(t, withSetCookie("a=1")) }, false},
		{"no cookie clearing: one cleared", func(t testing.TB) { WantNoCookieClearing(t, withSetCookie("a=1", "b=; Max-Age=0")) }, true},
		{"no Set-Cookie", func(t testing.TB) { WantNoSetCookie(t, withSetCookie()) }, false},
		{"no Set-Cookie: one", func(t testing.TB) { WantNoSetCookie(t, withSetCookie("a=1")) }, true},
		{"cookie attributes", func(t testing.TB) {
			c := withSetCookie("a=1; Path=/; Max-Age=60; HttpOnly; SameSite=Lax").Cookies[0]
			WantCookieAttrs(t, c, "/", 60, false)
		}, false},
		{"cookie attributes: Secure", func(t testing.TB) {
			c := withSetCookie("a=1; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax").Cookies[0]
			WantCookieAttrs(t, c, "/", 60, false)
		}, true},
		{"no-store", func(t testing.TB) { WantNoStore(t, jsonAnswer(200, "{}")) }, false},
		{"no-store: missing", func(t testing.TB) { WantNoStore(t, &Result{Header: http.Header{}}) }, true},
		{"JSON error", func(t testing.TB) { WantJSONError(t, jsonAnswer(401, `{"success":false,"message":"no"}`), 401) }, false},
		{"JSON error: success true", func(t testing.TB) { WantJSONError(t, jsonAnswer(401, `{"success":true,"message":"no"}`), 401) }, true},
		{"JSON error: no message", func(t testing.TB) { WantJSONError(t, jsonAnswer(401, `{"success":false}`), 401) }, true},
		{"JSON error: another status", func(t testing.TB) { WantJSONError(t, jsonAnswer(403, `{"success":false,"message":"no"}`), 401) }, true},
		{"exact JSON", func(t testing.TB) { WantExactJSON(t, `{"b":1, "a":[true]}`, `{"a":[true],"b":1}`) }, false},
		{"exact JSON: one more field", func(t testing.TB) { WantExactJSON(t, `{"a":1,"b":2}`, `{"a":1}`) }, true},
		{"login redirect", func(t testing.TB) {
			r := jsonAnswer(302, "", "Location", "/login?redirect=%2Fa%3Fb%3D1")
			WantLoginRedirect(t, r, 302, "/a?b=1")
		}, false},
		{"login redirect: without the query", func(t testing.TB) {
			r := jsonAnswer(302, "", "Location", "/login?redirect=%2Fa")
			WantLoginRedirect(t, r, 302, "/a?b=1")
		}, true},
		{"CSRF rejected", func(t testing.TB) { WantCSRFRejected(t, jsonAnswer(403, CSRFFailBody)) }, false},
		{"rate limited", func(t testing.TB) { WantRateLimited(t, jsonAnswer(429, limited, "Retry-After", "60")) }, false},
		{"rate limited: the body spaced", func(t testing.TB) {
			WantRateLimited(t, jsonAnswer(429, strings.Replace(limited, ",", ", ", 1), "Retry-After", "60"))
		}, true},
		{"rate limited: retryAfter differs", func(t testing.TB) { WantRateLimited(t, jsonAnswer(429, limited, "Retry-After", "59")) }, true},
		{"rate limited as a browser", func(t testing.TB) {
			r := &Result{Code: 429, Header: http.Header{"Retry-After": {"5"}, "Content-Type": {"text/html"}, "Cache-Control": {"no-store"}}}
			WantRateLimitedAs(t, Page("/"), r)
		}, false},
		{"verified by", func(t testing.TB) { WantVerifiedBy(t, forwarded(http.Header{HeaderVerifiedBy: {"jwt"}}), "jwt") }, false},
		{"verified by: another", func(t testing.TB) { WantVerifiedBy(t, forwarded(http.Header{HeaderVerifiedBy: {"backend"}}), "jwt") }, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := failures(tc.check)
			if tc.fails && len(got) == 0 {
				t.Errorf("passed, want a failure")
			}
			if !tc.fails && len(got) > 0 {
				t.Errorf("failed: %q, want a pass", got)
			}
		})
	}
}

// TestRequestBuilders: builders copy (a base request is not changed by
// what is built on it) and each request carries its method, headers, raw
// keys and cookies, in process and over the wire.
func TestRequestBuilders(t *testing.T) {
	base := API("/a?b=1").Cookie("c", "1")
	rq := base.With(http.MethodPost).WithBody("application/json", `{}`).
		WithHeader("X-One", "1").WithRawKey("x_raw", "2").Cookie("c", "2").Cookie("d", "3").OnSite("s")
	if base.Method != "" || base.Header != nil || base.RawKeys != nil || len(base.Cookies) != 1 {
		t.Fatalf("base request changed: %+v", base)
	}
	check := func(t *testing.T, req *http.Request) {
		t.Helper()
		if req.Method != http.MethodPost || req.URL.RequestURI() != "/a?b=1" {
			t.Errorf("request line: got %s %s", req.Method, req.URL.RequestURI())
		}
		want := http.Header{
			"Accept": {"application/json"}, "Content-Type": {"application/json"}, "X-One": {"1"},
			"x_raw": {"2"}, "Cookie": {"c=1; c=2; d=3"},
		}
		if !reflect.DeepEqual(req.Header, want) {
			t.Errorf("headers: got %v, want %v", req.Header, want)
		}
	}
	t.Run("in process", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(context.Background(), key{}, "v")
		req := rq.ServerRequest()
		check(t, req)
		withCtx := rq
		withCtx.Ctx = ctx
		if withCtx.ServerRequest().Context().Value(key{}) != "v" {
			t.Errorf("Ctx not used")
		}
	})
	t.Run("over the wire", func(t *testing.T) {
		req, err := rq.ClientRequest(context.Background(), "http://127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		check(t, req)
		if req.Host != "s.test" {
			t.Errorf("Host: got %q, want s.test", req.Host)
		}
	})
}

// TestUpstreamRecordsByTestID: the upstream answers UpstreamBody and
// returns each request's headers by its X-Test-Id.
func TestUpstreamRecordsByTestID(t *testing.T) {
	up := NewUpstream()
	req := Page("/").WithHeader("X-One", "1").ServerRequest()
	id := up.Tag(req)
	rec := httptest.NewRecorder()
	up.ServeHTTP(rec, req)
	resp := rec.Result()
	r, err := ReadResult(resp)
	if err != nil {
		t.Fatal(err)
	}
	r.Upstream = up.Received(id)
	WantForwarded(t, r)
	if r.Upstream.Get("X-One") != "1" || up.Received(up.NewID()) != nil || up.Count() != 1 {
		t.Errorf("got %v, count %d", r.Upstream, up.Count())
	}
}

// TestMerge: nested maps merge without sharing, nil deletes.
func TestMerge(t *testing.T) {
	src := map[string]interface{}{"a": map[string]interface{}{"x": "1"}, "gone": nil, "l": List("p", "q")}
	dst := map[string]interface{}{"a": map[string]interface{}{"y": "2"}, "gone": "v"}
	Merge(dst, src)
	fresh := map[string]interface{}{}
	Merge(fresh, src)
	fresh["a"].(map[string]interface{})["z"] = "3"
	want := map[string]interface{}{"a": map[string]interface{}{"x": "1", "y": "2"}, "l": []interface{}{"p", "q"}}
	if !reflect.DeepEqual(dst, want) || len(src["a"].(map[string]interface{})) != 1 {
		t.Errorf("got %v (source %v), want %v", dst, src, want)
	}
}

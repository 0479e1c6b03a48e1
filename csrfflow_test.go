package authlayer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const testCSRFSecret = "0123456789abcdef0123456789abcdef-test"

func csrfMiddleware(t *testing.T, f *fakeBackend, reportOnly bool) (http.Handler, *upstream) {
	return newTestMiddleware(t, f, func(c *Config) {
		c.CSRF.Enabled, c.CSRF.Secret, c.CSRF.ReportOnly = true, testCSRFSecret, reportOnly
	})
}

func post(path string, cookies ...*http.Cookie) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("a=1"))
	req.Header.Set("Accept", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return req
}

// csrfCookieFrom returns the __csrf cookie a response set.
func csrfCookieFrom(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: rec.Header()}).Cookies() {
		if c.Name == "__csrf" {
			return c
		}
	}
	t.Fatalf("no __csrf cookie in %q", rec.Header()["Set-Cookie"])
	return nil
}

func TestCSRFCrossSiteRejectedBeforeAnyBackendCall(t *testing.T) {
	f := newFakeBackend(t)
	h, up := csrfMiddleware(t, f, false)
	req := post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c1"})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := serve(h, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"CSRF validation failed"`) {
		t.Errorf("cross-site POST: %d %s", rec.Code, rec.Body.String())
	}
	if up.calls != 0 || f.validates.Load() != 0 || f.mints.Load() != 0 {
		t.Errorf("upstream %d, validations %d, mints %d: want none", up.calls, f.validates.Load(), f.mints.Load())
	}
	req = post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c1"})
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if rec := serve(h, req); rec.Code != http.StatusOK {
		t.Errorf("same-origin POST: %d", rec.Code)
	}
}

func TestCSRFDoubleSubmitTokenBoundToSession(t *testing.T) {
	f := newFakeBackend(t)
	h, _ := csrfMiddleware(t, f, false)
	user := &http.Cookie{Name: "userToken", Value: "user-c2"}
	first := serve(h, page("/", user))
	token := csrfCookieFrom(t, first)
	again := serve(h, page("/", user, token))
	for _, c := range again.Header()["Set-Cookie"] {
		if strings.HasPrefix(c, "__csrf=") {
			t.Errorf("a valid token was rotated: %q", c)
		}
	}
	// No Fetch Metadata and no Origin (an old client): the token decides.
	withHeader := post("/api/orders", user, token)
	withHeader.Header.Set("X-CSRF-Token", token.Value)
	if rec := serve(h, withHeader); rec.Code != http.StatusOK {
		t.Errorf("POST with the session's token: %d %s", rec.Code, rec.Body.String())
	}
	if rec := serve(h, post("/api/orders", user, token)); rec.Code != http.StatusForbidden {
		t.Errorf("POST without the header: %d, want 403", rec.Code)
	}
	other := post("/api/orders", &http.Cookie{Name: "userToken", Value: "user-c3"}, token)
	other.Header.Set("X-CSRF-Token", token.Value)
	if rec := serve(h, other); rec.Code != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", rec.Code)
	}
}

func TestCSRFGuestsGetATokenAndReportOnlyForwards(t *testing.T) {
	f := newFakeBackend(t)
	h, up := csrfMiddleware(t, f, true)
	rec := serve(h, page("/"))
	csrfCookieFrom(t, rec)
	req := post("/api/orders")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := serve(h, req); rec.Code != http.StatusOK || up.calls != 2 {
		t.Errorf("report-only: %d, upstream calls %d; want it forwarded", rec.Code, up.calls)
	}
}

func TestCSRFCookieNameMustNotBeATokenCookie(t *testing.T) {
	c := validConfig()
	c.CSRF.Enabled, c.CSRF.Secret, c.CSRF.CookieName = true, testCSRFSecret, "userToken"
	if _, err := New(context.Background(), http.NotFoundHandler(), c, "t"); err == nil || !strings.Contains(err.Error(), "csrf.cookieName:") {
		t.Errorf("error = %v, want one naming csrf.cookieName", err)
	}
}

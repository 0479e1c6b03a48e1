package authlayer

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// navigation is a request to target with the given headers ("" values
// are left out).
func navigation(method, target, fetchMode, accept string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	if fetchMode != "" {
		req.Header.Set("Sec-Fetch-Mode", fetchMode)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.AddCookie(&http.Cookie{Name: "userToken", Value: "user-7"})
	return req
}

func TestBlockBrowserAPI(t *testing.T) {
	f := newFakeBackend(t)
	var buf bytes.Buffer
	h, up := newTestMiddleware(t, f, func(c *Config) {
		c.Routes.BlockBrowserAPI = true
		c.Routes.HomeURL = "/home"
	})
	log, err := newAuditLog(AuditConfig{Enabled: true, Salt: "s"}, t.Name(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	h.(*middleware).audit = log
	for _, tc := range []struct {
		desc                      string
		req                       *http.Request
		wantRedirect              bool
		wantStatus                int
		wantValidationsAfterwards bool
	}{
		{"address bar", navigation(http.MethodGet, "/api/orders", "navigate", "text/html,*/*"), true, http.StatusFound, false},
		{"HEAD navigation", navigation(http.MethodHead, "/api/orders", "navigate", ""), true, http.StatusFound, false},
		{"no Fetch Metadata, accepts HTML", navigation(http.MethodGet, "/api/orders?x=1", "", "text/html"), true, http.StatusFound, false},
		{"fetch() accepting HTML", navigation(http.MethodGet, "/api/orders", "cors", "text/html"), false, http.StatusOK, true},
		{"same-origin fetch", navigation(http.MethodGet, "/api/orders", "same-origin", "*/*"), false, http.StatusOK, true},
		{"no Fetch Metadata, JSON", navigation(http.MethodGet, "/api/orders", "", "application/json"), false, http.StatusOK, true},
		{"form post navigating", navigation(http.MethodPost, "/api/orders", "navigate", "text/html"), false, http.StatusOK, true},
		{"navigation to a page", navigation(http.MethodGet, "/dashboard", "navigate", "text/html"), false, http.StatusOK, true},
	} {
		before := f.validates.Load()
		calls := up.calls
		rec := serve(h, tc.req)
		if rec.Code != tc.wantStatus {
			t.Errorf("%s: %d, want %d", tc.desc, rec.Code, tc.wantStatus)
			continue
		}
		if !tc.wantRedirect {
			if up.calls != calls+1 {
				t.Errorf("%s: not forwarded", tc.desc)
			}
			continue
		}
		if rec.Header().Get("Location") != "/home" || up.calls != calls || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Location %q, app calls +%d", tc.desc, rec.Header().Get("Location"), up.calls-calls)
		}
		if f.validates.Load() != before {
			t.Errorf("%s: the redirect cost a backend call", tc.desc)
		}
	}
	lines := strings.Count(buf.String(), `"reason":"browser-navigation"`)
	if lines != 3 || !strings.Contains(buf.String(), `"event":"access:denied"`) {
		t.Errorf("audit: %d browser-navigation lines, want 3: %s", lines, buf.String())
	}
	if strings.Contains(buf.String(), "user-7") {
		t.Errorf("the audit log holds the token: %s", buf.String())
	}
}

func TestBlockBrowserAPIOffAndOptionChecks(t *testing.T) {
	f := newFakeBackend(t)
	h, up := newTestMiddleware(t, f, nil)
	if rec := serve(h, navigation(http.MethodGet, "/api/orders", "navigate", "text/html")); rec.Code != http.StatusOK || up.calls != 1 {
		t.Errorf("blockBrowserApi off: %d", rec.Code)
	}
	c := CreateConfig()
	c.Backend.URL = f.srv.URL
	c.Routes.BlockBrowserAPI = true
	c.Routes.HomeURL = "/api/home"
	if _, err := New(context.Background(), &upstream{}, c, t.Name()); err == nil || !strings.Contains(err.Error(), "routes.homeUrl") {
		t.Errorf("a home URL under routes.api: %v, want an error naming routes.homeUrl", err)
	}
	c.Routes.HomeURL = "https://www.example.com/"
	if _, err := New(context.Background(), &upstream{}, c, t.Name()); err != nil {
		t.Errorf("an absolute home URL: %v", err)
	}
}

package authlayer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// auditedMiddleware is a test middleware whose audit log writes to buf.
func auditedMiddleware(t *testing.T, f *fakeBackend, buf *bytes.Buffer) http.Handler {
	h, _ := newTestMiddleware(t, f, nil)
	log, err := newAuditLog(AuditConfig{Enabled: true, Salt: "test-salt"}, t.Name(), buf)
	if err != nil {
		t.Fatal(err)
	}
	h.(*middleware).audit = log
	return h
}

func auditEvents(t *testing.T, buf *bytes.Buffer) []map[string]interface{} {
	t.Helper()
	var out []map[string]interface{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]interface{}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestFlowWritesAuditEvents(t *testing.T) {
	tests := []struct {
		desc   string
		req    *http.Request
		events []string
	}{
		{"guest minted", page("/"), []string{eventAuthGuest}},
		{"guest sent to login (no guest minted where one cannot help)", page("/dashboard"), []string{eventAccessDenied}},
		{"valid user", page("/dashboard", &http.Cookie{Name: "userToken", Value: "user-a1"}), []string{eventAuthSuccess}},
		{"refreshed", page("/", &http.Cookie{Name: "userToken", Value: "expired-a2"}), []string{eventAuthFail, eventAuthRefresh}},
		{"reuse", page("/", &http.Cookie{Name: "userToken", Value: "reuse-a3"}), []string{eventAuthFail, eventAuthReuse, eventAccessDenied}},
		{"role refused", page("/admin", &http.Cookie{Name: "userToken", Value: "user-a4"}), []string{eventAuthSuccess, eventAccessDenied}},
		{"backend down", page("/dashboard", &http.Cookie{Name: "userToken", Value: "down-a5"}), []string{eventError, eventAccessDenied}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		f := newFakeBackend(t)
		h := auditedMiddleware(t, f, &buf)
		serve(h, tc.req)
		events := auditEvents(t, &buf)
		var got []string
		for _, e := range events {
			got = append(got, e["event"].(string))
		}
		if strings.Join(got, ",") != strings.Join(tc.events, ",") {
			t.Errorf("%s: events %v, want %v", tc.desc, got, tc.events)
		}
		for _, secret := range []string{"user-a", "expired-a", "reuse-a", "down-a", "guest-"} {
			if strings.Contains(buf.String(), secret) {
				t.Errorf("%s: the audit log carries a token: %s", tc.desc, buf.String())
			}
		}
	}
}

package authlayer

import (
	"bytes"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
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

// TestGuestMintBudgetAuditSaysServed: over the guest-mint budget the page
// is still served (without a guest session); the audit line must not
// claim a 429.
func TestGuestMintBudgetAuditSaysServed(t *testing.T) {
	var buf bytes.Buffer
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, rateConfig(100, 100, 1))
	a, err := newAuditLog(AuditConfig{Enabled: true, Salt: "test-salt"}, t.Name(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	h.(*middleware).audit = a
	serve(h, from(page("/"), "198.51.100.30"))
	buf.Reset()
	rec := serve(h, from(page("/"), "198.51.100.30"))
	if rec.Code != http.StatusOK {
		t.Fatalf("second visit: %d, want 200 without a guest session", rec.Code)
	}
	events := auditEvents(t, &buf)
	if len(events) != 1 || events[0]["event"] != eventRateLimitExceeded {
		t.Fatalf("events %v, want one %s", events, eventRateLimitExceeded)
	}
	if status, ok := events[0]["status"]; ok {
		t.Errorf("audit status %v for a request that was served, want none", status)
	}
}

// TestReuseLoggedOncePerEvent: one refresh-token reuse, however many
// requests carry the replayed token, is one log line.
func TestReuseLoggedOncePerEvent(t *testing.T) {
	var buf lockedBuffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	f := newFakeBackend(t)
	h, _ := newTestMiddleware(t, f, nil)
	const n = 16
	done := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			done <- serve(h, page("/", &http.Cookie{Name: "userToken", Value: "reuse-once"})).Code
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	if got := strings.Count(buf.String(), "reuse detected"); got != int(f.refreshes.Load()) || got < 1 {
		t.Errorf("reuse log lines: %d for %d backend answers, want one per answer", got, f.refreshes.Load())
	}
	if f.refreshes.Load() > 2 {
		t.Errorf("%d refresh calls for one replayed token, want the answer shared", f.refreshes.Load())
	}
}

// lockedBuffer is a bytes.Buffer safe for the log package's concurrent
// writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAuditPathIsThePathTheAppSees: the audit line carries the request's
// path as sent, not the canonical form rules were decided on.
func TestAuditPathIsThePathTheAppSees(t *testing.T) {
	var buf bytes.Buffer
	f := newFakeBackend(t)
	h := auditedMiddleware(t, f, &buf)
	serve(h, page("/dashboard/./x/../%7Euser"))
	events := auditEvents(t, &buf)
	if len(events) == 0 {
		t.Fatal("no audit line")
	}
	if got := events[0]["path"]; got != "/dashboard/./x/../%7Euser" {
		t.Errorf("audit path %v, want the path as sent", got)
	}
}

package authlayer

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// auditClock is the fixed time of test lines: not UTC and with
// nanoseconds, to show the conversion and the millisecond rounding down.
var auditClock = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CET", 3600))

const auditClockText = "2024-05-06T06:08:09.123Z"

func newTestAuditLog(t *testing.T, c AuditConfig) (*auditLog, *bytes.Buffer) {
	t.Helper()
	c.Enabled = true
	out := &bytes.Buffer{}
	a, err := newAuditLog(c, "auth@file", out)
	if err != nil {
		t.Fatalf("newAuditLog(%+v): %v", c, err)
	}
	a.now = func() time.Time { return auditClock }
	return a, out
}

// auditLines splits the output into lines and parses each as JSON,
// failing the test on a partial line or one that is not a JSON object.
func auditLines(t *testing.T, out string) []map[string]interface{} {
	t.Helper()
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end in a newline: %q", out)
	}
	var lines []map[string]interface{}
	for _, text := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]interface{}
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", text, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// The original's events, plus authlayer's login and logout endpoints.
func TestAuditEventNamesMatchTheOriginal(t *testing.T) {
	want := []string{
		"auth:success", "auth:fail", "auth:guest", "auth:refresh",
		"auth:refresh:fail", "auth:reuse", "access:denied", "csrf:fail",
		"auth:login", "auth:login:fail", "auth:logout",
		"rateLimit:exceeded", "error",
	}
	if !reflect.DeepEqual(auditEventNames, want) {
		t.Errorf("auditEventNames = %q, want %q", auditEventNames, want)
	}
}

func TestAuditWritesEachEventWithItsFields(t *testing.T) {
	tests := []struct {
		record auditRecord
		want   map[string]interface{}
	}{
		{
			auditRecord{Event: eventAuthSuccess, IP: "203.0.113.7", Method: "GET", Path: "/dashboard", UserID: "u-42", Success: true},
			map[string]interface{}{"event": "auth:success", "ip": "203.0.113.7", "method": "GET", "path": "/dashboard", "userId": "u-42", "success": true},
		},
		{
			auditRecord{Event: eventAuthFail, IP: "203.0.113.7", Method: "GET", Path: "/dashboard", Token: "tok-fail", Reason: "invalid", Status: 401},
			map[string]interface{}{"event": "auth:fail", "ip": "203.0.113.7", "method": "GET", "path": "/dashboard", "tokenHash": "*", "success": false, "reason": "invalid", "status": float64(401)},
		},
		{
			auditRecord{Event: eventAuthGuest, IP: "2001:db8::1", Method: "GET", Path: "/", Success: true},
			map[string]interface{}{"event": "auth:guest", "ip": "2001:db8::1", "method": "GET", "path": "/", "success": true},
		},
		{
			auditRecord{Event: eventAuthRefresh, IP: "203.0.113.7", Method: "POST", Path: "/api/orders", UserID: "u-42", Success: true, Reason: "expired"},
			map[string]interface{}{"event": "auth:refresh", "ip": "203.0.113.7", "method": "POST", "path": "/api/orders", "userId": "u-42", "success": true, "reason": "expired"},
		},
		{
			auditRecord{Event: eventAuthRefreshFail, IP: "203.0.113.7", Method: "GET", Path: "/dashboard", Token: "tok-refresh", Reason: "backend-unavailable", Status: 503},
			map[string]interface{}{"event": "auth:refresh:fail", "ip": "203.0.113.7", "method": "GET", "path": "/dashboard", "tokenHash": "*", "success": false, "reason": "backend-unavailable", "status": float64(503)},
		},
		{
			auditRecord{Event: eventAuthReuse, IP: "203.0.113.7", Method: "GET", Path: "/dashboard", Token: "tok-reuse", Reason: "reuse", Status: 302},
			map[string]interface{}{"event": "auth:reuse", "ip": "203.0.113.7", "method": "GET", "path": "/dashboard", "tokenHash": "*", "success": false, "reason": "reuse", "status": float64(302)},
		},
		{
			auditRecord{Event: eventAccessDenied, IP: "203.0.113.7", Method: "GET", Path: "/admin", UserID: "u-42", Reason: "role", Status: 403},
			map[string]interface{}{"event": "access:denied", "ip": "203.0.113.7", "method": "GET", "path": "/admin", "userId": "u-42", "success": false, "reason": "role", "status": float64(403)},
		},
		{
			auditRecord{Event: eventCSRFFail, IP: "203.0.113.7", Method: "POST", Path: "/api/orders", UserID: "u-42", Reason: "cross-site", Status: 403},
			map[string]interface{}{"event": "csrf:fail", "ip": "203.0.113.7", "method": "POST", "path": "/api/orders", "userId": "u-42", "success": false, "reason": "cross-site", "status": float64(403)},
		},
		{
			auditRecord{Event: eventAuthLogin, IP: "203.0.113.7", Method: "POST", Path: "/auth/login", UserID: "u-42", Success: true},
			map[string]interface{}{"event": "auth:login", "ip": "203.0.113.7", "method": "POST", "path": "/auth/login", "userId": "u-42", "success": true},
		},
		{
			auditRecord{Event: eventAuthLoginFail, IP: "203.0.113.7", Method: "POST", Path: "/auth/login", Reason: "rejected", Status: 401},
			map[string]interface{}{"event": "auth:login:fail", "ip": "203.0.113.7", "method": "POST", "path": "/auth/login", "success": false, "reason": "rejected", "status": float64(401)},
		},
		{
			auditRecord{Event: eventAuthLogout, IP: "203.0.113.7", Method: "POST", Path: "/auth/logout", UserID: "u-42", Success: true},
			map[string]interface{}{"event": "auth:logout", "ip": "203.0.113.7", "method": "POST", "path": "/auth/logout", "userId": "u-42", "success": true},
		},
		{
			auditRecord{Event: eventRateLimitExceeded, IP: "198.51.100.9", Method: "GET", Path: "/", Reason: "requests", Status: 429},
			map[string]interface{}{"event": "rateLimit:exceeded", "ip": "198.51.100.9", "method": "GET", "path": "/", "success": false, "reason": "requests", "status": float64(429)},
		},
		{
			auditRecord{Event: eventError, IP: "203.0.113.7", Method: "GET", Path: "/dashboard", Reason: "backend-unavailable", Status: 503},
			map[string]interface{}{"event": "error", "ip": "203.0.113.7", "method": "GET", "path": "/dashboard", "success": false, "reason": "backend-unavailable", "status": float64(503)},
		},
	}
	if len(tests) != len(auditEventNames) {
		t.Fatalf("%d cases for %d events", len(tests), len(auditEventNames))
	}
	hashPattern := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tt := range tests {
		a, out := newTestAuditLog(t, AuditConfig{Salt: "test-salt"})
		audit(a, tt.record)
		lines := auditLines(t, out.String())
		if len(lines) != 1 {
			t.Errorf("%s: %d lines, want 1: %q", tt.record.Event, len(lines), out.String())
			continue
		}
		got := lines[0]
		if h, ok := got["tokenHash"].(string); ok {
			if !hashPattern.MatchString(h) {
				t.Errorf("%s: tokenHash = %q, want 32 hex digits", tt.record.Event, h)
			}
			got["tokenHash"] = "*"
		}
		want := map[string]interface{}{"time": auditClockText, "middleware": "auth@file"}
		for k, v := range tt.want {
			want[k] = v
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.record.Event, got, want)
		}
	}
}

func TestAuditOmitsEmptyFieldsButNotSuccess(t *testing.T) {
	a, out := newTestAuditLog(t, AuditConfig{})
	audit(a, auditRecord{Event: eventError})
	want := "{\"time\":\"" + auditClockText + "\",\"event\":\"error\",\"middleware\":\"auth@file\",\"success\":false}\n"
	if got := out.String(); got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
}

func TestAuditUserIDWinsOverTokenHash(t *testing.T) {
	a, out := newTestAuditLog(t, AuditConfig{})
	audit(a, auditRecord{Event: eventAuthSuccess, UserID: "u-1", Token: "tok-with-user"})
	lines := auditLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	if lines[0]["userId"] != "u-1" {
		t.Errorf("userId = %v, want u-1", lines[0]["userId"])
	}
	if h, ok := lines[0]["tokenHash"]; ok {
		t.Errorf("tokenHash = %v written beside a user id, want none", h)
	}
}

func TestAuditEventFilter(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   []string // events written, in auditEventNames order
	}{
		{"empty means all", nil, auditEventNames},
		{"only blanks means all", []string{"", " "}, auditEventNames},
		{"two events", []string{"auth:fail", "csrf:fail"}, []string{eventAuthFail, eventCSRFFail}},
		{"case and spaces ignored", []string{" RATELIMIT:EXCEEDED ", "Auth:Refresh:Fail"}, []string{eventAuthRefreshFail, eventRateLimitExceeded}},
		{"prefix is not a wildcard", []string{"auth:refresh"}, []string{eventAuthRefresh}},
	}
	for _, tt := range tests {
		a, out := newTestAuditLog(t, AuditConfig{Events: tt.events})
		var enabled []string
		for _, name := range auditEventNames {
			if auditEnabled(a, name) {
				enabled = append(enabled, name)
			}
			audit(a, auditRecord{Event: name})
		}
		audit(a, auditRecord{Event: "auth:unknown"})
		var written []string
		for _, line := range auditLines(t, out.String()) {
			written = append(written, line["event"].(string))
		}
		if !reflect.DeepEqual(written, tt.want) {
			t.Errorf("%s: written %q, want %q", tt.name, written, tt.want)
		}
		if !reflect.DeepEqual(enabled, tt.want) {
			t.Errorf("%s: auditEnabled true for %q, want %q", tt.name, enabled, tt.want)
		}
		if auditEnabled(a, "auth:unknown") {
			t.Errorf("%s: auditEnabled(auth:unknown) = true, want false", tt.name)
		}
	}
}

func TestAuditConfigErrorsNameTheOption(t *testing.T) {
	tests := []struct {
		name   string
		config AuditConfig
		want   string // in the error
	}{
		{"unknown event", AuditConfig{Enabled: true, Events: []string{"auth:success", "auth:nope"}}, `authlayer: audit.events: unknown event "auth:nope"`},
		{"original's misspelling", AuditConfig{Enabled: true, Events: []string{"ratelimit"}}, `audit.events: unknown event "ratelimit"`},
		{"checked when disabled too", AuditConfig{Events: []string{"csrf"}}, `audit.events: unknown event "csrf"`},
	}
	for _, tt := range tests {
		a, err := newAuditLog(tt.config, "m", &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want one containing %q", tt.name, err, tt.want)
		}
		if a != nil {
			t.Errorf("%s: got a log with an error", tt.name)
		}
	}
}

func TestAuditDisabledIsNilAndNilIsANoOp(t *testing.T) {
	out := &bytes.Buffer{}
	a, err := newAuditLog(AuditConfig{Enabled: false, Events: []string{"auth:fail"}}, "m", out)
	if err != nil || a != nil {
		t.Fatalf("disabled: got (%v, %v), want (nil, nil)", a, err)
	}
	for _, name := range auditEventNames {
		if auditEnabled(a, name) {
			t.Errorf("auditEnabled(nil, %q) = true, want false", name)
		}
		audit(a, auditRecord{Event: name, Path: "/", Token: "tok"})
	}
	if out.Len() != 0 {
		t.Errorf("a nil log wrote %q", out.String())
	}
}

func TestAuditNeverWritesTheToken(t *testing.T) {
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2aWN0aW0ifQ.Qw-_secretSignatureZz"
	a, out := newTestAuditLog(t, AuditConfig{Salt: "test-salt"})
	for _, name := range auditEventNames {
		audit(a, auditRecord{Event: name, IP: "203.0.113.7", Method: "GET", Path: "/x", Token: token, Reason: "expired", Status: 401})
	}
	got := out.String()
	if len(auditLines(t, got)) != len(auditEventNames) {
		t.Fatalf("%d events did not give %d lines: %q", len(auditEventNames), len(auditEventNames), got)
	}
	// Any 6 consecutive characters of the token would be a leak.
	const window = 6
	for i := 0; i+window <= len(token); i++ {
		if part := token[i : i+window]; strings.Contains(got, part) {
			t.Fatalf("output contains %q, part of the token: %q", part, got)
		}
	}
}

func TestAuditTokenHashDependsOnTokenAndSalt(t *testing.T) {
	hashOf := func(salt, token string) string {
		a, out := newTestAuditLog(t, AuditConfig{Salt: salt})
		audit(a, auditRecord{Event: eventAuthFail, Token: token})
		lines := auditLines(t, out.String())
		if len(lines) != 1 {
			t.Fatalf("%d lines, want 1", len(lines))
		}
		h, _ := lines[0]["tokenHash"].(string)
		if len(h) != 2*auditHashBytes {
			t.Fatalf("tokenHash = %q, want %d hex digits", h, 2*auditHashBytes)
		}
		return h
	}
	same1, same2 := hashOf("salt-a", "token-1"), hashOf("salt-a", "token-1")
	if same1 != same2 {
		t.Errorf("same token and salt: %q then %q, want equal", same1, same2)
	}
	if other := hashOf("salt-b", "token-1"); other == same1 {
		t.Errorf("another salt gave the same hash %q", other)
	}
	if other := hashOf("salt-a", "token-2"); other == same1 {
		t.Errorf("another token gave the same hash %q", other)
	}
	random1, random2 := hashOf("", "token-1"), hashOf("", "token-1")
	if random1 != random2 {
		t.Errorf("random salt: %q then %q, want one salt per process", random1, random2)
	}
	if random1 == same1 || random1 == hashOf("", "token-2") {
		t.Errorf("random salt hash %q collides", random1)
	}
	if len(processSalt) != auditSaltBytes {
		t.Errorf("random salt is %d bytes, want %d", len(processSalt), auditSaltBytes)
	}
}

func TestAuditEscapesLineBreaksAndControlCharacters(t *testing.T) {
	hostile := []string{
		"/a\r\n{\"event\":\"auth:success\",\"userId\":\"admin\"}",
		"/nul\x00byte",
		"/ls\u2028ps\u2029end",
		"/nel\u0085c1\u009fend",
		"/tab\tvt\vff\fesc\x1bdel\x7f",
		"/invalid\xff\xfeutf8\xc2",
		"/copyright\u00a9 is not a control",
	}
	a, out := newTestAuditLog(t, AuditConfig{})
	for _, s := range hostile {
		audit(a, auditRecord{Event: eventAccessDenied, Path: s, UserID: s, Reason: s, Method: s, IP: s})
	}
	got := out.String()
	lines := auditLines(t, got)
	if len(lines) != len(hostile) {
		t.Fatalf("%d events gave %d lines: %q", len(hostile), len(lines), got)
	}
	for _, bad := range []string{"\r", "\x00", "\u2028", "\u2029", "\u0085", "\u009f", "\x1b", "\v", "\f", "\t"} {
		if strings.Contains(got, bad) {
			t.Errorf("output contains a raw %q: %q", bad, got)
		}
	}
	if strings.Count(got, "\n") != len(hostile) {
		t.Errorf("output has %d newlines, want %d", strings.Count(got, "\n"), len(hostile))
	}
	for i, s := range hostile {
		for _, field := range []string{"path", "userId", "reason", "method", "ip"} {
			v, _ := lines[i][field].(string)
			if utf8.ValidString(s) && v != s {
				t.Errorf("%s = %q, want %q back", field, v, s)
			}
			if !utf8.ValidString(v) {
				t.Errorf("%s = %q is not valid UTF-8", field, v)
			}
		}
	}
}

func TestAuditCapsFieldLength(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"ascii", "/" + strings.Repeat("a", 20000)},
		{"multi-byte at the cut", "/" + strings.Repeat("é", 5000)},
		{"four-byte characters", strings.Repeat("😀", 3000)},
		{"exactly the cap", strings.Repeat("b", auditMaxField)},
		{"short", "/dashboard"},
	}
	for _, tt := range tests {
		a, out := newTestAuditLog(t, AuditConfig{})
		audit(a, auditRecord{Event: eventAuthFail, Path: tt.in, UserID: tt.in, Reason: tt.in})
		lines := auditLines(t, out.String())
		if len(lines) != 1 {
			t.Fatalf("%s: %d lines, want 1", tt.name, len(lines))
		}
		for _, field := range []string{"path", "userId", "reason"} {
			got, _ := lines[0][field].(string)
			if len(tt.in) <= auditMaxField {
				if got != tt.in {
					t.Errorf("%s: %s = %q, want it unchanged", tt.name, field, got)
				}
				continue
			}
			kept := strings.TrimSuffix(got, auditTruncated)
			if len(got) > auditMaxField || kept == got || !strings.HasPrefix(tt.in, kept) || len(kept) < auditMaxField-len(auditTruncated)-3 {
				t.Errorf("%s: %s is %d bytes %q..., want a prefix of at most %d bytes ending in %q",
					tt.name, field, len(got), got[:16], auditMaxField, auditTruncated)
			}
			if !utf8.ValidString(got) {
				t.Errorf("%s: %s was cut inside a character", tt.name, field)
			}
		}
		if out.Len() > 4*auditMaxField {
			t.Errorf("%s: line is %d bytes", tt.name, out.Len())
		}
	}
}

// writeRecorder keeps every Write call apart. It has no lock of its own:
// the race detector reports writes the audit log did not serialise.
type writeRecorder struct {
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestAuditConcurrentWritersWriteWholeLines(t *testing.T) {
	const writers, perWriter = 50, 20
	rec := &writeRecorder{}
	a, err := newAuditLog(AuditConfig{Enabled: true}, "m", rec)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		g := g
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "user-" + strconv.Itoa(g)
			for i := 0; i < perWriter; i++ {
				audit(a, auditRecord{Event: eventAuthSuccess, UserID: user, Path: "/p/" + strconv.Itoa(i) + "/" + strings.Repeat("x", 300), Success: true})
			}
		}()
	}
	wg.Wait()
	if len(rec.writes) != writers*perWriter {
		t.Fatalf("%d writes, want %d (one per line)", len(rec.writes), writers*perWriter)
	}
	perUser := map[string]int{}
	for _, w := range rec.writes {
		if bytes.IndexByte(w, '\n') != len(w)-1 {
			t.Fatalf("a write is not exactly one line: %q", w)
		}
		var m map[string]interface{}
		if err := json.Unmarshal(w, &m); err != nil {
			t.Fatalf("write %q is not JSON: %v", w, err)
		}
		user, _ := m["userId"].(string)
		perUser[user]++
	}
	if len(perUser) != writers {
		t.Errorf("%d users in the log, want %d", len(perUser), writers)
	}
	for user, n := range perUser {
		if n != perWriter {
			t.Errorf("%s: %d lines, want %d", user, n, perWriter)
		}
	}
}

func TestAuditTimeIsUTCWithMilliseconds(t *testing.T) {
	a, out := newTestAuditLog(t, AuditConfig{})
	a.now = time.Now
	audit(a, auditRecord{Event: eventAuthGuest})
	lines := auditLines(t, out.String())
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1", len(lines))
	}
	stamp, _ := lines[0]["time"].(string)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(stamp) {
		t.Errorf("time = %q, want RFC 3339 UTC with milliseconds", stamp)
	}
	if _, err := time.Parse(time.RFC3339, stamp); err != nil {
		t.Errorf("time %q does not parse as RFC 3339: %v", stamp, err)
	}
}

// BenchmarkAuditLine is the cost of one written line (an anonymous event,
// so the token hash is included); run it under Yaegi too.
func BenchmarkAuditLine(b *testing.B) {
	a, err := newAuditLog(AuditConfig{Enabled: true}, "auth@file", io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	r := auditRecord{Event: eventAuthFail, IP: "203.0.113.7", Method: "GET", Path: "/dashboard/settings",
		Token: "eyJhbGciOiJIUzI1NiJ9.payload.signature", Reason: "expired", Status: 401}
	for i := 0; i < b.N; i++ {
		audit(a, r)
	}
}

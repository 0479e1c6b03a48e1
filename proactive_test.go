package authlayer

import (
	"bytes"
	"encoding/base64"
	"log"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// refresh.proactiveWindow against the token's lifetime (proactive.go).

// jwtWithIat is an unsigned-looking JWT whose payload holds iat (none
// when iat is zero): the proactive window reads it without verifying.
func jwtWithIat(label string, iat time.Time) string {
	payload := `{"sub":"` + label + `"}`
	if !iat.IsZero() {
		payload = `{"sub":"` + label + `","iat":` + strconv.FormatInt(iat.Unix(), 10) + `}`
	}
	return b64url([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64url([]byte(payload)) + ".c2ln"
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func proactiveID(token string, exp time.Time) *identity {
	return identityFromJSON([]byte(`{"id":"u-1"}`), "u-1", "user", nil, exp, token, "backend")
}

// resetIssuedMemo empties the package-level memo of refreshed tokens.
func resetIssuedMemo() {
	issuedMu.Lock()
	issuedMemo = map[string]issuedEntry{}
	issuedMu.Unlock()
}

// TestProactiveWindowCappedAtHalfTheLifetime: a window at or above a
// token's lifetime no longer makes a token due the moment it is issued:
// the window is at most half the lifetime (from iat, or from when a
// proactive refresh handed the token out); a token far from its exp, or
// whose lifetime is long, keeps the configured window.
func TestProactiveWindowCappedAtHalfTheLifetime(t *testing.T) {
	resetIssuedMemo()
	defer resetIssuedMemo()
	s := &settings{proactiveWindow: time.Minute}
	now := time.Now()

	young := proactiveID(jwtWithIat("young", now), now.Add(30*time.Second))
	if refreshDue(s, young) {
		t.Error("a token issued just now, with a 30s lifetime under a 60s window, is due")
	}
	expires := young.expiresAt.UnixNano()
	if got, want := time.Duration(expires-memoUntil(s, &authResult{id: young}, expires)), 15*time.Second; got < want-time.Second || got > want+time.Second {
		t.Errorf("session memo ends %s before exp, want about %s (half the lifetime)", got, want)
	}
	if halfway := proactiveID(jwtWithIat("halfway", now.Add(-20*time.Second)), now.Add(10*time.Second)); !refreshDue(s, halfway) {
		t.Error("a 30s token 20s into its life is not due")
	}
	long := proactiveID(jwtWithIat("long", now.Add(-14*time.Minute)), now.Add(50*time.Second))
	if !refreshDue(s, long) {
		t.Error("a 15-minute token 50s before exp is not due under a 60s window")
	}
	if got := time.Duration(long.expiresAt.UnixNano() - memoUntil(s, &authResult{id: long}, long.expiresAt.UnixNano())); got != time.Minute {
		t.Errorf("session memo of a long-lived token ends %s before exp, want the whole window", got)
	}
	if far := proactiveID(jwtWithIat("far", now), now.Add(time.Hour)); refreshDue(s, far) {
		t.Error("a token an hour from exp is due")
	}

	// An iat that cannot be (after exp, hours ahead) is ignored: the
	// lifetime is unknown, and the configured window applies.
	for _, iat := range []time.Time{now.Add(time.Hour), now.Add(31 * time.Second)} {
		if !refreshDue(s, proactiveID(jwtWithIat("odd-iat", iat), now.Add(30*time.Second))) {
			t.Errorf("iat %s ahead: not due, want the configured window", iat.Sub(now).Round(time.Second))
		}
	}

	// Without iat: unknown until a proactive refresh hands the token out.
	opaque := jwtWithIat("opaque", time.Time{})
	id := proactiveID(opaque, now.Add(30*time.Second))
	if !refreshDue(s, id) {
		t.Error("a token without iat, 30s before exp under a 60s window, is not due")
	}
	rememberIssued(opaque, id.expiresAt, now)
	if refreshDue(s, id) {
		t.Error("a token a proactive refresh handed out just now is due")
	}
	if other := proactiveID(opaque, now.Add(20*time.Second)); !refreshDue(s, other) {
		t.Error("the memo answered for the same token with another exp")
	}
	if refreshDue(&settings{}, proactiveID(jwtWithIat("off", now.Add(-time.Hour)), now.Add(time.Second))) {
		t.Error("due with the proactive window off")
	}
}

// TestProactiveWindowTooWideLoggedOnce: the first proactive refresh whose
// new token lives less than twice the window logs once, naming the
// option and the middleware, and remembers a token without iat; a token
// that lives long enough logs and remembers nothing.
func TestProactiveWindowTooWideLoggedOnce(t *testing.T) {
	resetIssuedMemo()
	defer resetIssuedMemo()
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)
	s := &settings{proactiveWindow: time.Minute}
	refreshed := func(token string, life time.Duration) refreshOutcome {
		return refreshOutcome{kind: refreshDone, accessToken: token, session: validation{state: stateValid, id: proactiveID(token, time.Now().Add(life))}}
	}

	noteProactiveRefresh("long-lived@file", s, refreshed(jwtWithIat("long", time.Time{}), time.Hour))
	if buf.Len() != 0 || len(issuedMemo) != 0 {
		t.Fatalf("a one-hour token: logged %q, remembered %d", buf.String(), len(issuedMemo))
	}

	first := jwtWithIat("short-1", time.Time{})
	noteProactiveRefresh("short-lived@file", s, refreshed(first, 30*time.Second))
	noteProactiveRefresh("short-lived@file", s, refreshed(jwtWithIat("short-2", time.Now()), 30*time.Second))
	logged := buf.String()
	if strings.Count(logged, "\n") != 1 || !strings.Contains(logged, "refresh.proactiveWindow") || !strings.Contains(logged, "short-lived@file") ||
		!strings.Contains(logged, "covers the whole") || !strings.Contains(logged, "at most 15s") {
		t.Errorf("log for two 30s tokens under a 60s window: %q, want one line naming the option, the middleware and 15s", logged)
	}
	if strings.Contains(logged, first) {
		t.Error("the log holds a token")
	}
	issuedMu.Lock()
	n := len(issuedMemo)
	issuedMu.Unlock()
	if n != 1 {
		t.Errorf("tokens remembered: %d, want 1 (the one without iat)", n)
	}
}

// TestIssuedMemoBounded: the memo of refreshed tokens never holds more
// than maxIssuedMemo: expired entries make room, live ones are kept.
func TestIssuedMemoBounded(t *testing.T) {
	resetIssuedMemo()
	defer resetIssuedMemo()
	now := time.Now()
	for i := 0; i < maxIssuedMemo; i++ {
		rememberIssued("expired-"+strconv.Itoa(i), now.Add(-time.Second), now.Add(-time.Minute))
	}
	rememberIssued("fresh", now.Add(30*time.Second), now)
	issuedMu.Lock()
	n := len(issuedMemo)
	issuedMu.Unlock()
	if n != 1 {
		t.Fatalf("after a full memo of expired entries: %d entries, want 1", n)
	}
	for i := 0; i < maxIssuedMemo+10; i++ {
		rememberIssued("live-"+strconv.Itoa(i), now.Add(time.Minute), now)
	}
	issuedMu.Lock()
	n = len(issuedMemo)
	issuedMu.Unlock()
	if n != maxIssuedMemo {
		t.Errorf("after %d live entries: %d, want the bound %d", maxIssuedMemo+10, n, maxIssuedMemo)
	}
}

package authlayer

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
)

func jwtWithExp(exp int64) string {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return seg(`{"alg":"HS256"}`) + "." + seg(`{"sub":"u","exp":`+strconv.FormatInt(exp, 10)+`}`) + "." + seg("sig")
}

// TestMarkLifeCoversTheTokensLife: a mark lasts until exp plus jwt.leeway
// (the token verifies that long) plus the skew margin, with no cap: a
// token valid for days is marked for days.
func TestMarkLifeCoversTheTokensLife(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	if got, want := markLife("opaque", exp, 0), time.Hour+markLeeway; got < want {
		t.Errorf("mark life %s, want at least exp + the largest leeway (%s)", got, want)
	}
	far := time.Now().Add(72 * time.Hour)
	if got := markLife("opaque", far, 0); got < 72*time.Hour {
		t.Errorf("mark life %s for a 72 h token: capped", got)
	}
	// Without a known exp, the token's own exp claim counts.
	claimed := time.Now().Add(3 * time.Hour).Unix()
	if got := markLife(jwtWithExp(claimed), time.Time{}, time.Minute); got < 3*time.Hour+5*time.Minute-time.Second {
		t.Errorf("mark life %s from the exp claim, want 3h05m", got)
	}
	// Neither: the fallback (the cookie's max age).
	if got := markLife("opaque", time.Time{}, 7*24*time.Hour); got < 7*24*time.Hour {
		t.Errorf("mark life %s without any exp, want the fallback 168h", got)
	}
	// An already expired token still gets a short mark (clock skew).
	if got := markLife("opaque", time.Now().Add(-time.Hour), 0); got <= 0 {
		t.Errorf("mark life %s for an expired token, want a positive margin", got)
	}
}

func TestUnverifiedExp(t *testing.T) {
	if got := unverifiedExp(jwtWithExp(2000000000)); got.Unix() != 2000000000 {
		t.Errorf("exp %v", got)
	}
	for _, tok := range []string{"", "opaque", "a.b.c", "a.!!.c", jwtWithExp(0), jwtWithExp(-5)} {
		if got := unverifiedExp(tok); !got.IsZero() {
			t.Errorf("unverifiedExp(%q) = %v, want zero", tok, got)
		}
	}
}

// TestLoggedOutMarks: a mark is found by its token alone; a second,
// unverified logout with the same token (a double click, or a replay of
// the stolen cookie) never moves a verified mark into the evictable tier;
// a token that "never expires" is still marked (no overflow).
func TestLoggedOutMarks(t *testing.T) {
	tok := "revocation-test-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if loggedOut(tok) {
		t.Fatal("marked before the logout")
	}
	markLoggedOut(tok, time.Now().Add(time.Hour), 0, true)
	if !loggedOut(tok) || loggedOut(tok+"x") {
		t.Fatal("the mark is not found by its token alone")
	}
	markLoggedOut(tok, time.Time{}, time.Minute, false)
	if v, _, _ := cache.Lookup(loggedOutMarks, cache.Key(tok)); !isVerifiedMark(v) {
		t.Error("a second, unverified logout weakened the verified mark")
	}
	forever := jwtWithExp(9999999999)
	markLoggedOut(forever, time.Time{}, time.Minute, true)
	if !loggedOut(forever) {
		t.Error("a token whose exp is 9999999999 was not marked (expiry overflow)")
	}
	if got := markLife(forever, time.Time{}, 0); got != maxMarkLife {
		t.Errorf("mark life for exp 9999999999: %s, want the cap %s", got, maxMarkLife)
	}
}

// TestOnlyTheSessionsTokensGetLastingMarks: a logout whose session came
// from the refresh cookie marks the refused access cookie it also carried
// as best effort only (junk access cookies beside one valid refresh cookie
// must not fill the lasting tier); the session's own tokens get lasting
// marks.
func TestOnlyTheSessionsTokensGetLastingMarks(t *testing.T) {
	n := strconv.FormatInt(time.Now().UnixNano(), 10)
	junk, fresh, refresh := "junk-access-"+n, "fresh-access-"+n, "refresh-"+n
	m := &middleware{s: &settings{}, state: &sharedState{}}
	res := &authResult{id: &identity{tokenType: "user"}, token: fresh, refreshed: fresh, loggedIn: true}
	forgetSession(m, res, carriedCookies{user: junk, refresh: refresh})
	for _, tc := range []struct {
		token    string
		verified bool
	}{{junk, false}, {fresh, true}, {refresh, true}} {
		v, _, ok := cache.Lookup(loggedOutMarks, cache.Key(tc.token))
		if !ok || isVerifiedMark(v) != tc.verified {
			t.Errorf("%s: marked %v, lasting %v, want marked, lasting %v", tc.token, ok, isVerifiedMark(v), tc.verified)
		}
	}
}

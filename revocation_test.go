package authlayer

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/jwt"
)

func jwtWithExp(exp int64) string {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return seg(`{"alg":"HS256"}`) + "." + seg(`{"sub":"u","exp":`+strconv.FormatInt(exp, 10)+`}`) + "." + seg("sig")
}

// TestMarkLifeCoversTheTokensLife: a mark lasts until exp plus jwt.leeway
// (the token verifies that long) plus the skew margin, with no cap: a
// token valid for days is marked for days.
func TestMarkLifeCoversTheTokensLife(t *testing.T) {
	s := &settings{jwt: &jwt.Settings{Leeway: 5 * time.Minute}}
	exp := time.Now().Add(time.Hour)
	if got, want := markLife(s, "opaque", exp, 0), time.Hour+5*time.Minute; got < want {
		t.Errorf("mark life %s, want at least exp + leeway (%s)", got, want)
	}
	far := time.Now().Add(72 * time.Hour)
	if got := markLife(s, "opaque", far, 0); got < 72*time.Hour {
		t.Errorf("mark life %s for a 72 h token: capped", got)
	}
	// Without a known exp, the token's own exp claim counts.
	claimed := time.Now().Add(3 * time.Hour).Unix()
	if got := markLife(s, jwtWithExp(claimed), time.Time{}, time.Minute); got < 3*time.Hour+5*time.Minute-time.Second {
		t.Errorf("mark life %s from the exp claim, want 3h05m", got)
	}
	// Neither: the fallback (the cookie's max age).
	if got := markLife(s, "opaque", time.Time{}, 7*24*time.Hour); got < 7*24*time.Hour {
		t.Errorf("mark life %s without any exp, want the fallback 168h", got)
	}
	// An already expired token still gets a short mark (clock skew).
	if got := markLife(&settings{}, "opaque", time.Now().Add(-time.Hour), 0); got <= 0 {
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

// TestLoggedOutMarks: a mark is found by the token, a verified one stays
// when a flood of unverified marks fills their tier.
func TestLoggedOutMarks(t *testing.T) {
	s := &settings{}
	tok := "revocation-test-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if loggedOut(tok) {
		t.Fatal("marked before the logout")
	}
	markLoggedOut(s, tok, time.Now().Add(time.Hour), 0, true)
	if !loggedOut(tok) || loggedOut(tok+"x") {
		t.Fatal("the mark is not found by its token alone")
	}
	for i := 0; i < 2000; i++ {
		markLoggedOut(s, "junk-"+strconv.Itoa(i), time.Time{}, time.Minute, false)
	}
	if !loggedOut(tok) {
		t.Error("unverified marks displaced a verified one")
	}
}

// TestWithoutTokensEveryShape: a token echoed whole, after "Bearer ", in
// "name=<t>", inside a message or a list, or any JWT-shaped string, is
// dropped; plain fields stay.
func TestWithoutTokensEveryShape(t *testing.T) {
	tok := "opaque-session-token-0123456789"
	doc := map[string]interface{}{
		"whole": tok, "bearer": "Bearer xyz", "cookie": "userToken=" + tok, "message": "your token is " + tok + ".",
		"list": []interface{}{"fine", "x" + tok}, "jwtish": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
		"sessionToken": "short", "id_token": "short", "name": "Zoë", "count": 3,
	}
	got := withoutTokens(doc, tok).(map[string]interface{})
	for _, k := range []string{"whole", "bearer", "cookie", "message", "jwtish", "sessionToken", "id_token"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s kept: %v", k, v)
		}
	}
	if list := got["list"].([]interface{}); len(list) != 1 || list[0] != "fine" {
		t.Errorf("list: %v", list)
	}
	if got["name"] != "Zoë" || got["count"] != 3 {
		t.Errorf("plain fields lost: %v", got)
	}
}

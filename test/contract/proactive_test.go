package contract

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// refresh.proactiveWindow wider than the tokens' lifetime: tokens are
// refreshed halfway through their life, never on every request.

// tokenIssuedAt is an opaque-to-the-plugin token (validated by the fake
// backend) that carries an iat claim, as most issuers' JWTs do.
func tokenIssuedAt(label string, iat time.Time) string {
	seg := func(v interface{}) string {
		raw, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	return seg(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + seg(map[string]interface{}{"sub": label, "iat": iat.Unix()}) + ".c2lnbmF0dXJl"
}

func userExpiringIn(d time.Duration) map[string]interface{} {
	data := fakebackend.UserData("u-p", "user", nil)
	data["exp"] = time.Now().Add(d).Unix()
	return data
}

// TestProactiveWindowWiderThanTheTokenLifetime: with a 60s window and 30s
// tokens, a token just issued (iat now) is not refreshed; one past half
// its life is; a token without iat that a proactive refresh handed out is
// not refreshed again on the next requests (each of which used to make a
// refresh call).
func TestProactiveWindowWiderThanTheTokenLifetime(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		logs := captureLog(t)
		h := e.handler(t, e.opts(m{
			"refresh": m{"proactiveWindow": "60s"},
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes":  m{"protected": testkit.List("/dashboard")},
		}))
		const life = 30 * time.Second

		// Just issued, with iat: no refresh.
		young := tokenIssuedAt("young", time.Now())
		youngData := userExpiringIn(life)
		e.be.SetUser(young, youngData)
		e.be.RefreshTo("young-refresh", fakebackend.Token("young-next"), "young-refresh-2", userExpiringIn(life))
		for i := 0; i < 3; i++ {
			r := e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, young).Cookie(testkit.RefreshCookie, "young-refresh"))
			testkit.WantIdentity(t, r, young, youngData, "u-p", "user", "")
			testkit.WantNoSetCookie(t, r)
		}
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)

		// Two thirds through its life: refreshed.
		old := tokenIssuedAt("old", time.Now().Add(-20*time.Second))
		e.be.SetUser(old, userExpiringIn(10*time.Second))
		next := fakebackend.Token("old-next")
		nextData := userExpiringIn(life)
		e.be.RefreshTo("old-refresh", next, "old-refresh-2", nextData)
		r := e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, old).Cookie(testkit.RefreshCookie, "old-refresh"))
		testkit.WantIdentity(t, r, next, nextData, "u-p", "user", next)
		testkit.WantCookieSet(t, r, testkit.UserCookie, next)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 1)

		// next has no iat: authlayer's refresh handed it out just now, so
		// the following requests are not refreshed, though its whole
		// lifetime is within the window.
		e.be.RefreshTo("old-refresh-2", fakebackend.Token("old-next-2"), "old-refresh-3", userExpiringIn(life))
		for i := 0; i < 5; i++ {
			r = e.do(t, h, testkit.Page("/dashboard").Cookie(testkit.UserCookie, next).Cookie(testkit.RefreshCookie, "old-refresh-2"))
			testkit.WantIdentity(t, r, next, nextData, "u-p", "user", "")
			if len(r.SetCookies(testkit.UserCookie)) != 0 {
				t.Fatalf("request %d: the token a refresh just handed out was replaced", i)
			}
		}
		testkit.WantCount(t, e.be, fakebackend.Refresh, 1)
		if r.Code != http.StatusOK {
			t.Errorf("status %d", r.Code)
		}
		lines, _ := logs.linesSince(0, "refresh.proactiveWindow")
		if len(lines) != 1 || !strings.Contains(lines[0], "(1m0s) covers the whole lifetime") || !strings.Contains(lines[0], t.Name()) {
			t.Errorf("log lines about refresh.proactiveWindow: %q, want one naming the option and the middleware", lines)
		}
	})
}

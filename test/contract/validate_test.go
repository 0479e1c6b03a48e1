package contract

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// TestValidateRequest: validation is GET {url}/auth/me with the token as
// a Bearer credential.
func TestValidateRequest(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("dave")
		e.be.SetUser(tok, fakebackend.UserData("u-dave", "user", nil))
		h := e.handler(t, e.opts())

		testkit.WantForwarded(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok)))
		calls := e.be.Calls(fakebackend.Validate)
		if len(calls) != 1 {
			t.Fatalf("validate calls: got %d, want 1", len(calls))
		}
		if c := calls[0]; c.Method != http.MethodGet || c.Path != fakebackend.ValidatePath || c.Authorization != "Bearer "+tok {
			t.Errorf("validate call: got %s %s Authorization %q, want GET %s Authorization %q",
				c.Method, c.Path, c.Authorization, fakebackend.ValidatePath, "Bearer "+tok)
		}
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)
		testkit.WantCount(t, e.be, fakebackend.Guest, 0)
	})
}

// TestIdentityHeaders: a valid token forwards the user object, id and type.
func TestIdentityHeaders(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts())
		tests := []struct {
			desc     string
			data     map[string]interface{}
			wantID   string
			wantType string
		}{
			{"string id, type missing: no type (never counted as a user)", fakebackend.UserData("u-1", "", nil), "u-1", ""},
			{"type user", fakebackend.UserData("u-2", "user", nil), "u-2", "user"},
			{"other type", fakebackend.UserData("u-3", "service", nil), "u-3", "service"},
			{"numeric id", fakebackend.UserData(42, "user", nil), "42", "user"},
			{"large numeric id keeps its digits", fakebackend.UserData(1234567890123, "user", nil), "1234567890123", "user"},
			{"non-ASCII and nested fields", map[string]interface{}{
				"id": "u-4", "type": "user", "name": "Zoë 名前 \"quoted\"",
				"profile": map[string]interface{}{"langs": []interface{}{"fr", "ja"}, "age": 30},
			}, "u-4", "user"},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				tok := fakebackend.Token(t.Name())
				e.be.SetUser(tok, tc.data)
				r := e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, tok))
				testkit.WantIdentity(t, r, tok, tc.data, tc.wantID, tc.wantType, "")
				testkit.WantNoSetCookie(t, r)
			})
		}
	})
}

// TestValidateAnswerClasses: 2xx with success true and an object under
// data is valid; other 4xx and success false are definitely invalid (a
// refresh is attempted); 5xx, 408, 429, redirects and a 2xx whose body is
// not the contract's JSON are transient (no refresh, the protected route
// answers 503, cookies are kept).
func TestValidateAnswerClasses(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(m{"routes": m{"protected": testkit.List("/api/me")}}))
		user := fakebackend.UserData("u-9", "user", nil)
		type class int
		const (
			valid class = iota
			invalid
			transient
		)
		tests := []struct {
			desc   string
			answer fakebackend.Answer
			want   class
		}{
			{"200 success data", fakebackend.OK(user), valid},
			{"201 success data", fakebackend.Answer{Status: 201, JSON: m{"success": true, "data": user}}, valid},
			{"401", fakebackend.Unauthorized(), invalid},
			{"400", fakebackend.Status(400), invalid},
			{"403", fakebackend.Status(403), invalid},
			{"404", fakebackend.Status(404), invalid},
			{"200 not JSON", fakebackend.Garbage(), transient},
			{"200 empty body", fakebackend.Answer{}, transient},
			{"200 success false", fakebackend.Answer{JSON: m{"success": false, "data": user}}, invalid},
			{"200 success missing", fakebackend.Answer{JSON: m{"data": user}}, transient},
			{"200 no data", fakebackend.Answer{JSON: m{"success": true}}, transient},
			{"200 data null", fakebackend.Answer{JSON: m{"success": true, "data": nil}}, transient},
			{"200 data string", fakebackend.Answer{JSON: m{"success": true, "data": "u-9"}}, transient},
			{"200 data array", fakebackend.Answer{JSON: m{"success": true, "data": []interface{}{user}}}, transient},
			{"200 truncated JSON", fakebackend.Answer{Body: `{"success":true,"data":{"id":"u-9"`}, transient},
			{"200 JSON then garbage", fakebackend.Answer{Body: `{"success":true,"data":{"id":"u-9"}}<html>`}, transient},
			{"200 success not a boolean", fakebackend.Answer{JSON: m{"success": "yes", "data": user}}, transient},
			{"200 success \"false\"", fakebackend.Answer{JSON: m{"success": "false", "data": user}}, invalid},
			{"302 to a login page", fakebackend.Answer{Status: 302, Body: "<html>login</html>"}, transient},
			{"500", fakebackend.Status(500), transient},
			{"502", fakebackend.Status(502), transient},
			{"503", fakebackend.Status(503), transient},
			{"504", fakebackend.Status(504), transient},
			{"408", fakebackend.Status(408), transient},
			{"429", fakebackend.Status(429), transient},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				tok := fakebackend.Token(t.Name())
				e.be.SetValidate(tok, tc.answer)
				refreshBefore := e.be.Count(fakebackend.Refresh)
				r := e.do(t, h, testkit.API("/api/me").Cookie(testkit.UserCookie, tok))
				refreshCalls := e.be.CountFor(fakebackend.Refresh, tok)
				if e.be.CountFor(fakebackend.Validate, tok) != 1 {
					t.Errorf("validate calls for the token: got %d, want 1", e.be.CountFor(fakebackend.Validate, tok))
				}
				switch tc.want {
				case valid:
					testkit.WantIdentity(t, r, tok, user, "u-9", "user", "")
					if n := e.be.Count(fakebackend.Refresh) - refreshBefore; n != 0 {
						t.Errorf("refresh calls: got %d, want 0", n)
					}
				case invalid:
					// The refresh (unknown credential: 401 expired) fails
					// fatally: cookie cleared, protected API denied.
					if refreshCalls != 1 {
						t.Errorf("refresh calls with the token: got %d, want 1 (definitely invalid)", refreshCalls)
					}
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusUnauthorized)
					testkit.WantCookieCleared(t, r, testkit.UserCookie)
				case transient:
					if n := e.be.Count(fakebackend.Refresh) - refreshBefore; n != 0 {
						t.Errorf("refresh calls: got %d, want 0 (transient failure)", n)
					}
					testkit.WantNotForwarded(t, r)
					testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
					testkit.WantNoCookieClearing(t, r)
				}
			})
		}
	})
}

// TestTokenSources: the user cookie first, else the guest cookie; in
// dual-token mode a lone refresh cookie triggers a refresh.
func TestTokenSources(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		userTok := fakebackend.Token("erin")
		erin := fakebackend.UserData("u-erin", "user", nil)
		e.be.SetUser(userTok, erin)
		guestTok := fakebackend.Token("a-guest")
		guest := fakebackend.UserData("g-1", "guest", nil)
		e.be.SetUser(guestTok, guest)
		refreshTok := fakebackend.Token("erin-refresh")
		newTok := fakebackend.Token("erin-new")
		e.be.RefreshTo(refreshTok, newTok, "", erin)

		h := e.handler(t, e.opts(m{"cookies": m{"refresh": testkit.RefreshCookie}}))

		t.Run("user cookie", func(t *testing.T) {
			testkit.WantIdentity(t, e.do(t, h, testkit.Page("/").Cookie(testkit.UserCookie, userTok)), userTok, erin, "u-erin", "user", "")
		})
		t.Run("guest cookie", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.GuestCookie, guestTok))
			testkit.WantIdentity(t, r, guestTok, guest, "g-1", "guest", "")
			testkit.WantCount(t, e.be, fakebackend.Guest, 0)
		})
		t.Run("user cookie wins over guest cookie", func(t *testing.T) {
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.GuestCookie, guestTok).Cookie(testkit.UserCookie, userTok))
			testkit.WantIdentity(t, r, userTok, erin, "u-erin", "user", "")
		})
		t.Run("only the refresh cookie", func(t *testing.T) {
			before := e.be.Count(fakebackend.Refresh)
			r := e.do(t, h, testkit.Page("/").Cookie(testkit.RefreshCookie, refreshTok))
			if got := e.be.Count(fakebackend.Refresh) - before; got != 1 {
				t.Fatalf("refresh calls: got %d, want 1", got)
			}
			if c := e.be.Calls(fakebackend.Refresh)[before]; c.Method != http.MethodPost || c.Authorization != "Bearer "+refreshTok {
				t.Errorf("refresh call: got %s Authorization %q, want POST Authorization %q", c.Method, c.Authorization, "Bearer "+refreshTok)
			}
			testkit.WantIdentity(t, r, newTok, erin, "u-erin", "user", newTok)
			testkit.WantCookieSet(t, r, testkit.UserCookie, newTok)
		})
		t.Run("no cookie", func(t *testing.T) {
			before := e.be.Total()
			testkit.WantAnonymous(t, e.do(t, h, testkit.Page("/")))
			if got := e.be.Total() - before; got != 0 {
				t.Errorf("backend calls: got %d, want 0", got)
			}
		})
	})
}

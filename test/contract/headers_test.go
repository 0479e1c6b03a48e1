package contract

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

// forgedHeaders returns client-supplied copies of the identity headers
// named in names (plus Authorization when withAuthz), in canonical form
// and in every alias spelling a backend framework would fold into the real
// header: any case, '_' or '.' for '-'. header entries go through
// Header.Add (as Go's server canonicalises them); raw entries are set as
// is.
func forgedHeaders(names []string, withAuthz bool) (header http.Header, raw map[string]string) {
	header = http.Header{}
	raw = map[string]string{}
	forged := "eyJpZCI6ImFkbWluIiwicm9sZSI6ImFkbWluIn0=" // {"id":"admin","role":"admin"}
	for _, n := range names {
		lower := testkit.NormHeader(n)
		under := testkit.ReplaceDash(n, "_")
		dot := testkit.ReplaceDash(lower, ".")
		header.Add(n, forged)
		header.Add(lower, forged)
		header.Add(under, forged)
		header.Add(dot, forged)
		raw[testkit.ReplaceDash(testkit.UpperOdd(lower), "_")] = forged
		raw[testkit.UpperOdd(lower)] = forged
	}
	if withAuthz {
		header.Add("Authorization", "Bearer forged-by-client")
		raw["authORIZATION"] = "Bearer forged-by-client-2"
	}
	return header, raw
}

// TestForgedIdentityHeadersAreStripped: client copies of every identity
// header, under every alias, never reach the app, on every path.
func TestForgedIdentityHeadersAreStripped(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		userTok := fakebackend.Token("alice")
		alice := fakebackend.UserData("u-alice", "user", nil)
		e.be.SetUser(userTok, alice)
		expiredTok := fakebackend.Token("expired")
		newTok := fakebackend.Token("renewed")
		e.be.SetValidate(expiredTok, fakebackend.Unauthorized())
		e.be.RefreshTo(expiredTok, newTok, "", alice)
		downTok := fakebackend.Token("backend-down")
		e.be.SetValidate(downTok, fakebackend.Status(http.StatusServiceUnavailable))

		routes := m{"routes": m{"excluded": testkit.List("/static"), "protected": testkit.List("/private")}}
		plain := e.handler(t, e.opts(routes))

		tests := []struct {
			desc string
			rq   testkit.Request
			// check runs after the forwarded-request checks.
			check func(t *testing.T, r *testkit.Result)
		}{
			{"excluded path", testkit.Page("/static/app.js").Cookie(testkit.UserCookie, userTok), func(t *testing.T, r *testkit.Result) {
				testkit.WantAnonymous(t, r)
			}},
			{"public path, anonymous", testkit.Page("/"), func(t *testing.T, r *testkit.Result) {
				testkit.WantAnonymous(t, r)
			}},
			{"valid user", testkit.Page("/").Cookie(testkit.UserCookie, userTok), func(t *testing.T, r *testkit.Result) {
				testkit.WantIdentity(t, r, userTok, alice, "u-alice", "user", "")
			}},
			{"refreshed user", testkit.Page("/").Cookie(testkit.UserCookie, expiredTok), func(t *testing.T, r *testkit.Result) {
				testkit.WantIdentity(t, r, newTok, alice, "u-alice", "user", newTok)
			}},
			{"backend error on a public path", testkit.Page("/").Cookie(testkit.UserCookie, downTok), func(t *testing.T, r *testkit.Result) {
				testkit.WantAnonymous(t, r)
			}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				rq := tc.rq
				rq.Header, rq.RawKeys = forgedHeaders(testkit.IdentityHeaders[:4], true)
				tc.check(t, e.do(t, plain, rq))
			})
		}

		t.Run("guest", func(t *testing.T) {
			h := e.handler(t, e.opts(routes, e.guestOpts()))
			rq := testkit.Page("/")
			rq.Header, rq.RawKeys = forgedHeaders(testkit.IdentityHeaders[:4], true)
			r := e.do(t, h, rq)
			g := fakebackend.GuestToken(1)
			testkit.WantIdentity(t, r, g, fakebackend.GuestData(1), "guest-1", "guest", g)
		})

		t.Run("error on a protected path is not forwarded", func(t *testing.T) {
			rq := testkit.API("/private/x").Cookie(testkit.UserCookie, downTok)
			rq.Header, rq.RawKeys = forgedHeaders(testkit.IdentityHeaders[:4], true)
			r := e.do(t, plain, rq)
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
		})
	})
}

// TestConfiguredHeaderNames: the configured names are the ones set and
// stripped (with their aliases).
func TestConfiguredHeaderNames(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("bob")
		bob := fakebackend.UserData(7, "user", nil)
		e.be.SetUser(tok, bob)
		names := []string{"X-User", "X-User-Id", "X-Token-Type", "X-New-Token"}
		h := e.handler(t, e.opts(m{"headers": m{
			"user": names[0], "userId": names[1], "tokenType": names[2], "refreshedToken": names[3],
		}}))

		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"anonymous", testkit.Page("/")},
			{"valid user", testkit.Page("/").Cookie(testkit.UserCookie, tok)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				rq := tc.rq
				rq.Header, rq.RawKeys = forgedHeaders(names, true)
				r := e.do(t, h, rq)
				testkit.WantForwarded(t, r)
				got := testkit.IdentityValues(r.Upstream, append(names, testkit.HeaderAuthz))
				if tc.rq.Cookies == nil {
					if len(got) > 0 {
						t.Errorf("upstream identity headers: got %v, want none", got)
					}
					return
				}
				testkit.WantUserHeader(t, got[names[0]], bob)
				for _, c := range []struct {
					name string
					want []string
				}{
					{names[1], []string{"7"}},
					{names[2], []string{"user"}},
					{names[3], nil},
					{testkit.HeaderAuthz, []string{"Bearer " + tok}},
				} {
					if len(got[c.name]) != len(c.want) || (len(c.want) == 1 && got[c.name][0] != c.want[0]) {
						t.Errorf("upstream %s: got %q, want %q", c.name, got[c.name], c.want)
					}
				}
			})
		}
	})
}

// TestForwardAuthorizationOff: with headers.forwardAuthorization=false the
// plugin neither sets nor strips Authorization (the app's own scheme
// passes through), and still sets the user headers.
func TestForwardAuthorizationOff(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		tok := fakebackend.Token("carol")
		carol := fakebackend.UserData("u-carol", "user", nil)
		e.be.SetUser(tok, carol)
		h := e.handler(t, e.opts(m{"headers": m{"forwardAuthorization": "false"}}))

		rq := testkit.Page("/").Cookie(testkit.UserCookie, tok)
		rq.Header = http.Header{"Authorization": {"Basic YXBwOmFwcA=="}}
		r := e.do(t, h, rq)
		testkit.WantForwarded(t, r)
		if got := r.Upstream.Values("Authorization"); len(got) != 1 || got[0] != "Basic YXBwOmFwcA==" {
			t.Errorf("upstream Authorization: got %q, want the client's own [\"Basic YXBwOmFwcA==\"]", got)
		}
		if got := r.Upstream.Get(testkit.HeaderUserID); got != "u-carol" {
			t.Errorf("upstream %s: got %q, want %q", testkit.HeaderUserID, got, "u-carol")
		}
	})
}

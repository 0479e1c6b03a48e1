package contract

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
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
		lower := normHeader(n)
		under := replaceDash(n, "_")
		dot := replaceDash(lower, ".")
		header.Add(n, forged)
		header.Add(lower, forged)
		header.Add(under, forged)
		header.Add(dot, forged)
		raw[replaceDash(upperOdd(lower), "_")] = forged
		raw[upperOdd(lower)] = forged
	}
	if withAuthz {
		header.Add("Authorization", "Bearer forged-by-client")
		raw["authORIZATION"] = "Bearer forged-by-client-2"
	}
	return header, raw
}

func replaceDash(s, with string) string {
	out := []byte(s)
	for i := range out {
		if out[i] == '-' {
			out[i] = with[0]
		}
	}
	return string(out)
}

// upperOdd upper-cases every other letter: x-aUtH-UsEr.
func upperOdd(s string) string {
	out := []byte(s)
	for i := range out {
		if i%2 == 1 && out[i] >= 'a' && out[i] <= 'z' {
			out[i] -= 'a' - 'A'
		}
	}
	return string(out)
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

		routes := m{"routes": m{"excluded": list("/static"), "protected": list("/private")}}
		plain := e.handler(t, e.opts(routes))

		tests := []struct {
			desc string
			rq   request
			// check runs after the forwarded-request checks.
			check func(t *testing.T, r *result)
		}{
			{"excluded path", page("/static/app.js").cookie(userCookie, userTok), func(t *testing.T, r *result) {
				wantAnonymous(t, r)
			}},
			{"public path, anonymous", page("/"), func(t *testing.T, r *result) {
				wantAnonymous(t, r)
			}},
			{"valid user", page("/").cookie(userCookie, userTok), func(t *testing.T, r *result) {
				wantIdentity(t, r, userTok, alice, "u-alice", "user", "")
			}},
			{"refreshed user", page("/").cookie(userCookie, expiredTok), func(t *testing.T, r *result) {
				wantIdentity(t, r, newTok, alice, "u-alice", "user", newTok)
			}},
			{"backend error on a public path", page("/").cookie(userCookie, downTok), func(t *testing.T, r *result) {
				wantAnonymous(t, r)
			}},
		}
		for _, tc := range tests {
			t.Run(tc.desc, func(t *testing.T) {
				rq := tc.rq
				rq.header, rq.rawKeys = forgedHeaders(identityHeaders[:4], true)
				tc.check(t, e.do(t, plain, rq))
			})
		}

		t.Run("guest", func(t *testing.T) {
			h := e.handler(t, e.opts(routes, e.guestOpts()))
			rq := page("/")
			rq.header, rq.rawKeys = forgedHeaders(identityHeaders[:4], true)
			r := e.do(t, h, rq)
			g := fakebackend.GuestToken(1)
			wantIdentity(t, r, g, fakebackend.GuestData(1), "guest-1", "guest", g)
		})

		t.Run("error on a protected path is not forwarded", func(t *testing.T) {
			rq := api("/private/x").cookie(userCookie, downTok)
			rq.header, rq.rawKeys = forgedHeaders(identityHeaders[:4], true)
			r := e.do(t, plain, rq)
			wantNotForwarded(t, r)
			wantJSONError(t, r, http.StatusServiceUnavailable)
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
			rq   request
		}{
			{"anonymous", page("/")},
			{"valid user", page("/").cookie(userCookie, tok)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				rq := tc.rq
				rq.header, rq.rawKeys = forgedHeaders(names, true)
				r := e.do(t, h, rq)
				wantForwarded(t, r)
				got := identityValues(r.upstream, append(names, hAuthz))
				if tc.rq.cookies == nil {
					if len(got) > 0 {
						t.Errorf("upstream identity headers: got %v, want none", got)
					}
					return
				}
				wantUserHeader(t, got[names[0]], bob)
				for _, c := range []struct {
					name string
					want []string
				}{
					{names[1], []string{"7"}},
					{names[2], []string{"user"}},
					{names[3], nil},
					{hAuthz, []string{"Bearer " + tok}},
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

		rq := page("/").cookie(userCookie, tok)
		rq.header = http.Header{"Authorization": {"Basic YXBwOmFwcA=="}}
		r := e.do(t, h, rq)
		wantForwarded(t, r)
		if got := r.upstream.Values("Authorization"); len(got) != 1 || got[0] != "Basic YXBwOmFwcA==" {
			t.Errorf("upstream Authorization: got %q, want the client's own [\"Basic YXBwOmFwcA==\"]", got)
		}
		if got := r.upstream.Get(hUserID); got != "u-carol" {
			t.Errorf("upstream %s: got %q, want %q", hUserID, got, "u-carol")
		}
	})
}

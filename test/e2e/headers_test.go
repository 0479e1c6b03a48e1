package e2e

import (
	"net/http"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// forgedHeaders returns client copies of the identity headers in names
// (and Authorization) in the canonical spelling and in every alias a
// framework folds into it: any case, '_' or '.' for '-'. Raw entries are
// sent under exactly their key (Go's client does not canonicalise them,
// and Traefik's server keeps what it cannot canonicalise).
func forgedHeaders(names []string) (header http.Header, raw map[string]string) {
	header = http.Header{}
	raw = map[string]string{}
	forged := "eyJpZCI6ImFkbWluIiwicm9sZSI6ImFkbWluIn0=" // {"id":"admin","role":"admin"}
	for _, n := range names {
		lower := testkit.NormHeader(n)
		header.Add(n, forged)
		header.Add(testkit.ReplaceDash(n, "_"), forged)
		header.Add(testkit.ReplaceDash(lower, "."), forged)
		raw[testkit.ReplaceDash(testkit.UpperOdd(lower), "_")] = forged
		raw[testkit.UpperOdd(lower)] = forged
		raw[testkit.ReplaceDash(lower, ".")] = forged
		raw[testkit.ReplaceDash(lower, "_")] = forged
	}
	header.Add("Authorization", "Bearer forged-by-client")
	raw["authORIZATION"] = "Bearer forged-by-client-2"
	return header, raw
}

// TestIdentityHeaders: whatever identity headers a client sends, under any
// alias (X-Auth-User, x-auth-user, X_Auth_User, x.auth.user, …), the app
// behind Traefik sees only authlayer's, on every path; configured names
// are the ones set and stripped.
func TestIdentityHeaders(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	routes := m{"routes": m{"excluded": testkit.List("/static"), "protected": testkit.List("/private")}}
	custom := []string{"X-User", "X-User-Id", "X-Token-Type", "X-New-Token"}
	s.deploy(t, sites{
		"plain": routes,
		"guests": {"routes": routes["routes"],
			"guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}},
		"custom":  m{"headers": m{"user": custom[0], "userId": custom[1], "tokenType": custom[2], "refreshedToken": custom[3]}},
		"noauthz": m{"headers": m{"forwardAuthorization": "false"}},
	})

	alice := fakebackend.UserData("u-alice", "user", nil)
	userTok := fakebackend.Token("alice")
	s.be.SetUser(userTok, alice)
	expiredTok := fakebackend.Token("expired")
	newTok := fakebackend.Token("renewed")
	s.be.SetValidate(expiredTok, fakebackend.Unauthorized())
	s.be.RefreshTo(expiredTok, newTok, "", alice)
	downTok := fakebackend.Token("backend-down")
	s.be.SetValidate(downTok, fakebackend.Status(http.StatusServiceUnavailable))

	forge := func(rq testkit.Request) testkit.Request {
		rq.Header, rq.RawKeys = forgedHeaders(testkit.IdentityHeaders[:4])
		return rq
	}
	for _, tc := range []struct {
		desc  string
		rq    testkit.Request
		check func(t *testing.T, r *testkit.Result)
	}{
		{"excluded path", page("plain", "/static/app.js").Cookie(testkit.UserCookie, userTok), func(t *testing.T, r *testkit.Result) {
			testkit.WantAnonymous(t, r)
		}},
		{"public path, anonymous", page("plain", "/"), func(t *testing.T, r *testkit.Result) {
			testkit.WantAnonymous(t, r)
		}},
		{"valid user", page("plain", "/private").Cookie(testkit.UserCookie, userTok), func(t *testing.T, r *testkit.Result) {
			testkit.WantIdentity(t, r, userTok, alice, "u-alice", "user", "")
		}},
		{"refreshed user", page("plain", "/").Cookie(testkit.UserCookie, expiredTok), func(t *testing.T, r *testkit.Result) {
			testkit.WantIdentity(t, r, newTok, alice, "u-alice", "user", newTok)
		}},
		{"backend error on a public path", page("plain", "/").Cookie(testkit.UserCookie, downTok), func(t *testing.T, r *testkit.Result) {
			testkit.WantAnonymous(t, r)
		}},
		{"minted guest", page("guests", "/"), func(t *testing.T, r *testkit.Result) {
			testkit.WantMintedGuest(t, s.be, r)
		}},
		{"backend error on a protected path", api("plain", "/private/x").Cookie(testkit.UserCookie, downTok), func(t *testing.T, r *testkit.Result) {
			testkit.WantNotForwarded(t, r)
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.check(t, s.do(t, forge(tc.rq)))
		})
	}

	t.Run("the aliases reach Traefik's upstream when authlayer is not in front", func(t *testing.T) {
		// Proves the test can fail: without the middleware every forged
		// spelling arrives.
		s.deployWith(t, s.sites, m{"routers": m{"bare": m{
			"rule": "Host(`bare.test`)", "entryPoints": []string{"web"}, "service": "upstream",
		}}})
		r := s.do(t, forge(page("bare", "/")))
		testkit.WantForwarded(t, r)
		got := testkit.IdentityValues(r.Upstream, testkit.IdentityHeaders)
		for _, n := range testkit.IdentityHeaders[:4] {
			if len(got[n]) < 5 {
				t.Errorf("upstream %s without authlayer: got %q, want the forged spellings", n, got[n])
			}
		}
	})

	t.Run("configured header names", func(t *testing.T) {
		bob := fakebackend.UserData(7, "user", nil)
		tok := fakebackend.Token("bob")
		s.be.SetUser(tok, bob)
		rq := page("custom", "/").Cookie(testkit.UserCookie, tok)
		rq.Header, rq.RawKeys = forgedHeaders(custom)
		r := s.do(t, rq)
		testkit.WantForwarded(t, r)
		got := testkit.IdentityValues(r.Upstream, append(append([]string(nil), custom...), testkit.HeaderAuthz))
		testkit.WantUserHeader(t, got[custom[0]], bob)
		for _, c := range []struct {
			name string
			want []string
		}{
			{custom[1], []string{"7"}},
			{custom[2], []string{"user"}},
			{custom[3], nil},
			{testkit.HeaderAuthz, []string{"Bearer " + tok}},
		} {
			if len(got[c.name]) != len(c.want) || (len(c.want) == 1 && got[c.name][0] != c.want[0]) {
				t.Errorf("upstream %s: got %q, want %q", c.name, got[c.name], c.want)
			}
		}
	})

	t.Run("forwardAuthorization off keeps the client's Authorization", func(t *testing.T) {
		carol := fakebackend.UserData("u-carol", "user", nil)
		tok := fakebackend.Token("carol")
		s.be.SetUser(tok, carol)
		r := s.do(t, page("noauthz", "/").Cookie(testkit.UserCookie, tok).WithHeader("Authorization", "Basic YXBwOmFwcA=="))
		testkit.WantForwarded(t, r)
		if got := r.Upstream.Values("Authorization"); len(got) != 1 || got[0] != "Basic YXBwOmFwcA==" {
			t.Errorf("upstream Authorization: got %q, want the client's own", got)
		}
		if got := r.Upstream.Get(testkit.HeaderUserID); got != "u-carol" {
			t.Errorf("upstream %s: got %q, want u-carol", testkit.HeaderUserID, got)
		}
	})
}

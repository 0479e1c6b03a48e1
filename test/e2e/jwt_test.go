package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Local JWT verification through a real Traefik: with configured keys
// and with a JWKS, the modes, and the JWKS across a reload.

func TestJWT(t *testing.T) {
	s := start(t, traefikrun.Options{})
	k := jwtkit.Generate(t)
	is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.P256.PublicKey, Kid: "issuer-1", Alg: "ES256"})
	is.Delay(200 * time.Millisecond)
	jwtSite := func(jwt m) m {
		return m{
			"jwt":     jwt,
			"headers": m{"verifiedBy": testkit.HeaderVerifiedBy},
			"routes":  m{"protected": testkit.List("/account", "/api/account")},
			"cookies": m{"refresh": testkit.RefreshCookie},
		}
	}
	pems := testkit.List(
		jwtkit.PEM(t, &k.RSA.PublicKey, "rsa"), jwtkit.PEM(t, &k.P256.PublicKey, "p256"),
		jwtkit.PEM(t, &k.P384.PublicKey, "p384"), jwtkit.PEM(t, &k.P521.PublicKey, "p521"),
		jwtkit.PEM(t, k.EdPub, "ed"),
	)
	ss := sites{
		"local":    jwtSite(m{"enabled": "true", "secret": jwtkit.Secret, "publicKeys": pems}),
		"jwks":     jwtSite(m{"enabled": "true", "jwksUrl": is.URL(), "jwksMinRefreshInterval": "300ms"}),
		"fallback": jwtSite(m{"enabled": "true", "mode": "fallback", "publicKeys": pems}),
		"reval":    jwtSite(m{"enabled": "true", "mode": "revalidate", "revalidateInterval": "1h", "publicKeys": pems}),
	}
	s.deploy(t, ss)
	if is.Fetches() != 0 {
		t.Fatalf("deploying fetched the JWKS %d times", is.Fetches())
	}

	t.Run("every algorithm verifies locally, no backend call", func(t *testing.T) {
		for _, alg := range []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"} {
			kid := map[string]string{"RS": "rsa", "PS": "rsa", "Ed": "ed", "HS": ""}[alg[:2]]
			if alg[:2] == "ES" {
				kid = map[string]string{"ES256": "p256", "ES384": "p384", "ES512": "p521"}[alg]
			}
			claims := jwtkit.Std("u-"+alg, "user")
			tok := jwtkit.Sign(t, alg, k.Signer(alg), kid, claims)
			r := s.do(t, page("local", "/account").Cookie(testkit.UserCookie, tok))
			testkit.WantIdentity(t, r, tok, claims.Data(t), "u-"+alg, "user", "")
			testkit.WantVerifiedBy(t, r, "local")
		}
		if n := s.be.Count(fakebackend.Validate); n != 0 {
			t.Errorf("validate calls: %d, want 0", n)
		}
	})

	t.Run("forged and confused tokens are refused without a validation call", func(t *testing.T) {
		good := jwtkit.Std("u-1", "user")
		for name, tok := range map[string]string{
			"foreign RSA key":         jwtkit.Sign(t, "RS256", k.RSA2, "rsa", good),
			"HS256 keyed with a PEM":  jwtkit.Sign(t, "HS256", []byte(jwtkit.PEM(t, &k.RSA.PublicKey, "")), "", good),
			"kid of another key type": jwtkit.Sign(t, "ES256", k.P256, "rsa", good),
			"alg none":                jwtkit.Segment([]byte(`{"alg":"none"}`)) + "." + jwtkit.Segment([]byte(`{"sub":"admin","type":"user","exp":9999999999}`)) + ".",
			"duplicate claim":         jwtkit.SignJSON(t, "EdDSA", k.Ed, `{"alg":"EdDSA","kid":"ed"}`, `{"sub":"u-1","sub":"admin","type":"user","exp":9999999999}`),
			"expired":                 jwtkit.Sign(t, "EdDSA", k.Ed, "ed", good.With(jwtkit.Claims{"exp": time.Now().Add(-time.Hour).Unix()})),
		} {
			r := s.do(t, api("local", "/api/account").Cookie(testkit.UserCookie, tok))
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
			if s.be.CountFor(fakebackend.Validate, tok) != 0 {
				t.Errorf("%s: sent to the validate endpoint", name)
			}
		}
	})

	t.Run("an expired genuine token goes straight to refresh", func(t *testing.T) {
		expired := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", jwtkit.Std("u-2", "user").With(jwtkit.Claims{"exp": time.Now().Add(-time.Minute).Unix()}))
		fresh := jwtkit.Std("u-2", "user")
		next := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", fresh)
		s.be.SetRefresh("e2e-refresh-2", fakebackend.Refreshed(next, ""))
		r := s.do(t, page("local", "/account").Cookie(testkit.UserCookie, expired).Cookie(testkit.RefreshCookie, "e2e-refresh-2"))
		testkit.WantIdentity(t, r, next, fresh.Data(t), "u-2", "user", next)
		testkit.WantCookieSet(t, r, testkit.UserCookie, next)
		if s.be.CountFor(fakebackend.Validate, expired)+s.be.CountFor(fakebackend.Validate, next) != 0 {
			t.Errorf("validation calls for the expired or the new token")
		}
	})

	t.Run("fallback sends an unknown kid to the backend; revalidate confirms once", func(t *testing.T) {
		foreign := jwtkit.Sign(t, "RS256", k.RSA2, "elsewhere", jwtkit.Std("u-fb", "user"))
		data := fakebackend.UserData("u-fb", "user", nil)
		s.be.SetUser(foreign, data)
		r := s.do(t, page("fallback", "/account").Cookie(testkit.UserCookie, foreign))
		testkit.WantIdentity(t, r, foreign, data, "u-fb", "user", "")
		testkit.WantVerifiedBy(t, r, "backend")

		claims := jwtkit.Std("u-rv", "user")
		tok := jwtkit.Sign(t, "ES384", k.P384, "p384", claims)
		s.be.SetUser(tok, fakebackend.UserData("u-rv", "user", nil))
		for i := 0; i < 3; i++ {
			testkit.WantIdentity(t, s.do(t, page("reval", "/account").Cookie(testkit.UserCookie, tok)), tok, claims.Data(t), "u-rv", "user", "")
		}
		if n := s.be.CountFor(fakebackend.Validate, tok); n != 1 {
			t.Errorf("revalidate: validate calls %d, want 1", n)
		}
	})

	t.Run("JWKS: one fetch for a burst, rotation, kept across a reload", func(t *testing.T) {
		refreshesBefore := s.be.Count(fakebackend.Refresh)
		const n = 16
		reqs := make([]testkit.Request, n)
		for i := range reqs {
			tok := jwtkit.Sign(t, "ES256", k.P256, "issuer-1", jwtkit.Std(fmt.Sprintf("u-burst-%d", i), "user"))
			reqs[i] = page("jwks", "/account").Cookie(testkit.UserCookie, tok)
		}
		results := make(chan *testkit.Result, n)
		for _, rq := range reqs {
			go func(rq testkit.Request) {
				r, err := s.send(rq)
				if err != nil {
					r = nil
				}
				results <- r
			}(rq)
		}
		for i := 0; i < n; i++ {
			r := <-results
			if r == nil || r.Code != http.StatusOK || r.Upstream == nil {
				t.Fatalf("burst request %d failed: %+v", i, r)
			}
		}
		if is.Fetches() != 1 {
			t.Errorf("fetches for a burst of %d first requests: %d, want 1", n, is.Fetches())
		}

		// A reload that changes another option keeps the fetched keys.
		changed := sites{}
		for name, o := range ss {
			changed[name] = o
		}
		changed["jwks"] = jwtSite(m{"enabled": "true", "jwksUrl": is.URL(), "jwksMinRefreshInterval": "300ms", "leeway": "10s"})
		s.deploy(t, changed)
		tok := jwtkit.Sign(t, "ES256", k.P256, "issuer-1", jwtkit.Std("u-after-reload", "user"))
		testkit.WantVerifiedBy(t, s.do(t, page("jwks", "/account").Cookie(testkit.UserCookie, tok)), "local")
		if is.Fetches() != 1 {
			t.Errorf("fetches after a reload: %d, want 1 (the keys are kept)", is.Fetches())
		}

		is.Delay(0)
		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "issuer-2"}, jwtkit.JWK{Pub: &k.P256.PublicKey, Kid: "issuer-1", Alg: "ES256"})
		time.Sleep(350 * time.Millisecond)
		rotated := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-2", jwtkit.Std("u-rotated", "user"))
		testkit.WantVerifiedBy(t, s.do(t, page("jwks", "/account").Cookie(testkit.UserCookie, rotated)), "local")

		is.Fail(http.StatusBadGateway)
		time.Sleep(350 * time.Millisecond)
		unknown := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-3", jwtkit.Std("u-unknown", "user"))
		r := s.do(t, page("jwks", "/account").Cookie(testkit.UserCookie, unknown).Cookie(testkit.RefreshCookie, "e2e-keep"))
		if r.Code != http.StatusServiceUnavailable || r.Upstream != nil {
			t.Errorf("a new kid with the JWKS down: got %d (forwarded %v), want 503", r.Code, r.Upstream != nil)
		}
		testkit.WantNoCookieClearing(t, r)
		still := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-2", jwtkit.Std("u-still", "user"))
		testkit.WantVerifiedBy(t, s.do(t, page("jwks", "/account").Cookie(testkit.UserCookie, still)), "local")
		if n := s.be.Count(fakebackend.Refresh) - refreshesBefore; n != 0 {
			t.Errorf("refresh calls during the JWKS tests: %d, want 0", n)
		}
	})
}

// TestJWTKeysByKidAndTheJWKSBudget, in a real Traefik: a key without a
// kid checks only tokens without one (logged once, without the kid); with
// the default 30s jwksMinRefreshInterval, a key published right after a
// fetch is learned within seconds, and a refetch that failed is retried
// seconds after the issuer is back; a proactive window wider than the
// tokens' lifetime refreshes them halfway, not on every request, and says
// so in Traefik's log.
func TestJWTKeysByKidAndTheJWKSBudget(t *testing.T) {
	s := start(t, traefikrun.Options{})
	k := jwtkit.Generate(t)
	is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
	jwtSite := func(jwt m) m {
		return m{
			"jwt":     jwt,
			"headers": m{"verifiedBy": testkit.HeaderVerifiedBy},
			"routes":  m{"protected": testkit.List("/account", "/api/account")},
			"cookies": m{"refresh": testkit.RefreshCookie},
		}
	}
	s.deploy(t, sites{
		"kidless": jwtSite(m{"enabled": "true", "publicKeys": testkit.List(jwtkit.PEM(t, k.EdPub, ""), jwtkit.PEM(t, &k.P256.PublicKey, "p256"))}),
		"jwks":    jwtSite(m{"enabled": "true", "jwksUrl": is.URL()}), // jwksMinRefreshInterval: the default 30s
		"early": {
			"refresh": m{"proactiveWindow": "60s"},
			"cookies": m{"refresh": testkit.RefreshCookie},
			"routes":  m{"protected": testkit.List("/account")},
		},
	})

	t.Run("a key without a kid checks only tokens without one", func(t *testing.T) {
		claims := jwtkit.Std("u-kidless", "user")
		kidless := jwtkit.Sign(t, "EdDSA", k.Ed, "", claims)
		r := s.do(t, page("kidless", "/account").Cookie(testkit.UserCookie, kidless))
		testkit.WantIdentity(t, r, kidless, claims.Data(t), "u-kidless", "user", "")
		testkit.WantVerifiedBy(t, r, "local")
		for _, kid := range []string{"rotated-e2e", "p256"} {
			named := jwtkit.Sign(t, "EdDSA", k.Ed, kid, jwtkit.Std("u-named", "user"))
			r = s.do(t, api("kidless", "/api/account").Cookie(testkit.UserCookie, named))
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
			if s.be.CountFor(fakebackend.Validate, named) != 0 {
				t.Errorf("kid %s: sent to the validate endpoint", kid)
			}
		}
		line := s.tr.WaitLog(t, regexp.MustCompile(`a key without a kid checks only tokens without one`), 5*time.Second)
		if !strings.Contains(line, "jwt.publicKeys") || strings.Contains(s.tr.Logs(), "rotated-e2e") {
			t.Errorf("log line %q: want it to name jwt.publicKeys, and no kid in the log", line)
		}
	})

	t.Run("a key published right after a fetch is learned within seconds", func(t *testing.T) {
		old := jwtkit.Sign(t, "RS256", k.RSA, "old", jwtkit.Std("u-old", "user"))
		testkit.WantVerifiedBy(t, s.do(t, page("jwks", "/account").Cookie(testkit.UserCookie, old)), "local")
		if is.Fetches() != 1 {
			t.Fatalf("fetches: %d, want 1", is.Fetches())
		}
		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "new"}, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		fresh := jwtkit.Sign(t, "EdDSA", k.Ed, "new", jwtkit.Std("u-new", "user"))
		t.Logf("learned after %s", pollUntilVerified(t, s, "jwks", fresh).Round(10*time.Millisecond))
		if is.Fetches() != 2 {
			t.Errorf("fetches: %d, want 2", is.Fetches())
		}
	})

	t.Run("a failed refetch is retried seconds after the issuer is back", func(t *testing.T) {
		is.Fail(http.StatusBadGateway)
		newer := jwtkit.Sign(t, "EdDSA", k.Ed, "newer", jwtkit.Std("u-newer", "user"))
		deadline := time.Now().Add(jwksWait)
		for is.Fetches() < 3 && time.Now().Before(deadline) {
			r := s.do(t, api("jwks", "/api/account").Cookie(testkit.UserCookie, newer).Cookie(testkit.RefreshCookie, "e2e-keep"))
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
			testkit.WantNoCookieClearing(t, r)
			time.Sleep(200 * time.Millisecond)
		}
		if is.Fetches() != 3 {
			t.Fatalf("no refetch for the new kid within %s", jwksWait)
		}
		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "newer"}, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		t.Logf("learned %s after the issuer came back", pollUntilVerified(t, s, "jwks", newer).Round(10*time.Millisecond))
	})

	t.Run("a proactive window wider than the lifetime refreshes halfway", func(t *testing.T) {
		const life = 30 * time.Second
		expiring := func(d time.Duration) map[string]interface{} {
			data := fakebackend.UserData("u-early", "user", nil)
			data["exp"] = time.Now().Add(d).Unix()
			return data
		}
		first := fakebackend.Token("e2e-early-first")
		s.be.SetUser(first, expiring(life))
		next := fakebackend.Token("e2e-early-next")
		nextData := expiring(life)
		s.be.RefreshTo("e2e-early-refresh", next, "e2e-early-refresh-2", nextData)
		s.be.RefreshTo("e2e-early-refresh-2", fakebackend.Token("e2e-early-again"), "e2e-early-refresh-3", expiring(life))
		before := s.be.Count(fakebackend.Refresh)
		// first has no iat and was not handed out by a proactive refresh:
		// its age is unknown, so it is refreshed.
		r := s.do(t, page("early", "/account").Cookie(testkit.UserCookie, first).Cookie(testkit.RefreshCookie, "e2e-early-refresh"))
		testkit.WantIdentity(t, r, next, nextData, "u-early", "user", next)
		for i := 0; i < 5; i++ {
			r = s.do(t, page("early", "/account").Cookie(testkit.UserCookie, next).Cookie(testkit.RefreshCookie, "e2e-early-refresh-2"))
			testkit.WantIdentity(t, r, next, nextData, "u-early", "user", "")
		}
		if n := s.be.Count(fakebackend.Refresh) - before; n != 1 {
			t.Errorf("refresh calls: %d, want 1 (not one per request)", n)
		}
		line := s.tr.WaitLog(t, regexp.MustCompile(`refresh\.proactiveWindow \(1m0s\) covers the whole lifetime`), 5*time.Second)
		if strings.Contains(line, next) {
			t.Error("the log line holds a token")
		}
	})
}

// jwksWait bounds how long a new kid may take to be learned: one refetch
// spacing (5s) and margin, well under the 30s interval it used to take.
const jwksWait = 9 * time.Second

// pollUntilVerified sends tok to site's protected API every 200ms until it
// is served, within jwksWait; every answer before is 503, never forwarded.
func pollUntilVerified(t *testing.T, s *suite, site, tok string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < jwksWait {
		r := s.do(t, api(site, "/api/account").Cookie(testkit.UserCookie, tok))
		if r.Code == http.StatusOK {
			testkit.WantVerifiedBy(t, r, "local")
			return time.Since(start)
		}
		if r.Code != http.StatusServiceUnavailable || r.Upstream != nil {
			t.Fatalf("a token with a newly published kid: %d (forwarded %v), want 503 until the key is learned", r.Code, r.Upstream != nil)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("a token with a newly published kid was not verified within %s", jwksWait)
	return 0
}

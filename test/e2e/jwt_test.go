package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Issue 9 through a real Traefik: local verification with configured keys
// and with a JWKS, the modes, and the JWKS across a reload.

const hVerified = "X-Auth-Verified-By"

func wantVerifiedBy(t *testing.T, r *result, want string) {
	t.Helper()
	if got := r.upstream.Values(hVerified); len(got) != 1 || got[0] != want {
		t.Errorf("upstream %s: got %q, want %q", hVerified, got, want)
	}
}

func TestJWT(t *testing.T) {
	s := start(t, traefikrun.Options{})
	k := jwtkit.Generate(t)
	is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.P256.PublicKey, Kid: "issuer-1", Alg: "ES256"})
	is.Delay(200 * time.Millisecond)
	jwtSite := func(jwt m) m {
		return m{
			"jwt":     jwt,
			"headers": m{"verifiedBy": hVerified},
			"routes":  m{"protected": list("/account", "/api/account")},
			"cookies": m{"refresh": refreshCookie},
		}
	}
	pems := list(
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
			r := s.do(t, page("local", "/account").cookie(userCookie, tok))
			wantIdentity(t, r, tok, claims.Data(t), "u-"+alg, "user", "")
			wantVerifiedBy(t, r, "local")
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
			r := s.do(t, api("local", "/api/account").cookie(userCookie, tok))
			wantJSONError(t, r, http.StatusUnauthorized)
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
		r := s.do(t, page("local", "/account").cookie(userCookie, expired).cookie(refreshCookie, "e2e-refresh-2"))
		wantIdentity(t, r, next, fresh.Data(t), "u-2", "user", next)
		wantCookieSet(t, r, userCookie, next)
		if s.be.CountFor(fakebackend.Validate, expired)+s.be.CountFor(fakebackend.Validate, next) != 0 {
			t.Errorf("validation calls for the expired or the new token")
		}
	})

	t.Run("fallback sends an unknown kid to the backend; revalidate confirms once", func(t *testing.T) {
		foreign := jwtkit.Sign(t, "RS256", k.RSA2, "elsewhere", jwtkit.Std("u-fb", "user"))
		data := fakebackend.UserData("u-fb", "user", nil)
		s.be.SetUser(foreign, data)
		r := s.do(t, page("fallback", "/account").cookie(userCookie, foreign))
		wantIdentity(t, r, foreign, data, "u-fb", "user", "")
		wantVerifiedBy(t, r, "backend")

		claims := jwtkit.Std("u-rv", "user")
		tok := jwtkit.Sign(t, "ES384", k.P384, "p384", claims)
		s.be.SetUser(tok, fakebackend.UserData("u-rv", "user", nil))
		for i := 0; i < 3; i++ {
			wantIdentity(t, s.do(t, page("reval", "/account").cookie(userCookie, tok)), tok, claims.Data(t), "u-rv", "user", "")
		}
		if n := s.be.CountFor(fakebackend.Validate, tok); n != 1 {
			t.Errorf("revalidate: validate calls %d, want 1", n)
		}
	})

	t.Run("JWKS: one fetch for a burst, rotation, kept across a reload", func(t *testing.T) {
		refreshesBefore := s.be.Count(fakebackend.Refresh)
		const n = 16
		reqs := make([]request, n)
		for i := range reqs {
			tok := jwtkit.Sign(t, "ES256", k.P256, "issuer-1", jwtkit.Std(fmt.Sprintf("u-burst-%d", i), "user"))
			reqs[i] = page("jwks", "/account").cookie(userCookie, tok)
		}
		results := make(chan *result, n)
		for _, rq := range reqs {
			go func(rq request) {
				r, err := s.send(rq)
				if err != nil {
					r = nil
				}
				results <- r
			}(rq)
		}
		for i := 0; i < n; i++ {
			r := <-results
			if r == nil || r.code != http.StatusOK || r.upstream == nil {
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
		wantVerifiedBy(t, s.do(t, page("jwks", "/account").cookie(userCookie, tok)), "local")
		if is.Fetches() != 1 {
			t.Errorf("fetches after a reload: %d, want 1 (the keys are kept)", is.Fetches())
		}

		is.Delay(0)
		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "issuer-2"}, jwtkit.JWK{Pub: &k.P256.PublicKey, Kid: "issuer-1", Alg: "ES256"})
		time.Sleep(350 * time.Millisecond)
		rotated := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-2", jwtkit.Std("u-rotated", "user"))
		wantVerifiedBy(t, s.do(t, page("jwks", "/account").cookie(userCookie, rotated)), "local")

		is.Fail(http.StatusBadGateway)
		time.Sleep(350 * time.Millisecond)
		unknown := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-3", jwtkit.Std("u-unknown", "user"))
		r := s.do(t, page("jwks", "/account").cookie(userCookie, unknown).cookie(refreshCookie, "e2e-keep"))
		if r.code != http.StatusServiceUnavailable || r.upstream != nil {
			t.Errorf("a new kid with the JWKS down: got %d (forwarded %v), want 503", r.code, r.upstream != nil)
		}
		wantNoCookieClearing(t, r)
		still := jwtkit.Sign(t, "EdDSA", k.Ed, "issuer-2", jwtkit.Std("u-still", "user"))
		wantVerifiedBy(t, s.do(t, page("jwks", "/account").cookie(userCookie, still)), "local")
		if n := s.be.Count(fakebackend.Refresh) - refreshesBefore; n != 0 {
			t.Errorf("refresh calls during the JWKS tests: %d, want 0", n)
		}
	})
}

package contract

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
)

// Local JWT verification. Tokens are made with go-jose
// (test/jwtkit), keys generated per test binary.

var jwtAlgorithms = []string{
	"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// kidFor names the configured key that checks alg.
func kidFor(alg string) string {
	switch alg[:2] {
	case "HS":
		return ""
	case "RS", "PS":
		return "rsa"
	case "Ed":
		return "ed"
	}
	return map[string]string{"ES256": "p256", "ES384": "p384", "ES512": "p521"}[alg]
}

// jwtOpts turns local verification on with every test key configured as
// PEM (kids rsa, p256, p384, p521, ed) and the HMAC secret.
func jwtOpts(t *testing.T, extra m) m {
	t.Helper()
	k := jwtkit.Generate(t)
	o := m{
		"jwt": m{
			"enabled": "true",
			"secret":  jwtkit.Secret,
			"publicKeys": testkit.List(
				jwtkit.PEM(t, &k.RSA.PublicKey, "rsa"), jwtkit.PEM(t, &k.P256.PublicKey, "p256"),
				jwtkit.PEM(t, &k.P384.PublicKey, "p384"), jwtkit.PEM(t, &k.P521.PublicKey, "p521"),
				jwtkit.PEM(t, k.EdPub, "ed"),
			),
		},
		"headers": m{"verifiedBy": testkit.HeaderVerifiedBy},
		"routes":  m{"protected": testkit.List("/account", "/api/account")},
	}
	testkit.Merge(o, extra)
	return o
}

// TestJWTLocalVerificationEveryAlgorithm: a token of each algorithm,
// signed by an independent implementation, is a session with no backend
// call; the user object is the claims, the id sub, the type the type
// claim; a second request is served from the cache.
func TestJWTLocalVerificationEveryAlgorithm(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		h := e.handler(t, e.opts(jwtOpts(t, nil)))
		for _, alg := range jwtAlgorithms {
			t.Run(alg, func(t *testing.T) {
				claims := jwtkit.Std("u-"+alg, "user", "editor").With(jwtkit.Claims{"name": "Zoë"})
				tok := jwtkit.Sign(t, alg, k.Signer(alg), kidFor(alg), claims)
				for i := 0; i < 2; i++ {
					r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
					testkit.WantIdentity(t, r, tok, claims.Data(t), "u-"+alg, "user", "")
					testkit.WantVerifiedBy(t, r, "local")
					testkit.WantNoSetCookie(t, r)
				}
			})
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)
	})
}

// TestJWTRefusedLocally: a forged, expired or confused token is invalid
// without a validation call: the flow refreshes (single-token mode: the
// token is the credential) and, refused, sends the user to login.
func TestJWTRefusedLocally(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		h := e.handler(t, e.opts(jwtOpts(t, nil)))
		good := jwtkit.Std("u-1", "user")
		rsaPEM := jwtkit.PEM(t, &k.RSA.PublicKey, "")
		parts := strings.Split(jwtkit.Sign(t, "ES256", k.P256, "p256", good), ".")
		forgedPayload := strings.Split(jwtkit.Sign(t, "ES256", k.P256, "p256", good.With(jwtkit.Claims{"sub": "admin"})), ".")[1]
		cases := map[string]string{
			"payload swapped under a valid signature": parts[0] + "." + forgedPayload + "." + parts[2],
			"expired":                        jwtkit.Sign(t, "EdDSA", k.Ed, "ed", good.With(jwtkit.Claims{"exp": time.Now().Add(-time.Hour).Unix()})),
			"not yet valid":                  jwtkit.Sign(t, "EdDSA", k.Ed, "ed", good.With(jwtkit.Claims{"nbf": time.Now().Add(time.Hour).Unix()})),
			"no exp":                         jwtkit.Sign(t, "EdDSA", k.Ed, "ed", good.With(jwtkit.Claims{"exp": nil})),
			"signed by a foreign RSA key":    jwtkit.Sign(t, "RS256", k.RSA2, "rsa", good),
			"HS256 keyed with the RSA PEM":   jwtkit.Sign(t, "HS256", []byte(rsaPEM), "", good),
			"ES256 kid naming the RSA key":   jwtkit.Sign(t, "ES256", k.P256, "rsa", good),
			"ES384 signed on P-256 (no kid)": signES384OnP256(t, good),
			"extra segment":                  jwtkit.Sign(t, "EdDSA", k.Ed, "ed", good) + ".e30",
		}
		names := make([]string, 0, len(cases))
		for name := range cases {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			tok := cases[name]
			t.Run(name, func(t *testing.T) {
				before := e.be.Count(fakebackend.Refresh)
				r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
				testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
				if e.be.CountFor(fakebackend.Validate, tok) != 0 {
					t.Errorf("the token was sent to the backend's validate endpoint")
				}
				if got := e.be.Count(fakebackend.Refresh) - before; got != 1 {
					t.Errorf("refresh calls: got %d, want 1 (an invalid token is refreshed, as after a backend's 401)", got)
				}
			})
		}
	})
}

// signES384OnP256 signs an ES384 header with the P-256 key: the curve
// does not fit the algorithm (go-jose refuses to make one).
func signES384OnP256(t *testing.T, claims jwtkit.Claims) string {
	return jwtkit.SignRaw(t, "ES384", jwtkit.Generate(t).P256, `{"alg":"ES384","typ":"JWT"}`, claims)
}

// TestJWTExpiredGoesStraightToRefresh: an expired but genuine token is
// refreshed without a validation call; the new token verifies locally.
func TestJWTExpiredGoesStraightToRefresh(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		h := e.handler(t, e.opts(jwtOpts(t, m{"cookies": m{"refresh": testkit.RefreshCookie}})))
		expired := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", jwtkit.Std("u-7", "user").With(jwtkit.Claims{"exp": time.Now().Add(-time.Minute).Unix()}))
		fresh := jwtkit.Std("u-7", "user")
		next := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", fresh)
		e.be.SetRefresh("refresh-7", fakebackend.Refreshed(next, "refresh-7b"))

		r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, expired).Cookie(testkit.RefreshCookie, "refresh-7"))
		testkit.WantIdentity(t, r, next, fresh.Data(t), "u-7", "user", next)
		testkit.WantCookieSet(t, r, testkit.UserCookie, next)
		testkit.WantCookieSet(t, r, testkit.RefreshCookie, "refresh-7b")
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 1)
	})
}

// TestJWTModes: what the backend is still asked in each mode.
func TestJWTModes(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		unknownKid := func(sub string) string { return jwtkit.Sign(t, "RS256", k.RSA2, "rotated", jwtkit.Std(sub, "user")) }

		t.Run("local: an unknown kid is invalid, the backend is not asked", func(t *testing.T) {
			h := e.handler(t, e.opts(jwtOpts(t, nil)))
			tok := unknownKid("u-local")
			e.be.SetUser(tok, fakebackend.UserData("u-local", "user", nil))
			r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok))
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
			if n := e.be.CountFor(fakebackend.Validate, tok); n != 0 {
				t.Errorf("validate calls for the token: %d, want 0", n)
			}
		})

		t.Run("fallback: an unknown kid goes to the backend, a known one does not", func(t *testing.T) {
			h := e.handler(t, e.opts(jwtOpts(t, m{"jwt": m{"mode": "fallback"}})))
			tok := unknownKid("u-fb")
			data := fakebackend.UserData("u-fb", "user", nil)
			e.be.SetUser(tok, data)
			r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
			testkit.WantIdentity(t, r, tok, data, "u-fb", "user", "")
			testkit.WantVerifiedBy(t, r, "backend")
			if n := e.be.CountFor(fakebackend.Validate, tok); n != 1 {
				t.Errorf("validate calls for the unknown-kid token: %d, want 1", n)
			}
			known := jwtkit.Sign(t, "ES256", k.P256, "p256", jwtkit.Std("u-known", "user"))
			testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, known)), "local")
			forged := jwtkit.SignRaw(t, "ES256", k.P384, `{"alg":"ES256","kid":"p256"}`, jwtkit.Std("u-forged", "user"))
			testkit.WantLoginRedirect(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, forged)), http.StatusFound, "/account")
			if e.be.CountFor(fakebackend.Validate, known)+e.be.CountFor(fakebackend.Validate, forged) != 0 {
				t.Errorf("a token checkable here was sent to the backend")
			}
		})

		t.Run("revalidate: confirmed on first use, then once per interval; a no ends it, an outage does not", func(t *testing.T) {
			h := e.handler(t, e.opts(jwtOpts(t, m{"jwt": m{"mode": "revalidate", "revalidateInterval": "300ms"}})))
			claims := jwtkit.Std("u-rv", "user")
			tok := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", claims)
			e.be.SetUser(tok, fakebackend.UserData("someone-else", "admin", nil))
			for i := 0; i < 3; i++ {
				r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
				// The identity is the token's claims, whatever the backend's shape.
				testkit.WantIdentity(t, r, tok, claims.Data(t), "u-rv", "user", "")
				testkit.WantVerifiedBy(t, r, "local")
			}
			if n := e.be.CountFor(fakebackend.Validate, tok); n != 1 {
				t.Fatalf("validate calls within the interval: %d, want 1", n)
			}
			time.Sleep(400 * time.Millisecond)
			e.be.SetValidate(tok, fakebackend.Status(http.StatusServiceUnavailable))
			testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok)), tok, claims.Data(t), "u-rv", "user", "")
			if n := e.be.CountFor(fakebackend.Validate, tok); n != 2 {
				t.Fatalf("validate calls after the interval: %d, want 2", n)
			}
			time.Sleep(400 * time.Millisecond)
			e.be.SetValidate(tok, fakebackend.Unauthorized())
			r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
			testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
		})
	})
}

// TestJWTGuestTokens: minted guest tokens verify locally like any other,
// and a guest token moved into the user cookie is still a guest.
func TestJWTGuestTokens(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		guestClaims := jwtkit.Std("guest-1", "guest")
		guest := jwtkit.Sign(t, "ES256", k.P256, "p256", guestClaims)
		opts := e.opts(jwtOpts(t, e.guestOpts()))
		e.be.SetGuestAnswer(fakebackend.Answer{JSON: map[string]interface{}{"data": map[string]interface{}{"accessToken": guest}}})
		h := e.handler(t, opts)

		r := e.do(t, h, testkit.Page("/"))
		testkit.WantIdentity(t, r, guest, guestClaims.Data(t), "guest-1", "guest", guest)
		testkit.WantCookieSet(t, r, testkit.GuestCookie, guest)
		r = e.do(t, h, testkit.Page("/").Cookie(testkit.GuestCookie, guest))
		testkit.WantIdentity(t, r, guest, guestClaims.Data(t), "guest-1", "guest", "")
		r = e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, guest))
		testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
		testkit.WantCount(t, e.be, fakebackend.Guest, 1)
	})
}

// TestJWTKeysNamedByTheTokenAreIgnored: jku/x5u pointing at an attacker's
// key set are never fetched, and an embedded jwk never trusted.
func TestJWTKeysNamedByTheTokenAreIgnored(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		attacker := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA2.PublicKey, Kid: "evil", Alg: "RS256"})
		h := e.handler(t, e.opts(jwtOpts(t, m{"jwt": m{"mode": "fallback"}})))
		tok := signWithHeader(t, k, `{"alg":"RS256","kid":"rsa","jku":"`+attacker.URL()+`","x5u":"`+attacker.URL()+`"}`)
		r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok))
		testkit.WantJSONError(t, r, http.StatusUnauthorized)
		if attacker.Fetches() != 0 {
			t.Errorf("the key set the token named was fetched %d times", attacker.Fetches())
		}
		if e.be.CountFor(fakebackend.Validate, tok) != 0 {
			t.Errorf("a token with a known kid and a bad signature went to the backend")
		}
	})
}

// signWithHeader signs a raw header (as the attacker writes it) with the
// foreign RSA key.
func signWithHeader(t *testing.T, k *jwtkit.Keys, header string) string {
	return jwtkit.SignRaw(t, "RS256", k.RSA2, header, jwtkit.Std("u-evil", "user"))
}

// TestJWTRefusalsSpendTheBudget: with rate limiting on, tokens refused
// locally spend the client's unknown-token budget and, once it is spent,
// get 429 without being verified; valid tokens never spend it.
func TestJWTRefusalsSpendTheBudget(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		h := e.handler(t, rateOpts(e, m{"requests": "1000", "unknownTokens": "3", "refreshes": "1000"}, jwtOpts(t, nil)))
		const client, other = "198.51.100.70", "198.51.100.71"
		for i := 0; i < 10; i++ {
			tok := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", jwtkit.Std(fmt.Sprintf("u-valid-%d", i), "user"))
			testkit.WantVerifiedBy(t, e.do(t, h, from(testkit.API("/api/account").Cookie(testkit.UserCookie, tok), client)), "local")
		}
		for i := 0; i < 6; i++ {
			forged := jwtkit.Sign(t, "RS256", k.RSA2, "rsa", jwtkit.Std(fmt.Sprintf("u-forged-%d", i), "user"))
			r := e.do(t, h, from(testkit.API("/api/account").Cookie(testkit.UserCookie, forged), client))
			if i < 3 {
				testkit.WantJSONError(t, r, http.StatusUnauthorized)
				continue
			}
			testkit.WantRateLimited(t, r)
		}
		// Over budget, even a valid new token from that client is refused;
		// another client is not affected.
		tok := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", jwtkit.Std("u-late", "user"))
		testkit.WantRateLimited(t, e.do(t, h, from(testkit.API("/api/account").Cookie(testkit.UserCookie, tok), client)))
		testkit.WantVerifiedBy(t, e.do(t, h, from(testkit.API("/api/account").Cookie(testkit.UserCookie, tok), other)), "local")
	})
}

// TestJWTVerifiedByCannotBeSpoofed: the client's own X-Auth-Verified-By,
// under any spelling, never reaches the app.
func TestJWTVerifiedByCannotBeSpoofed(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, e.opts(jwtOpts(t, nil)))
		for _, name := range []string{testkit.HeaderVerifiedBy, "x-auth-verified-by", "X_Auth_Verified_By", "X.Auth.Verified.By"} {
			r := e.do(t, h, testkit.Page("/").WithHeader(name, "local"))
			testkit.WantAnonymous(t, r)
			for k := range r.Upstream {
				if testkit.NormHeader(k) == testkit.NormHeader(testkit.HeaderVerifiedBy) {
					t.Errorf("%s: the client's %s reached the app", name, k)
				}
			}
		}
	})
}

// TestJWTKidlessKeyChecksOnlyKidlessTokens: a token that names a kid is
// checked only by the key with that kid. A configured key without a kid
// verifies tokens without one, and never a token naming any kid, even
// one it signed: local mode refuses it (401, no validation call),
// fallback sends it to the backend. The first such token is logged once,
// naming the option, without the kid.
func TestJWTKidlessKeyChecksOnlyKidlessTokens(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		keys := m{"jwt": m{"secret": nil, "publicKeys": testkit.List(jwtkit.PEM(t, k.EdPub, ""), jwtkit.PEM(t, &k.P256.PublicKey, "p256"))}}
		logs := captureLog(t)
		h := e.handler(t, e.opts(jwtOpts(t, keys)))

		claims := jwtkit.Std("u-kidless", "user")
		kidless := jwtkit.Sign(t, "EdDSA", k.Ed, "", claims)
		r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, kidless))
		testkit.WantIdentity(t, r, kidless, claims.Data(t), "u-kidless", "user", "")
		testkit.WantVerifiedBy(t, r, "local")

		for _, kid := range []string{"ed-2027", "p256"} {
			named := jwtkit.Sign(t, "EdDSA", k.Ed, kid, jwtkit.Std("u-named", "user"))
			r = e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, named))
			testkit.WantJSONError(t, r, http.StatusUnauthorized)
			if e.be.CountFor(fakebackend.Validate, named) != 0 {
				t.Errorf("kid %s: sent to the validate endpoint in local mode", kid)
			}
		}
		other := jwtkit.Sign(t, "EdDSA", k.Ed, "ed-2028", jwtkit.Std("u-named-2", "user"))
		testkit.WantJSONError(t, e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, other)), http.StatusUnauthorized)
		lines, _ := logs.linesSince(0, "a key without a kid checks only tokens without one")
		if len(lines) != 1 || !strings.Contains(lines[0], "jwt.publicKeys") || strings.Contains(lines[0], "ed-202") {
			t.Errorf("log lines about the kid-less key: %q, want one naming jwt.publicKeys, without the kid", lines)
		}

		fb := e.handler(t, e.opts(jwtOpts(t, merged(keys, m{"jwt": m{"mode": "fallback"}}))))
		named := jwtkit.Sign(t, "EdDSA", k.Ed, "ed-2027", jwtkit.Std("u-fb", "user"))
		data := fakebackend.UserData("u-fb", "user", nil)
		e.be.SetUser(named, data)
		r = e.do(t, fb, testkit.Page("/account").Cookie(testkit.UserCookie, named))
		testkit.WantIdentity(t, r, named, data, "u-fb", "user", "")
		testkit.WantVerifiedBy(t, r, "backend")
	})
}

// merged deep-merges overrides onto a copy of base.
func merged(base m, overrides ...m) m {
	out := m{}
	testkit.Merge(out, base)
	for _, o := range overrides {
		testkit.Merge(out, o)
	}
	return out
}

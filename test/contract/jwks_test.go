package contract

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
)

// Local JWT verification with keys from the issuer's JWKS (jwt.jwksUrl).

func jwksOpts(is *jwtkit.Issuer, extra m) m {
	o := m{
		"jwt":     m{"enabled": "true", "jwksUrl": is.URL(), "jwksMinRefreshInterval": "200ms"},
		"headers": m{"verifiedBy": testkit.HeaderVerifiedBy},
		"routes":  m{"protected": testkit.List("/account", "/api/account")},
	}
	testkit.Merge(o, extra)
	return o
}

// TestJWKSFetchedLazilyAndShared: New fetches nothing; the first token
// fetches once; concurrent first requests share that fetch; later tokens
// with known kids fetch nothing.
func TestJWKSFetchedLazilyAndShared(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "k1", Alg: "RS256"}, jwtkit.JWK{Pub: k.EdPub, Kid: "k2"})
		is.Delay(200 * time.Millisecond)
		h := e.handler(t, e.opts(jwksOpts(is, nil)))
		if is.Fetches() != 0 {
			t.Fatalf("New fetched the JWKS %d times", is.Fetches())
		}
		const n = 12
		pending := make([]<-chan testkit.AsyncResult, n)
		for i := range pending {
			tok := jwtkit.Sign(t, "RS256", k.RSA, "k1", jwtkit.Std(fmt.Sprintf("u-%d", i), "user"))
			pending[i] = e.doAsync(h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
		}
		for i, ch := range pending {
			r := await(t, ch, fmt.Sprintf("request %d", i))
			testkit.WantVerifiedBy(t, r, "local")
		}
		if is.Fetches() != 1 {
			t.Errorf("fetches for %d concurrent first requests: %d, want 1", n, is.Fetches())
		}
		is.Delay(0)
		ed := jwtkit.Sign(t, "EdDSA", k.Ed, "k2", jwtkit.Std("u-ed", "user"))
		testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, ed)), "local")
		if is.Fetches() != 1 {
			t.Errorf("fetches after a known kid: %d, want 1", is.Fetches())
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
	})
}

// TestJWKSRotationAndUnknownKids: a new kid triggers one refetch and
// verifies; an unknown kid refetches at most once per
// jwksMinRefreshInterval, however many tokens carry it, and is refused
// (401) when a fresh fetch does not know it, or answered 503 while the
// refetch must wait: never a session.
func TestJWKSRotationAndUnknownKids(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		h := e.handler(t, e.opts(jwksOpts(is, nil))) // jwksMinRefreshInterval 200ms
		old := jwtkit.Sign(t, "RS256", k.RSA, "old", jwtkit.Std("u-old", "user"))
		testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, old)), "local")

		// The issuer rotates, adding a P-256 key: the first token with the
		// new kid fetches the new set.
		is.Publish(t, jwtkit.JWK{Pub: &k.P256.PublicKey, Kid: "new", Alg: "ES256"}, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		time.Sleep(250 * time.Millisecond)
		fresh := jwtkit.Sign(t, "ES256", k.P256, "new", jwtkit.Std("u-new", "user"))
		testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, fresh)), "local")
		if is.Fetches() != 2 {
			t.Fatalf("fetches after the rotation: %d, want 2", is.Fetches())
		}

		// Tokens with a kid the issuer never published.
		time.Sleep(250 * time.Millisecond)
		start := time.Now()
		statuses := map[int]int{}
		for i := 0; i < 20; i++ {
			tok := jwtkit.Sign(t, "RS256", k.RSA2, "nobody", jwtkit.Std(fmt.Sprintf("u-%d", i), "user"))
			r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok))
			statuses[r.Code]++
			if r.Upstream != nil {
				t.Fatalf("an unknown-kid token was forwarded")
			}
		}
		if statuses[http.StatusUnauthorized] < 1 || statuses[http.StatusUnauthorized]+statuses[http.StatusServiceUnavailable] != 20 {
			t.Errorf("statuses for unknown-kid tokens: %v, want 401 after a fresh fetch and 401 or 503 otherwise", statuses)
		}
		if limit := 3 + int(time.Since(start)/(200*time.Millisecond)); is.Fetches() > limit {
			t.Errorf("fetches for 20 unknown-kid tokens: %d, want at most %d (one per 200ms)", is.Fetches(), limit)
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
	})
}

// TestJWKSOutage: with no keys ever fetched, a token cannot be checked:
// protected routes answer 503 and keep the cookies (no refresh, no
// logout); once keys are fetched, an outage keeps them in use.
func TestJWKSOutage(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: k.EdPub, Kid: "ed"})
		is.Fail(http.StatusBadGateway)
		h := e.handler(t, e.opts(jwksOpts(is, m{"jwt": m{"jwksMaxAge": "300ms"}, "cookies": m{"refresh": testkit.RefreshCookie}})))
		claims := jwtkit.Std("u-1", "user")
		tok := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", claims)

		r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok).Cookie(testkit.RefreshCookie, "r-1"))
		testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
		testkit.WantNoCookieClearing(t, r)
		r = e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok).Cookie(testkit.RefreshCookie, "r-1"))
		if r.Code != http.StatusServiceUnavailable || r.Upstream != nil {
			t.Errorf("protected page with the JWKS down: got %d (forwarded %v), want 503 not forwarded", r.Code, r.Upstream != nil)
		}
		testkit.WantNoCookieClearing(t, r)
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)

		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "ed"})
		time.Sleep(250 * time.Millisecond) // past the retry spacing (jwksMinRefreshInterval)
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok)), tok, claims.Data(t), "u-1", "user", "")

		// The keys go stale (jwksMaxAge) while the issuer is down: the
		// last good keys stay in use.
		is.Fail(http.StatusInternalServerError)
		time.Sleep(400 * time.Millisecond)
		other := jwtkit.Std("u-2", "user")
		tok2 := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", other)
		testkit.WantIdentity(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok2)), tok2, other.Data(t), "u-2", "user", "")
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
	})
}

// TestJWKSOutageFallback: in fallback mode a JWKS outage sends tokens to
// the backend instead of failing.
func TestJWKSOutageFallback(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t)
		is.Fail(http.StatusServiceUnavailable)
		h := e.handler(t, e.opts(jwksOpts(is, m{"jwt": m{"mode": "fallback"}})))
		tok := jwtkit.Sign(t, "EdDSA", k.Ed, "ed", jwtkit.Std("u-1", "user"))
		data := fakebackend.UserData("u-1", "user", nil)
		e.be.SetUser(tok, data)
		r := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok))
		testkit.WantIdentity(t, r, tok, data, "u-1", "user", "")
		testkit.WantVerifiedBy(t, r, "backend")
	})
}

// jwksRetry is the plugin's spacing of JWKS fetches for new kids and
// after a failure (internal/jwt/jwks.go); jwksWait bounds how long a test waits for a
// key to be learned: well under the 30s interval it used to take.
const (
	jwksRetry = 5 * time.Second
	jwksWait  = jwksRetry + 4*time.Second
)

// pollUntilVerified sends tok to a protected API route every 200ms until
// it is served, within jwksWait; meanwhile every answer must be 503 (a
// transient failure), never a refusal and never forwarded. It returns how
// long that took.
func pollUntilVerified(t *testing.T, e *env, h http.Handler, tok string) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < jwksWait {
		r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok))
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

// TestJWKSKeyPublishedRightAfterAFetch: with the default 30s
// jwksMinRefreshInterval, a key the issuer publishes a moment after a
// fetch is learned within seconds (one refetch for a kid never seen), not
// after the whole interval. A flood of random kids then costs at most one
// fetch per few seconds, and none of them is a session.
func TestJWKSKeyPublishedRightAfterAFetch(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		h := e.handler(t, e.opts(jwksOpts(is, m{"jwt": m{"jwksMinRefreshInterval": "30s"}})))
		old := jwtkit.Sign(t, "RS256", k.RSA, "old", jwtkit.Std("u-old", "user"))
		testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, old)), "local")

		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "new"}, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		fresh := jwtkit.Sign(t, "EdDSA", k.Ed, "new", jwtkit.Std("u-new", "user"))
		took := pollUntilVerified(t, e, h, fresh)
		if is.Fetches() != 2 {
			t.Errorf("fetches: %d, want 2 (the first, and one for the new kid)", is.Fetches())
		}
		t.Logf("the new kid was learned after %s", took.Round(10*time.Millisecond))

		// Random kids for a little over one spacing: at most two fetches.
		before, start := is.Fetches(), time.Now()
		for i := 0; time.Since(start) < jwksRetry+time.Second && i < 200; i++ {
			tok := jwtkit.Sign(t, "EdDSA", k.Ed, fmt.Sprintf("junk-%d", i), jwtkit.Std("u-junk", "user"))
			r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, tok))
			if r.Upstream != nil || (r.Code != http.StatusUnauthorized && r.Code != http.StatusServiceUnavailable) {
				t.Fatalf("a random kid: %d (forwarded %v), want 401 or 503", r.Code, r.Upstream != nil)
			}
			time.Sleep(25 * time.Millisecond)
		}
		if n := is.Fetches() - before; n > 2 {
			t.Errorf("fetches for random kids over %s: %d, want at most 2", time.Since(start).Round(time.Second), n)
		}
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
	})
}

// TestJWKSFailedRefetchRetried: a refetch for a new kid that fails (the
// issuer down) is retried a few seconds later, so the kid verifies soon
// after the issuer is back rather than a whole jwksMinRefreshInterval
// after the failure; meanwhile its tokens are 503, their cookies kept.
func TestJWKSFailedRefetchRetried(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		k := jwtkit.Generate(t)
		is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		h := e.handler(t, e.opts(jwksOpts(is, m{"jwt": m{"jwksMinRefreshInterval": "30s"}, "cookies": m{"refresh": testkit.RefreshCookie}})))
		old := jwtkit.Sign(t, "RS256", k.RSA, "old", jwtkit.Std("u-old", "user"))
		testkit.WantVerifiedBy(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, old)), "local")

		is.Fail(http.StatusBadGateway)
		fresh := jwtkit.Sign(t, "EdDSA", k.Ed, "new", jwtkit.Std("u-new", "user"))
		deadline := time.Now().Add(jwksWait)
		for is.Fetches() < 2 && time.Now().Before(deadline) {
			r := e.do(t, h, testkit.API("/api/account").Cookie(testkit.UserCookie, fresh).Cookie(testkit.RefreshCookie, "r-keep"))
			testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
			testkit.WantNoCookieClearing(t, r)
			time.Sleep(200 * time.Millisecond)
		}
		if is.Fetches() != 2 {
			t.Fatalf("no refetch for the new kid within %s", jwksWait)
		}

		is.Publish(t, jwtkit.JWK{Pub: k.EdPub, Kid: "new"}, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "old", Alg: "RS256"})
		took := pollUntilVerified(t, e, h, fresh)
		t.Logf("learned %s after the issuer came back", took.Round(10*time.Millisecond))
		testkit.WantCount(t, e.be, fakebackend.Refresh, 0)
		testkit.WantCount(t, e.be, fakebackend.Validate, 0)
	})
}

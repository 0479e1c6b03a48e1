package contract

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
)

const (
	csrfTestSecret = "contract-suite-csrf-secret-0123456789" // 37 characters
	csrfCookieName = "__csrf"
	csrfHeaderName = "X-CSRF-Token"
	// ownOrigin is the origin of the harness's requests: httptest sets
	// Host example.com, and they arrive over plain http.
	ownOrigin = "http://example.com"
)

// csrfOpts turns CSRF on (as labels give it) over a protected /account.
func csrfOpts(e *env, extra ...m) m {
	base := []m{{
		"csrf":   m{"enabled": "true", "secret": csrfTestSecret},
		"routes": m{"protected": "/account"},
	}}
	return e.opts(append(base, extra...)...)
}

// freshUser programs a new valid user token that no request has used yet,
// so any validation of it shows up in the backend's counters.
func freshUser(e *env, label, id string) (string, map[string]interface{}) {
	tok := fakebackend.Token(label)
	data := fakebackend.UserData(id, "user", nil)
	e.be.SetUser(tok, data)
	return tok, data
}

// csrfToken returns the token cookie a response issued, or fails.
func csrfToken(t *testing.T, r *testkit.Result) string {
	t.Helper()
	cs := r.SetCookies(csrfCookieName)
	if len(cs) != 1 || cs[0].Value == "" {
		t.Fatalf("Set-Cookie %s: got %q, want exactly one token", csrfCookieName, r.Header.Values("Set-Cookie"))
	}
	return cs[0].Value
}

// TestSecurityCSRFOriginChecks: unsafe requests are judged by Fetch
// Metadata, then Origin, then Referer, before any backend call: a
// cross-site one is refused with 403 and the app and the backend never
// see it; a same-origin one passes with the session's identity.
func TestSecurityCSRFOriginChecks(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, csrfOpts(e))
		type hdr struct{ name, value string }
		for _, tc := range []struct {
			desc    string
			method  string
			path    string
			headers []hdr
			anon    bool
			pass    bool
		}{
			// Fetch Metadata.
			{"Sec-Fetch-Site cross-site", "POST", "/account/email", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site even with our Origin", "POST", "/account/email", []hdr{{"Sec-Fetch-Site", "cross-site"}, {"Origin", ownOrigin}}, false, false},
			{"same-site is not trusted by default", "POST", "/account/email", []hdr{{"Sec-Fetch-Site", "same-site"}}, false, false},
			{"Sec-Fetch-Site none", "POST", "/account/email", []hdr{{"Sec-Fetch-Site", "none"}}, false, false},
			{"cross-site PUT", "PUT", "/account/email", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site DELETE", "DELETE", "/account", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site PATCH", "PATCH", "/account", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site unknown method", "PROPFIND", "/account", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site lower-case post", "post", "/account", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site on a public path", "POST", "/contact", []hdr{{"Sec-Fetch-Site", "cross-site"}}, false, false},
			{"cross-site anonymous on a public path", "POST", "/contact", []hdr{{"Sec-Fetch-Site", "cross-site"}}, true, false},
			{"same-origin", "POST", "/account/email", []hdr{{"Sec-Fetch-Site", "same-origin"}}, false, true},
			{"same-origin DELETE", "DELETE", "/account", []hdr{{"Sec-Fetch-Site", "same-origin"}}, false, true},
			// Origin, without Fetch Metadata.
			{"Origin of another site", "POST", "/account/email", []hdr{{"Origin", "https://evil.example"}}, false, false},
			{"Origin of another site, X-Forwarded-Host is not the host", "POST", "/account/email",
				[]hdr{{"Origin", "http://evil.example"}, {"X-Forwarded-Host", "evil.example"}}, false, false},
			{"Origin suffix trick", "POST", "/account/email", []hdr{{"Origin", "http://example.com.evil.example"}}, false, false},
			{"Origin https on an http request", "POST", "/account/email", []hdr{{"Origin", "https://example.com"}}, false, false},
			{"Origin null", "POST", "/account/email", []hdr{{"Origin", "null"}}, false, false},
			{"Origin sent twice", "POST", "/account/email", []hdr{{"Origin", ownOrigin}, {"Origin", "http://evil.example"}}, false, false},
			{"our Origin", "POST", "/account/email", []hdr{{"Origin", ownOrigin}}, false, true},
			{"our Origin, other case and default port", "POST", "/account/email", []hdr{{"Origin", "HTTP://Example.COM:80"}}, false, true},
			{"our https Origin behind TLS termination", "POST", "/account/email",
				[]hdr{{"Origin", "https://example.com"}, {"X-Forwarded-Proto", "https"}}, false, true},
			// Referer, without Fetch Metadata or Origin.
			{"Referer of another site", "POST", "/account/email", []hdr{{"Referer", "https://evil.example/form"}}, false, false},
			{"Referer with our host as userinfo", "POST", "/account/email", []hdr{{"Referer", "http://example.com@evil.example/"}}, false, false},
			{"our Referer", "POST", "/account/email", []hdr{{"Referer", ownOrigin + "/account"}}, false, true},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				rq := testkit.API(tc.path).With(tc.method)
				tok, data := freshUser(e, "csrf-origin-"+tc.desc, "u-csrf")
				if !tc.anon {
					rq = rq.Cookie(testkit.UserCookie, tok)
				}
				for _, hv := range tc.headers {
					rq = rq.WithHeader(hv.name, hv.value)
				}
				before := e.be.Total()
				r := e.do(t, h, rq)
				if !tc.pass {
					testkit.WantCSRFRejected(t, r)
					testkit.WantBackendUntouched(t, e.be, before)
					return
				}
				testkit.WantIdentity(t, r, tok, data, "u-csrf", "user", "")
			})
		}
	})
}

// TestSecurityCSRFTrustedOrigins: csrf.trustedOrigins and
// csrf.trustSameSite widen the origin check, and only as configured.
func TestSecurityCSRFTrustedOrigins(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, csrfOpts(e, m{"csrf": m{"trustedOrigins": "https://app.example.com,https://admin.example.com", "trustSameSite": "true"}}))
		for _, tc := range []struct {
			desc    string
			site    string // Sec-Fetch-Site, "" for none
			origin  string
			allowed bool
		}{
			{"trusted origin without Fetch Metadata", "", "https://app.example.com", true},
			{"trusted origin, cross-site", "cross-site", "https://admin.example.com", true},
			{"same-site trusted by option", "same-site", "", true},
			{"untrusted origin", "", "https://other.example.com", false},
			{"untrusted origin, cross-site", "cross-site", "https://other.example.com", false},
			{"trusted host, other scheme", "cross-site", "http://app.example.com", false},
			{"trusted host, other port", "", "https://app.example.com:8443", false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok, data := freshUser(e, "csrf-trusted-"+tc.desc, "u-trusted")
				rq := testkit.API("/account").With(http.MethodPost).Cookie(testkit.UserCookie, tok)
				if tc.site != "" {
					rq = rq.WithHeader("Sec-Fetch-Site", tc.site)
				}
				if tc.origin != "" {
					rq = rq.WithHeader("Origin", tc.origin)
				}
				before := e.be.Total()
				r := e.do(t, h, rq)
				if tc.allowed {
					testkit.WantIdentity(t, r, tok, data, "u-trusted", "user", "")
					return
				}
				testkit.WantCSRFRejected(t, r)
				testkit.WantBackendUntouched(t, e.be, before)
			})
		}
	})
}

// TestSecurityCSRFDoubleSubmitToken: without Fetch Metadata, Origin or
// Referer, an unsafe request needs the token from the __csrf cookie
// (issued on a GET) echoed in X-CSRF-Token; the token is bound to the
// session.
func TestSecurityCSRFDoubleSubmitToken(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, csrfOpts(e))
		alice, aliceData := freshUser(e, "csrf-alice", "u-alice")
		bob, bobData := freshUser(e, "csrf-bob", "u-bob")

		// Tokens issued on GETs: one per session.
		ra := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, alice))
		testkit.WantForwarded(t, ra)
		aliceTok := csrfToken(t, ra)
		c := ra.SetCookies(csrfCookieName)[0]
		if c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Domain != "" {
			t.Errorf("%s cookie: got %q, want Path=/, SameSite=Lax, readable by scripts, no Domain", csrfCookieName, c.Raw)
		}
		bobTok := csrfToken(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, bob)))
		anonTok := csrfToken(t, e.do(t, h, testkit.Page("/")))
		if aliceTok == bobTok || aliceTok == anonTok {
			t.Fatalf("sessions got the same token")
		}
		again := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, alice).Cookie(csrfCookieName, aliceTok))
		if cs := again.SetCookies(csrfCookieName); len(cs) != 0 {
			t.Errorf("a valid token was re-issued: %q", testkit.RawCookies(cs))
		}
		upgraded := e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, alice).Cookie(csrfCookieName, anonTok))
		if tok := csrfToken(t, upgraded); tok == anonTok {
			t.Errorf("a logged-in session kept the anonymous token")
		}

		post := func(user, cookieTok, headerTok string) testkit.Request {
			rq := testkit.API("/account/email").With(http.MethodPost)
			if user != "" {
				rq = rq.Cookie(testkit.UserCookie, user)
			}
			if cookieTok != "" {
				rq = rq.Cookie(csrfCookieName, cookieTok)
			}
			if headerTok != "" {
				rq = rq.WithHeader(csrfHeaderName, headerTok)
			}
			return rq
		}
		tampered := []byte(aliceTok)
		if tampered[0] == 'a' {
			tampered[0] = 'b'
		} else {
			tampered[0] = 'a'
		}

		t.Run("own token in cookie and header", func(t *testing.T) {
			testkit.WantIdentity(t, e.do(t, h, post(alice, aliceTok, aliceTok)), alice, aliceData, "u-alice", "user", "")
			testkit.WantIdentity(t, e.do(t, h, post(bob, bobTok, bobTok)), bob, bobData, "u-bob", "user", "")
		})
		t.Run("anonymous token on a public path", func(t *testing.T) {
			rq := testkit.API("/contact").With(http.MethodPost).Cookie(csrfCookieName, anonTok).WithHeader(csrfHeaderName, anonTok)
			testkit.WantAnonymous(t, e.do(t, h, rq))
		})
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"no token at all", post(alice, "", "")},
			{"cookie without the header", post(alice, aliceTok, "")},
			{"header without the cookie", post(alice, "", aliceTok)},
			{"header differs from the cookie", post(alice, aliceTok, bobTok)},
			{"another user's token", post(alice, bobTok, bobTok)},
			{"the anonymous token after login", post(alice, anonTok, anonTok)},
			{"a session's token used anonymously", post("", aliceTok, aliceTok)},
			{"tampered token", post(alice, string(tampered), string(tampered))},
			{"token cookie sent twice with different values",
				post(alice, "", aliceTok).WithHeader("Cookie", csrfCookieName+"="+aliceTok+"; "+csrfCookieName+"="+bobTok)},
			{"anonymous without a token on a public path", testkit.API("/contact").With(http.MethodPost)},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				testkit.WantCSRFRejected(t, e.do(t, h, tc.rq))
			})
		}
	})
}

// TestSecurityCSRFMethodOverride: a safe method that asks, by query
// parameter or header, to be treated as an unsafe one is checked as the
// unsafe request it asks to be.
func TestSecurityCSRFMethodOverride(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, csrfOpts(e))
		crossSite := func(target string) testkit.Request {
			return testkit.API(target).WithHeader("Sec-Fetch-Site", "cross-site")
		}
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
			pass bool
		}{
			{"control: plain cross-site GET", crossSite("/account/delete"), true},
			{"control: _method=GET", crossSite("/account/delete?_method=GET"), true},
			{"control: override header GET", crossSite("/account/delete").WithHeader("X-HTTP-Method-Override", "GET"), true},
			{"_method=DELETE", crossSite("/account/delete?_method=DELETE"), false},
			{"_method=delete among other parameters", crossSite("/account/delete?a=1&_method=delete&b=2"), false},
			{"_METHOD=PUT", crossSite("/account/delete?_METHOD=PUT"), false},
			{"encoded %5Fmethod", crossSite("/account/delete?%5Fmethod=DELETE"), false},
			{"encoded value", crossSite("/account/delete?_method=%44ELETE"), false},
			{"semicolon separator", crossSite("/account/delete?a=1;_method=POST"), false},
			{"PHP spelling .method", crossSite("/account/delete?.method=DELETE"), false},
			{"_method on HEAD", crossSite("/account/delete?_method=DELETE").With(http.MethodHead), false},
			{"X-HTTP-Method-Override", crossSite("/account/delete").WithHeader("X-HTTP-Method-Override", "DELETE"), false},
			{"x-http-method-override lower case", crossSite("/account/delete").WithHeader("x-http-method-override", "delete"), false},
			{"X-HTTP-Method", crossSite("/account/delete").WithHeader("X-HTTP-Method", "PUT"), false},
			{"X-Method-Override", crossSite("/account/delete").WithHeader("X-Method-Override", "PATCH"), false},
			// Spellings PHP, WSGI or nginx fold into the override header.
			{"X_HTTP_METHOD_OVERRIDE (Go keeps it as X_http_method_override)", crossSite("/account/delete").WithHeader("X_HTTP_METHOD_OVERRIDE", "DELETE"), false},
			{"X_HTTP_METHOD_OVERRIDE raw key", crossSite("/account/delete").WithRawKey("X_HTTP_METHOD_OVERRIDE", "DELETE"), false},
			{"X_Method_Override raw key", crossSite("/account/delete").WithRawKey("X_Method_Override", "PUT"), false},
			{"x.http.method.override raw key", crossSite("/account/delete").WithRawKey("x.http.method.override", "DELETE"), false},
			{"X_HTTP_Method raw key", crossSite("/account/delete").WithRawKey("X_HTTP_Method", "PATCH"), false},
			{"control: X_HTTP_METHOD_OVERRIDE GET", crossSite("/account/delete").WithRawKey("X_HTTP_METHOD_OVERRIDE", "GET"), true},
			// Query spellings frameworks read as _method.
			{"_method[]", crossSite("/account/delete?_method[]=DELETE"), false},
			{"_method%5B%5D", crossSite("/account/delete?_method%5B%5D=DELETE"), false},
			{"_METHOD", crossSite("/account/delete?_METHOD=DELETE"), false},
			{"_method[0]", crossSite("/account/delete?_method[0]=PATCH"), false},
			{"[method (PHP reads an unmatched [ as _)", crossSite("/account/delete?[method=DELETE"), false},
			{"_method%00 (PHP cuts a name at NUL)", crossSite("/account/delete?_method%00=DELETE"), false},
			{"byte-order mark before _method", crossSite("/account/delete?%EF%BB%BF_method=DELETE"), false},
			{"%5Fmethod[%zz] (an invalid escape kept, as PHP does)", crossSite("/account/delete?%5Fmethod[%zz]=DELETE"), false},
			{"control: _method%00=GET", crossSite("/account/delete?_method%00=GET"), true},
			{"control: _methods", crossSite("/account/delete?_methods=DELETE"), true},
			{"Origin of another site", testkit.API("/account/delete?_method=DELETE").WithHeader("Origin", "https://evil.example"), false},
			{"no Origin and no token", testkit.API("/account/delete?_method=DELETE"), false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok, data := freshUser(e, "csrf-override-"+tc.desc, "u-ovr")
				rq := tc.rq.Cookie(testkit.UserCookie, tok)
				before := e.be.Total()
				r := e.do(t, h, rq)
				if tc.pass {
					testkit.WantIdentity(t, r, tok, data, "u-ovr", "user", "")
					return
				}
				testkit.WantNotForwarded(t, r)
				if r.Code != http.StatusForbidden {
					t.Errorf("status: got %d, want 403", r.Code)
				}
				if rq.Method != http.MethodHead {
					testkit.WantExactJSON(t, r.Body, testkit.CSRFFailBody)
				}
				if !strings.Contains(tc.desc, "no Origin") {
					testkit.WantBackendUntouched(t, e.be, before)
				}
			})
		}

		t.Run("override with the session's token passes", func(t *testing.T) {
			tok, data := freshUser(e, "csrf-override-token", "u-ovr2")
			csrf := csrfToken(t, e.do(t, h, testkit.Page("/account").Cookie(testkit.UserCookie, tok)))
			rq := testkit.API("/account/delete?_method=DELETE").Cookie(testkit.UserCookie, tok).Cookie(csrfCookieName, csrf).WithHeader(csrfHeaderName, csrf)
			testkit.WantIdentity(t, e.do(t, h, rq), tok, data, "u-ovr2", "user", "")
		})
	})
}

// TestSecurityCSRFExemptPathsAreExact: csrf.exemptPaths exempts exactly
// the listed canonical path: not below it, not a prefix, not another case,
// not a path that dot segments lead elsewhere.
func TestSecurityCSRFExemptPathsAreExact(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		h := e.handler(t, csrfOpts(e, m{"csrf": m{"exemptPaths": "/hooks/stripe,/hooks/github"}}))
		for _, tc := range []struct {
			target string
			exempt bool
		}{
			{"/hooks/stripe", true},
			{"/hooks/github", true},
			{"/hooks/stripe?event=charge", true},
			{"/hooks/stripe/x", false},
			{"/hooks/stripex", false},
			{"/hooks", false},
			{"/Hooks/stripe", false},
			{"/HOOKS/STRIPE", false},
			{"/hooks/stripe/../../account", false},
			{"/hooks/stripe/%2e%2e/%2e%2e/account", false},
			{"/account/hooks/stripe", false},
		} {
			t.Run(tc.target, func(t *testing.T) {
				tok, data := freshUser(e, "csrf-exempt-"+tc.target, "u-hook")
				rq := testkit.API(tc.target).With(http.MethodPost).WithHeader("Sec-Fetch-Site", "cross-site").Cookie(testkit.UserCookie, tok)
				before := e.be.Total()
				r := e.do(t, h, rq)
				if tc.exempt {
					testkit.WantIdentity(t, r, tok, data, "u-hook", "user", "")
					return
				}
				testkit.WantCSRFRejected(t, r)
				testkit.WantBackendUntouched(t, e.be, before)
			})
		}
	})
}

// TestSecurityCSRFReportOnly: csrf.reportOnly forwards what enforcement
// would refuse (a cross-site POST, a POST without a token), with the
// session's identity.
func TestSecurityCSRFReportOnly(t *testing.T) {
	run(t, func(t *testing.T, e *env) {
		enforcing := e.handler(t, csrfOpts(e))
		reporting := e.handler(t, csrfOpts(e, m{"csrf": m{"reportOnly": "true"}}))
		for _, tc := range []struct {
			desc string
			rq   testkit.Request
		}{
			{"cross-site POST", testkit.API("/account/email").With(http.MethodPost).WithHeader("Sec-Fetch-Site", "cross-site")},
			{"foreign Origin", testkit.API("/account/email").With(http.MethodPost).WithHeader("Origin", "https://evil.example")},
			{"no token", testkit.API("/account/email").With(http.MethodPost)},
			{"method override", testkit.API("/account/delete?_method=DELETE").WithHeader("Sec-Fetch-Site", "cross-site")},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				tok, data := freshUser(e, "csrf-report-"+tc.desc, "u-report")
				testkit.WantCSRFRejected(t, e.do(t, enforcing, tc.rq.Cookie(testkit.UserCookie, tok)))
				testkit.WantIdentity(t, e.do(t, reporting, tc.rq.Cookie(testkit.UserCookie, tok)), tok, data, "u-report", "user", "")
			})
		}
	})
}

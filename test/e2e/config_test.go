package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// TestBadOption: a middleware whose options New refuses (or Traefik
// cannot decode) fails to load: Traefik logs an error naming the option,
// the router using it answers 404 (Traefik does not serve a router whose
// middleware failed) and the API reports the router disabled with that
// error; other routers keep working, and fixing the option brings the
// router back without a restart.
func TestBadOption(t *testing.T) {
	s := start(t, traefikrun.Options{LogLevel: "ERROR"})
	for _, tc := range []struct {
		desc    string
		options m
		// errRe must match the error Traefik logs for the router (and
		// the API reports).
		errRe string
	}{
		{"unparsable duration", m{"cache": m{"ttl": "2 seconds"}}, `authlayer: cache\.ttl: .*2 seconds`},
		{"missing backend.url", m{"backend": m{"url": ""}}, `authlayer: backend\.url`},
		// Traefik's decoder names the Go field, not the option.
		{"wrong type", m{"cache": m{"maxEntries": "lots"}}, `failed to decode configuration.*Cache\.MaxEntries`},
		{"bad route pattern", m{"routes": m{"protected": testkit.List("noslash")}}, `authlayer: routes\.protected: .*noslash`},
		// Keys that are no option: Traefik's decoder drops them, New
		// refuses them (a misspelled routes.protected would leave every
		// path public). Traefik's log may escape the quotes.
		{"misspelled option", m{"routes": m{"protectd": testkit.List("/")}},
			`authlayer: unknown option \\?"routes\.protectd\\?" \(did you mean \\?"routes\.protected\\?"\?\)`},
		{"misspelled group", m{"backnd": m{"timeout": "1s"}},
			`authlayer: unknown option \\?"backnd\.timeout\\?" \(did you mean \\?"backend\.timeout\\?"\?\)`},
		// Without a token type nothing tells a guest from a user.
		{"no token type and no allowedTokenTypes", m{"responses": m{"tokenType": ""}},
			`authlayer: (responses\.tokenType|routes\.allowedTokenTypes): .*tokenType`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			offset := s.tr.LogSize()
			s.deploy(t, sites{"good": m{}, "bad": tc.options})
			r := s.do(t, page("bad", "/"))
			if r.Code != http.StatusNotFound {
				t.Errorf("router with the bad middleware: got %d %q, want Traefik's 404", r.Code, r.Body)
			}
			if r.Upstream != nil {
				t.Errorf("the upstream received a request through a middleware that failed to load")
			}
			testkit.WantForwarded(t, s.do(t, page("good", "/")))

			errRe := regexp.MustCompile(`(?s)` + tc.errRe)
			line := s.tr.WaitLogSince(t, offset, regexp.MustCompile(`ERR error=.*`+tc.errRe+`.*routerName=bad@file`), 5*time.Second)
			t.Logf("Traefik logs: %s", line)

			code, body := s.tr.Get(t, "/api/http/routers/bad@file")
			var router struct {
				Status string   `json:"status"`
				Err    []string `json:"error"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &router) != nil {
				t.Fatalf("API router bad@file: got %d %.300s", code, body)
			}
			if router.Status != "disabled" || !errRe.MatchString(strings.Join(router.Err, " ")) {
				t.Errorf("API router bad@file: got status %q errors %q, want disabled with the option named", router.Status, router.Err)
			}
		})
	}

	t.Run("fixing the option brings the router back", func(t *testing.T) {
		s.deploy(t, sites{"good": m{}, "bad": m{"cache": m{"ttl": "2s"}}})
		testkit.WantAnonymous(t, s.do(t, page("bad", "/")))
	})
}

// TestBackendFailureLogged: in Traefik, an unreachable backend is named in
// Traefik's log once, with the middleware, the endpoint, its URL and the
// cause, while requests keep failing closed; when the backend answers
// again, its recovery is logged.
func TestBackendFailureLogged(t *testing.T) {
	s := start(t, traefikrun.Options{LogLevel: "ERROR"})
	closed := fakebackend.ClosedURL(t)
	token := fakebackend.Token("e2e-health-user")
	s.be.SetUser(token, fakebackend.UserData("u-health", "user", nil))
	offset := s.tr.LogSize()
	s.deploy(t, sites{"down": m{"backend": m{"url": closed}, "routes": m{"protected": testkit.List("/dashboard")}}})

	for i := 0; i < 3; i++ {
		if r := s.do(t, page("down", "/dashboard").Cookie("userToken", token)); r.Code != http.StatusServiceUnavailable || r.Upstream != nil {
			t.Fatalf("protected page with the backend down: got %d (forwarded %v), want 503", r.Code, r.Upstream != nil)
		}
	}
	failing := regexp.MustCompile(`authlayer: down@file: auth backend validate endpoint ` + regexp.QuoteMeta(closed) + `/auth/me is failing: connection refused`)
	t.Logf("Traefik logs: %s", s.tr.WaitLogSince(t, offset, failing, 5*time.Second))
	if n := len(failing.FindAllString(s.tr.Logs()[offset:], -1)); n != 1 {
		t.Errorf("the failure was logged %d times for 3 requests, want once", n)
	}

	// The backend comes back on the same address.
	ln, err := net.Listen("tcp", strings.TrimPrefix(closed, "http://"))
	if err != nil {
		t.Fatalf("listen again on %s: %v", closed, err)
	}
	target, _ := url.Parse(s.be.URL)
	back := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target), ReadHeaderTimeout: waitBound}
	go func() { _ = back.Serve(ln) }()
	t.Cleanup(func() { _ = back.Close() })
	time.Sleep(1100 * time.Millisecond) // one endpoint's lines are a second apart at least
	testkit.WantForwarded(t, s.do(t, page("down", "/dashboard").Cookie("userToken", token)))
	recovered := regexp.MustCompile(`authlayer: down@file: auth backend validate endpoint ` + regexp.QuoteMeta(closed) + `/auth/me recovered after \ds \(was: connection refused\)`)
	t.Logf("Traefik logs: %s", s.tr.WaitLogSince(t, offset, recovered, 5*time.Second))
}

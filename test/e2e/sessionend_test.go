package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authlayer/authlayer/test/fakebackend"
	"github.com/authlayer/authlayer/test/jwtkit"
	"github.com/authlayer/authlayer/test/testkit"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// How sessions end whatever the backend does, through a real Traefik
// (the same behaviours as ../contract/sessionend_test.go, where Traefik's
// Yaegi, its routing and its connections matter): a backend answering a
// redirect is "unavailable" and never a panic; a logout holds when the
// backend's logout is a no-op, fails or redirects, in every jwt.mode and
// token mode; marks survive floods and cover every middleware; login
// leaves no refresh cookie it did not issue; endpoint lookalike paths
// never reach the app; endpoints use one deadline and mint no guest.
//
// Each test logs one line of figures (t.Logf) for the closing note.

// Endpoint paths of the sites below.
const (
	seLoginPath   = "/auth/login"
	seLogoutPath  = "/auth/logout"
	seSessionPath = "/auth/session"
)

// seEndpoints is a site's endpoints, its refresh cookie and its protected
// routes.
func seEndpoints(extra m) m {
	o := m{
		"endpoints": m{"login": seLoginPath, "logout": seLogoutPath, "session": seSessionPath},
		"cookies":   m{"refresh": testkit.RefreshCookie},
		"routes":    m{"protected": testkit.List("/dashboard", "/api/me", "/account")},
	}
	testkit.Merge(o, extra)
	return o
}

var seGuestOpts = m{"guest": m{"enabled": "true", "username": "guest-user", "password": "guest-pass"}}

func seJSONLogin(site, username, password string) testkit.Request {
	return api(site, seLoginPath).With(http.MethodPost).
		WithBody("application/json", `{"username":"`+username+`","password":"`+password+`"}`)
}

func seLogout(site string) testkit.Request {
	return api(site, seLogoutPath).With(http.MethodPost)
}

// sePanicLines counts the lines of Traefik's log and output that tell of
// a panic (a Yaegi panic is recovered by Traefik and logged with its
// stack).
func sePanicLines(tr *traefikrun.Traefik) int {
	n := 0
	for _, line := range strings.Split(tr.Logs()+"\n"+tr.Output(), "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "panic") || strings.Contains(l, "reflect.set") {
			n++
		}
	}
	return n
}

// seServedAsUser reports whether a replayed logged-out session got
// anything of a session: the app reached with an identity, or cookies
// set (not cleared).
func seServedAsUser(r *testkit.Result) bool {
	if r.Upstream != nil && len(testkit.IdentityValues(r.Upstream, testkit.IdentityHeaders)) > 0 {
		return true
	}
	for _, c := range r.Cookies {
		if !testkit.IsClearing(c) {
			return true
		}
	}
	return false
}

// seRun runs job(i) for i in [0, n) on workers goroutines and returns the
// first error (every job runs; the loop is bounded by n).
func seRun(n, workers int, job func(i int) error) error {
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := job(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// TestSessionEndBackendRedirects: a backend answering a 3xx on the guest,
// validate, refresh, login and logout calls is unavailable: never
// followed, never a 500 or a panic in Traefik's log; the anonymous page is
// served, a protected API answers 503 keeping the cookies, login answers
// 503, and logout answers 200, clears the cookies and ends the session.
func TestSessionEndBackendRedirects(t *testing.T) {
	s := start(t, traefikrun.Options{})
	var followed atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"data":{"id":"evil","type":"user","accessToken":"evil-token-0123456789"}}`))
	}))
	t.Cleanup(elsewhere.Close)
	to := func(status int) fakebackend.Answer { return fakebackend.Redirect(status, elsewhere.URL+"/x") }
	s.be.EnableGuest("guest-user", "guest-pass")
	s.deploy(t, sites{"redir": seEndpoints(seGuestOpts)})

	status5xx := 0
	count := func(r *testkit.Result) *testkit.Result {
		if r.Code >= 500 && r.Code != http.StatusServiceUnavailable {
			status5xx++
		}
		return r
	}

	// The checks below report and go on (no t.Fatal), so a run against a
	// plugin that fails still logs its figures.
	s.be.SetGuestAnswer(to(http.StatusFound))
	for i := 0; i < 3; i++ {
		r := count(s.do(t, page("redir", "/")))
		if r.Code != http.StatusOK || r.Upstream == nil {
			t.Errorf("anonymous page with a redirecting guest endpoint: %d (forwarded %v), want the page served anonymously", r.Code, r.Upstream != nil)
		} else if got := testkit.IdentityValues(r.Upstream, testkit.IdentityHeaders); len(got) > 0 {
			t.Errorf("upstream identity headers: got %v, want none", got)
		}
		testkit.WantNoSetCookie(t, r)
	}

	access, refresh := fakebackend.Token("e2e-redir-access"), fakebackend.Token("e2e-redir-refresh")
	s.be.SetValidate(access, to(http.StatusTemporaryRedirect))
	s.be.SetRefresh(refresh, to(http.StatusPermanentRedirect))
	r := count(s.do(t, api("redir", "/api/me").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)))
	testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
	testkit.WantNoCookieClearing(t, r)
	testkit.WantNotForwarded(t, r)

	s.be.SetLogin("rita", "pw", to(http.StatusSeeOther))
	r = count(s.do(t, seJSONLogin("redir", "rita", "pw")))
	testkit.WantJSONError(t, r, http.StatusServiceUnavailable)
	if len(r.SetCookies(testkit.UserCookie)) != 0 {
		t.Errorf("login with a redirecting backend set %q", r.Header.Values("Set-Cookie"))
	}

	s.be.SetValidate(access, fakebackend.OK(fakebackend.UserData("u-redir", "user", nil)))
	if r = s.do(t, page("redir", "/dashboard").Cookie(testkit.UserCookie, access)); r.Code != http.StatusOK || r.Upstream == nil {
		t.Errorf("the session before logout: %d (forwarded %v), want it served", r.Code, r.Upstream != nil)
	}
	s.be.SetLogoutAnswer(to(http.StatusFound))
	r = count(s.do(t, seLogout("redir").Cookie(testkit.UserCookie, access).Cookie(testkit.RefreshCookie, refresh)))
	if r.Code != http.StatusOK {
		t.Errorf("logout with a redirecting backend: %d %s, want 200", r.Code, r.Body)
	}
	testkit.WantCookieCleared(t, r, testkit.UserCookie)
	testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
	r = count(s.do(t, page("redir", "/dashboard").Cookie(testkit.UserCookie, access)))
	testkit.WantLoginRedirect(t, r, http.StatusFound, "/dashboard")
	testkit.WantNotForwarded(t, r)

	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect target was called %d times, want never", n)
	}
	panics := sePanicLines(s.tr)
	if panics != 0 {
		t.Errorf("Traefik's log holds %d lines about a panic, want none", panics)
	}
	if status5xx != 0 {
		t.Errorf("%d answers were 5xx other than 503", status5xx)
	}
	t.Logf("backend redirects on guest, validate, refresh, login and logout: 5xx other than 503: %d; redirect target called: %d; panic lines in Traefik's log: %d; logged-out token refused: %v",
		status5xx, followed.Load(), panics, r.Code == http.StatusFound)
}

// seKind is one way a site checks tokens: its options, and mint making a
// valid access token for sub (registered with the backend, for the modes
// that ask it) and the user object the app receives.
type seKind struct {
	name string
	opts m
	mint func(sub string) (string, map[string]interface{})
}

// TestSessionEndLogoutReplay: after a logout, the cookies it carried open
// nothing (no session, no fresh cookies, no refresh call with the marked
// credential) though the backend would still validate and refresh them:
// its logout is a no-op, fails or redirects. Every jwt.mode (none, local,
// revalidate, fallback, JWKS) in single- and dual-token mode.
func TestSessionEndLogoutReplay(t *testing.T) {
	s := start(t, traefikrun.Options{})
	k := jwtkit.Generate(t)
	is := jwtkit.NewIssuer(t, jwtkit.JWK{Pub: &k.RSA.PublicKey, Kid: "k1", Alg: "RS256"})
	hs := func(sub string) (string, map[string]interface{}) {
		claims := jwtkit.Std(sub, "user")
		tok := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", claims)
		s.be.SetUser(tok, claims.Data(t)) // for the modes that ask the backend
		return tok, claims.Data(t)
	}
	kinds := []seKind{
		{"none", m{}, func(sub string) (string, map[string]interface{}) {
			tok, data := fakebackend.Token(sub), fakebackend.UserData(sub, "user", nil)
			s.be.SetUser(tok, data)
			return tok, data
		}},
		{"local", m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"}}, hs},
		{"revalidate", m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "revalidate"}}, hs},
		{"fallback", m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "fallback"}}, hs},
		{"jwks", m{"jwt": m{"enabled": "true", "jwksUrl": is.URL(), "mode": "local"}}, func(sub string) (string, map[string]interface{}) {
			claims := jwtkit.Std(sub, "user")
			return jwtkit.Sign(t, "RS256", k.Signer("RS256"), "k1", claims), claims.Data(t)
		}},
	}
	ss := sites{}
	for _, kind := range kinds {
		single := seEndpoints(kind.opts)
		testkit.Merge(single, m{"cookies": m{"refresh": nil}})
		ss[kind.name+"-single"] = single
		ss[kind.name+"-dual"] = seEndpoints(kind.opts)
	}
	s.deploy(t, ss)

	combos, served, markedRefreshes, logoutsNot200 := 0, 0, 0, 0
	servedBy := map[string]int{}
	logouts := []string{"noop", "failing", "redirect"}
	for _, logout := range logouts {
		switch logout {
		case "failing":
			s.be.SetLogoutAnswer(fakebackend.Status(http.StatusInternalServerError))
		case "redirect":
			s.be.SetLogoutAnswer(fakebackend.Redirect(http.StatusFound, "http://127.0.0.1:1/elsewhere"))
		default:
			s.be.SetLogoutAnswer(fakebackend.OK(nil))
		}
		for _, kind := range kinds {
			for _, dual := range []bool{false, true} {
				site := kind.name + "-single"
				if dual {
					site = kind.name + "-dual"
				}
				combos++
				var wasServed bool
				t.Run(site+"/logout="+logout, func(t *testing.T) {
					sub := "u-" + site + "-" + logout
					access, data := kind.mint(sub)
					credential := access
					session := page(site, "/account").Cookie(testkit.UserCookie, access)
					if dual {
						credential = fakebackend.Token(sub + "-refresh")
						session = session.Cookie(testkit.RefreshCookie, credential)
					}
					// Were it asked, the backend would refresh the credential.
					fresh, freshData := kind.mint(sub + "-fresh")
					s.be.RefreshTo(credential, fresh, "", freshData)

					testkit.WantIdentity(t, s.do(t, session), access, data, sub, "user", "")
					out := session
					out.Target, out.Accept, out.Method = seLogoutPath, "application/json", http.MethodPost
					r := s.do(t, out)
					if r.Code != http.StatusOK {
						logoutsNot200++
						t.Errorf("logout: %d %s, want 200", r.Code, r.Body)
					}
					testkit.WantCookieCleared(t, r, testkit.UserCookie)

					replays := []testkit.Request{session, session}
					if dual {
						replays = append(replays, page(site, "/account").Cookie(testkit.RefreshCookie, credential))
					}
					for i, rq := range replays {
						r = s.do(t, rq)
						if seServedAsUser(r) {
							wasServed = true
							t.Errorf("replay %d: got a session: %d, upstream identity %v, Set-Cookie %q",
								i, r.Code, testkit.IdentityValues(r.Upstream, testkit.IdentityHeaders), r.Header.Values("Set-Cookie"))
							continue
						}
						testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
						testkit.WantNotForwarded(t, r)
					}
					if n := s.be.CountFor(fakebackend.Refresh, credential); n != 0 {
						markedRefreshes += n
						t.Errorf("refresh calls with the logged-out credential: %d, want 0", n)
					}
				})
				if wasServed {
					served++
					servedBy[logout]++
				}
			}
		}
	}
	per := make([]string, 0, len(logouts))
	for _, logout := range logouts {
		per = append(per, fmt.Sprintf("%s %d of %d", logout, servedBy[logout], len(kinds)*2))
	}
	panics := sePanicLines(s.tr)
	if panics != 0 {
		t.Errorf("Traefik's log holds %d lines about a panic, want none", panics)
	}
	t.Logf("logout replay: %d of %d combinations served as the user (backend logout %s); refresh calls with marked credentials: %d; logouts not answered 200: %d; panic lines in Traefik's log: %d",
		served, combos, strings.Join(per, ", "), markedRefreshes, logoutsNot200, panics)
}

// TestSessionEndMarksSurviveFloods: after a logout, thousands of
// cookie-less visits (each mints a guest token that stays cached) and
// junk logouts, with cache.maxEntries 50, leave the logged-out JWT refused
// in jwt.mode local, and leave a user's cached validation in place.
func TestSessionEndMarksSurviveFloods(t *testing.T) {
	const (
		visits  = 3000
		junk    = 1000
		workers = 8
	)
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	small := m{"cache": m{"maxEntries": "50", "ttl": "60s"}}
	marks := seEndpoints(small)
	testkit.Merge(marks, m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"}})
	flood := seEndpoints(small)
	testkit.Merge(flood, seGuestOpts)
	s.deploy(t, sites{"marks": marks, "flood": flood})

	k := jwtkit.Generate(t)
	gone := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", jwtkit.Std("u-gone", "user"))
	testkit.WantForwarded(t, s.do(t, page("marks", "/account").Cookie(testkit.UserCookie, gone)))
	if r := s.do(t, seLogout("marks").Cookie(testkit.UserCookie, gone)); r.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", r.Code, r.Body)
	}
	testkit.WantLoginRedirect(t, s.do(t, page("marks", "/account").Cookie(testkit.UserCookie, gone)), http.StatusFound, "/account")

	kept := fakebackend.Token("e2e-u-kept")
	keptData := fakebackend.UserData("u-kept", "user", nil)
	s.be.SetUser(kept, keptData)
	// An extra cookie keeps these requests out of the session memo, so the
	// validation cache itself answers.
	keptReq := page("flood", "/").Cookie(testkit.UserCookie, kept)
	testkit.WantIdentity(t, s.do(t, keptReq.Cookie("n", "1")), kept, keptData, "u-kept", "user", "")

	mintsBefore := s.be.Count(fakebackend.Guest)
	started := time.Now()
	var odd atomic.Int64
	err := seRun(visits+junk, workers, func(i int) error {
		var rq testkit.Request
		switch {
		case i%4 == 3 && i/4 < junk: // junk logouts interleaved, half at each site
			site := "marks"
			if i%8 == 7 {
				site = "flood"
			}
			rq = seLogout(site).Cookie(testkit.UserCookie, fmt.Sprintf("junk-%d", i))
		default:
			rq = page("flood", "/")
		}
		r, err := s.send(rq)
		if err != nil {
			return err
		}
		if r.Code != http.StatusOK {
			odd.Add(1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := odd.Load(); n != 0 {
		t.Errorf("%d flood requests were not answered 200", n)
	}
	mints := s.be.Count(fakebackend.Guest) - mintsBefore
	if mints < visits {
		t.Errorf("guest mints: %d, want the flood of %d cookie-less visits to mint one each", mints, visits)
	}

	r := s.do(t, page("marks", "/account").Cookie(testkit.UserCookie, gone))
	refused := r.Code == http.StatusFound && r.Upstream == nil
	testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
	testkit.WantNotForwarded(t, r)
	testkit.WantIdentity(t, s.do(t, keptReq.Cookie("n", "2")), kept, keptData, "u-kept", "user", "")
	validations := s.be.CountFor(fakebackend.Validate, kept)
	if validations != 1 {
		t.Errorf("validations of the user's token after the flood: %d, want 1 (still cached)", validations)
	}
	t.Logf("guest flood %d visits (%d guests minted) + %d junk logouts with cache.maxEntries 50, in %.1f s: logged-out JWT refused: %v; user validations: %d",
		visits, mints, junk, time.Since(started).Seconds(), refused, validations)
}

// TestSessionEndLogoutCoversEveryMiddleware: two routers with middlewares
// of different names accept the same token; a logout at one refuses it at
// the other at once, though the other had it cached.
func TestSessionEndLogoutCoversEveryMiddleware(t *testing.T) {
	s := start(t, traefikrun.Options{})
	opts := m{"jwt": m{"enabled": "true", "secret": jwtkit.Secret, "mode": "local"}}
	s.deploy(t, sites{"one": seEndpoints(opts), "two": seEndpoints(opts)})
	k := jwtkit.Generate(t)
	tok := jwtkit.Sign(t, "HS256", k.Signer("HS256"), "", jwtkit.Std("u-both", "user"))
	for _, site := range []string{"one", "two", "two"} {
		testkit.WantForwarded(t, s.do(t, page(site, "/account").Cookie(testkit.UserCookie, tok)))
	}
	if r := s.do(t, seLogout("one").Cookie(testkit.UserCookie, tok)); r.Code != http.StatusOK {
		t.Fatalf("logout at one: %d %s", r.Code, r.Body)
	}
	r := s.do(t, page("two", "/account").Cookie(testkit.UserCookie, tok))
	testkit.WantLoginRedirect(t, r, http.StatusFound, "/account")
	testkit.WantNotForwarded(t, r)
	t.Logf("logout at middleware one, same token at middleware two at once: refused: %v (status %d)", r.Upstream == nil && r.Code == http.StatusFound, r.Code)
}

// TestSessionEndLoginClearsRefreshCookie: a login whose answer has no
// refresh token clears the refresh cookie the browser carried (a previous
// user's, or one planted from a sibling subdomain), and the login answer
// holds none of the tokens.
func TestSessionEndLoginClearsRefreshCookie(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"app": seEndpoints(m{"cookies": m{"expiryHint": "authExpires"}})})
	access := fakebackend.Token("e2e-norem-access")
	user := fakebackend.UserData("u-norem", "user", nil)
	s.be.SetUser(access, user)
	s.be.SetLogin("nora", "pw", fakebackend.LoggedIn(access, "", user))
	r := s.do(t, seJSONLogin("app", "nora", "pw").Cookie(testkit.RefreshCookie, "previous-users-refresh").Cookie("authExpires", "123"))
	if r.Code != http.StatusOK {
		t.Fatalf("login: %d %s", r.Code, r.Body)
	}
	testkit.WantCookieSet(t, r, testkit.UserCookie, access)
	testkit.WantCookieCleared(t, r, testkit.RefreshCookie)
	testkit.WantCookieCleared(t, r, "authExpires")
	carried := false
	for _, c := range r.SetCookies(testkit.RefreshCookie) {
		carried = carried || testkit.IsClearing(c)
	}
	r = s.do(t, seJSONLogin("app", "nora", "pw"))
	testkit.WantCookieCleared(t, r, testkit.RefreshCookie)

	// Tokens echoed by the backend in any shape stay out of the answers.
	echo, echoRefresh := fakebackend.Token("e2e-echo-access"), fakebackend.Token("e2e-echo-refresh")
	echoUser := fakebackend.UserData("u-echo", "user", nil)
	echoUser["accessToken"] = echo
	echoUser["session"] = "Bearer " + echo
	echoUser["name"] = "Echo"
	s.be.SetUser(echo, echoUser)
	answer := fakebackend.LoggedIn(echo, echoRefresh, echoUser)
	doc := answer.JSON.(map[string]interface{})
	doc["message"] = "welcome, your token is " + echo
	doc["cookie"] = "userToken=" + echo
	doc["auth"] = "Bearer " + echoRefresh
	s.be.SetLogin("echo", "pw", answer)
	r = s.do(t, seJSONLogin("app", "echo", "pw"))
	leaks := 0
	if r.Code != http.StatusOK {
		t.Errorf("echo login: %d %s", r.Code, r.Body)
	}
	for _, body := range []string{r.Body, s.do(t, api("app", seSessionPath).Cookie(testkit.UserCookie, echo).Cookie(testkit.RefreshCookie, echoRefresh)).Body} {
		if strings.Contains(body, echo) || strings.Contains(body, echoRefresh) {
			leaks++
			t.Errorf("an answer holds a token: %s", body)
		}
		if !strings.Contains(body, `"Echo"`) {
			t.Errorf("an answer lost the user's plain fields: %s", body)
		}
	}
	t.Logf("login without a refresh token: carried refresh cookie cleared: %v; login/session answers holding an echoed token: %d of 2", carried, leaks)
}

// TestSessionEndLookalikePathsNeverReachTheApp: another spelling of an
// endpoint's path (case, a ";" parameter) is refused with 400 through
// Traefik, so an app reading it as its own login route never receives the
// credentials; spellings that are the endpoint once canonical are the
// endpoint.
func TestSessionEndLookalikePathsNeverReachTheApp(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"app": seEndpoints(nil)})
	creds := `{"username":"u","password":"secret"}`
	lookalikes := []string{"/AUTH/LOGIN", "/Auth/Login", "/auth/login;x", "/auth/login;jsessionid=1", "/auth/LOGOUT", "/auth/session;a=b", "/AUTH/login/;x"}
	before := s.up.Count()
	reached := 0
	for _, p := range lookalikes {
		r := s.do(t, api("app", p).With(http.MethodPost).WithBody("application/json", creds))
		if r.Upstream != nil {
			reached++
		}
		testkit.WantNotForwarded(t, r)
		if r.Code != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", p, r.Code, r.Body)
		}
	}
	for _, p := range []string{"/auth//login", "/auth/login/", "/auth/./login"} {
		r := s.do(t, api("app", p).With(http.MethodPost).WithBody("application/json", creds))
		if r.Upstream != nil {
			reached++
		}
		testkit.WantNotForwarded(t, r)
	}
	if n := s.up.Count() - before; n != 0 {
		t.Errorf("the app received %d of the endpoint spellings, want none", n)
	}
	testkit.WantForwarded(t, s.do(t, page("app", "/auth/loginhelp")))
	t.Logf("endpoint lookalike paths: %d of %d reached the app", reached, len(lookalikes)+3)
}

// TestSessionEndEndpointsShareOneDeadline: login's backend call and the
// validation of its token, and logout's validation and its backend call,
// fit in one backend.timeout together. The bounds are correctness bounds
// with wide margins: two calls in a row take twice the timeout.
func TestSessionEndEndpointsShareOneDeadline(t *testing.T) {
	const (
		timeout = 2 * time.Second
		call    = 1900 * time.Millisecond // each of the two calls
		bound   = 3 * time.Second         // one timeout: 2 s; two: 3.8 s (login), 4 s (logout)
	)
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"slow": seEndpoints(m{"backend": m{"timeout": timeout.String()}})})
	access := fakebackend.Token("e2e-slow-access")
	data := fakebackend.UserData("u-slow", "user", nil)
	s.be.SetValidate(access, fakebackend.Answer{JSON: fakebackend.OK(data).JSON, Delay: call})
	slowLogin := fakebackend.LoggedIn(access, "", data)
	slowLogin.Delay = call
	s.be.SetLogin("sam", "pw", slowLogin)
	r := s.do(t, seJSONLogin("slow", "sam", "pw"))
	loginTook := r.Elapsed
	if loginTook > bound {
		t.Errorf("login took %s with two %s backend calls and backend.timeout %s, want within one timeout (bound %s)", loginTook, call, timeout, bound)
	}

	hung := fakebackend.Token("e2e-hung-access")
	s.be.SetValidate(hung, fakebackend.Hang())
	s.be.SetLogoutAnswer(fakebackend.Hang())
	r2 := s.do(t, seLogout("slow").Cookie(testkit.UserCookie, hung))
	if r2.Elapsed > bound {
		t.Errorf("logout took %s with a hung backend and backend.timeout %s, want within one timeout (bound %s)", r2.Elapsed, timeout, bound)
	}
	if r2.Code != http.StatusOK {
		t.Errorf("logout with a hung backend: %d %s, want 200", r2.Code, r2.Body)
	}
	testkit.WantCookieCleared(t, r2, testkit.UserCookie)
	t.Logf("login with two %.1f s backend calls and timeout %.1f s: answered %d in %.2f s; logout with a hung backend (uncached session): answered %d in %.2f s",
		call.Seconds(), timeout.Seconds(), r.Code, loginTook.Seconds(), r2.Code, r2.Elapsed.Seconds())
}

// TestSessionEndLoginMintsNoGuest: a cookie-less login with guests on
// costs the login and the validation of its token, no guest; nor do the
// session and logout endpoints mint one. A burst of cookie-less logins
// behind a slow backend mints none either.
func TestSessionEndLoginMintsNoGuest(t *testing.T) {
	const (
		burstN = 200
		delay  = 200 * time.Millisecond
	)
	s := start(t, traefikrun.Options{})
	s.be.EnableGuest("guest-user", "guest-pass")
	// slowBackend is the fake backend behind 200 ms of latency on every call.
	target, err := url.Parse(s.be.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	slowBackend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(slowBackend.Close)
	slow := seEndpoints(seGuestOpts)
	testkit.Merge(slow, m{"backend": m{"url": slowBackend.URL}})
	s.deploy(t, sites{"gl": seEndpoints(seGuestOpts), "slow": slow})

	access := fakebackend.Token("e2e-gina-access")
	user := fakebackend.UserData("u-gina", "user", nil)
	s.be.SetUser(access, user)
	s.be.SetLogin("gina", "pw", fakebackend.LoggedIn(access, "", user))
	before := s.be.Total()
	r := s.do(t, seJSONLogin("gl", "gina", "pw"))
	if r.Code != http.StatusOK {
		t.Fatalf("login: %d %s", r.Code, r.Body)
	}
	testkit.WantCookieSet(t, r, testkit.UserCookie, access)
	calls := s.be.Total() - before
	if calls != 2 {
		t.Errorf("backend calls for one cookie-less login: %d, want 2 (login, validate)", calls)
	}
	s.do(t, api("gl", seSessionPath))
	s.do(t, seLogout("gl"))
	if n := s.be.Count(fakebackend.Guest); n != 0 {
		t.Errorf("guest mints for a login, a session and a logout: %d, want 0", n)
	}

	burstAccess := fakebackend.Token("e2e-burst-access")
	s.be.SetUser(burstAccess, fakebackend.UserData("u-burst", "user", nil))
	s.be.SetLogin("burst", "pw", fakebackend.LoggedIn(burstAccess, "", fakebackend.UserData("u-burst", "user", nil)))
	before = s.be.Total()
	started := time.Now()
	results := s.startBurst(burstN, seJSONLogin("slow", "burst", "pw")).collect(t)
	wall := time.Since(started)
	ok := 0
	for _, r := range results {
		if r.Code == http.StatusOK {
			ok++
		}
	}
	if ok != burstN {
		t.Errorf("burst: %d of %d logins answered 200", ok, burstN)
	}
	burstCalls := s.be.Total() - before
	if burstCalls > 2*burstN {
		t.Errorf("backend calls for %d cookie-less logins: %d, want at most 2 each", burstN, burstCalls)
	}
	if n := s.be.Count(fakebackend.Guest); n != 0 {
		t.Errorf("guest mints: %d, want 0", n)
	}
	t.Logf("cookie-less login with guests on: %d backend calls; %d concurrent cookie-less logins behind a %d ms backend: %d answered 200, %d backend calls (%d guest mints), wall time %.2f s",
		calls, burstN, delay.Milliseconds(), ok, burstCalls, s.be.Count(fakebackend.Guest), wall.Seconds())
}

// TestSessionEndOriginWithoutCSRF: with csrf off, login compares the whole
// Origin (scheme, host and port) with the request's and refuses two Origin
// headers.
func TestSessionEndOriginWithoutCSRF(t *testing.T) {
	s := start(t, traefikrun.Options{})
	s.deploy(t, sites{"app": seEndpoints(nil)})
	access := fakebackend.Token("e2e-olga-access")
	user := fakebackend.UserData("u-olga", "user", nil)
	s.be.SetUser(access, user)
	s.be.SetLogin("olga", "pw", fakebackend.LoggedIn(access, "", user))
	post := func(origins ...string) *testkit.Result {
		rq := seJSONLogin("app", "olga", "pw")
		for _, o := range origins {
			rq = rq.WithHeader("Origin", o)
		}
		return s.do(t, rq)
	}
	if r := post("http://app.test"); r.Code != http.StatusOK {
		t.Errorf("same origin: %d %s", r.Code, r.Body)
	}
	refused := 0
	cases := [][]string{{"https://app.test"}, {"http://app.test:8443"}, {"http://app.test", "https://evil.test"}, {"https://evil.test", "http://app.test"}, {"null"}}
	for _, origins := range cases {
		if r := post(origins...); r.Code != http.StatusForbidden {
			t.Errorf("Origin %q: %d %s, want 403", origins, r.Code, r.Body)
		} else {
			refused++
		}
	}
	t.Logf("login without CSRF: %d of %d foreign or doubled Origins refused", refused, len(cases))
}

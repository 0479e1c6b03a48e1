// Package fakebackend is a programmable auth backend for authlayer's
// contract tests. It speaks next-api-layer's default protocol on an
// httptest server bound to the loopback interface:
//
//   - GET  /auth/me       validate, "Authorization: Bearer <token>"
//   - POST /auth/refresh  refresh, "Authorization: Bearer <credential>"
//   - POST /auth/guest    mint a guest token from {"username","password"}
//   - POST /auth/login    log in with {"username","password"} (SetLogin)
//   - POST /auth/logout   log out, "Authorization: Bearer <token>"
//
// Answers are programmed per token (validate) and per credential
// (refresh); unknown tokens get 401. Every call is counted and recorded,
// and a Gate holds the calls to one endpoint until the test releases them,
// so concurrency tests need no sleeps.
package fakebackend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Endpoint names, for Count, Calls and Hold.
const (
	Validate = "validate"
	Refresh  = "refresh"
	Guest    = "guest"
	Login    = "login"
	Logout   = "logout"
	Other    = "other"
)

// Default endpoint paths (authlayer's defaults joined to the base URL).
const (
	ValidatePath = "/auth/me"
	RefreshPath  = "/auth/refresh"
	GuestPath    = "/auth/guest"
	LoginPath    = "/auth/login"
	LogoutPath   = "/auth/logout"
)

// Answer is one programmed response. The zero Status means 200.
type Answer struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Body is sent as is when not empty (for garbage answers).
	Body string
	// JSON is marshalled as the body when Body is empty; nil means no body.
	JSON interface{}
	// Hang never answers: the handler waits until the client goes away
	// (authlayer's timeout) or the backend is closed.
	Hang bool
	// Delay answers after this long (a slow but healthy backend), unless
	// the client goes away first.
	Delay time.Duration
	// Location is sent as the Location header when not empty (with a 3xx
	// Status: a redirecting backend).
	Location string
}

// Call is one request the backend received.
type Call struct {
	Method        string
	Path          string
	Authorization string // the raw header, "" when absent
	Token         string // Authorization without "Bearer "
	ContentType   string
	Body          string
	// Aborted is set when the client went away while the call was held by
	// a gate or hanging.
	Aborted bool
	// Hung is set when the call was answered with Hang.
	Hung bool
}

// Backend is a fake auth backend. The zero value is not usable: use New.
type Backend struct {
	// URL is the base URL (no trailing slash), for backend.url.
	URL string

	srv       *httptest.Server
	done      chan struct{} // closed by Close: ends hangs and gates
	closeOnce sync.Once

	mu           sync.Mutex // protects everything below
	validate     map[string]Answer
	refresh      map[string]Answer
	guestAnswer  *Answer
	guestUser    string
	guestPass    string
	guestOn      bool
	guestSeq     int
	minted       map[string]map[string]interface{} // guest token -> user
	logins       map[string]Answer                 // username NUL password -> answer
	logoutAnswer *Answer
	gates        map[string]*Gate
	calls        map[string][]*Call
	tokenCalls   map[string]map[string]int
}

// New starts a backend on 127.0.0.1 and closes it when the test ends.
func New(t testing.TB) *Backend {
	t.Helper()
	b := &Backend{
		done:       make(chan struct{}),
		validate:   map[string]Answer{},
		refresh:    map[string]Answer{},
		minted:     map[string]map[string]interface{}{},
		logins:     map[string]Answer{},
		gates:      map[string]*Gate{},
		calls:      map[string][]*Call{},
		tokenCalls: map[string]map[string]int{},
	}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	b.URL = b.srv.URL
	t.Cleanup(b.Close)
	return b
}

// Close releases every held or hanging call and stops the server.
func (b *Backend) Close() {
	b.closeOnce.Do(func() {
		close(b.done)
		b.srv.Close()
	})
}

// ClosedURL returns the URL of a loopback port nobody listens on any more
// (connection refused).
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return "http://" + addr
}

// Token returns a JWT-shaped token (header.payload.signature, base64url)
// unique to label. Tokens for different labels differ in the payload;
// Resign changes only the last character.
func Token(label string) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]string{"sub": label})
	payload := base64.RawURLEncoding.EncodeToString(claims)
	return header + "." + payload + ".c2lnbmF0dXJl" + base64.RawURLEncoding.EncodeToString([]byte(label)) + "A"
}

// Resign returns token with its last character changed: the same header
// and payload, another signature.
func Resign(token string) string {
	if strings.HasSuffix(token, "A") {
		return token[:len(token)-1] + "B"
	}
	return token[:len(token)-1] + "A"
}

// UserData returns a user object for a validate answer: id and type, and
// role when not nil. typ "" leaves "type" out (authlayer then says "user").
func UserData(id interface{}, typ string, role interface{}) map[string]interface{} {
	d := map[string]interface{}{"id": id, "email": fmt.Sprint(id) + "@example.test"}
	if typ != "" {
		d["type"] = typ
	}
	if role != nil {
		d["role"] = role
	}
	return d
}

// OK is a valid validate answer carrying data as the user.
func OK(data map[string]interface{}) Answer {
	return Answer{JSON: map[string]interface{}{"success": true, "data": data}}
}

// Unauthorized is the definite "invalid token" answer.
func Unauthorized() Answer {
	return Answer{Status: http.StatusUnauthorized, JSON: map[string]interface{}{"success": false, "message": "invalid token"}}
}

// Status answers code with a JSON error body.
func Status(code int) Answer {
	return Answer{Status: code, JSON: map[string]interface{}{"success": false, "message": http.StatusText(code)}}
}

// Garbage answers 200 with a body that is not JSON.
func Garbage() Answer { return Answer{Body: "<html>definitely not json"} }

// Hang never answers.
func Hang() Answer { return Answer{Hang: true} }

// Redirect answers status with a Location header pointing at location.
func Redirect(status int, location string) Answer {
	return Answer{Status: status, Location: location, JSON: map[string]interface{}{"success": true}}
}

// Refreshed is a successful refresh answer; refresh "" leaves refreshToken
// out (no rotation).
func Refreshed(access, refresh string) Answer {
	data := map[string]interface{}{"accessToken": access}
	if refresh != "" {
		data["refreshToken"] = refresh
	}
	return Answer{JSON: map[string]interface{}{"success": true, "data": data}}
}

// Reuse is the 409 answer to a replayed refresh token.
func Reuse() Answer {
	return Answer{Status: http.StatusConflict, JSON: map[string]interface{}{"success": false, "code": "token_reuse", "message": "refresh token reuse detected"}}
}

// Expired is the 401 answer to an expired refresh credential.
func Expired() Answer {
	return Answer{Status: http.StatusUnauthorized, JSON: map[string]interface{}{"success": false, "message": "refresh token expired"}}
}

// Revoked is the 403 answer to a revoked refresh credential.
func Revoked() Answer {
	return Answer{Status: http.StatusForbidden, JSON: map[string]interface{}{"success": false, "message": "refresh token revoked"}}
}

// SetValidate programs the validate answer for token.
func (b *Backend) SetValidate(token string, a Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.validate[token] = a
}

// SetUser makes token valid for the user data.
func (b *Backend) SetUser(token string, data map[string]interface{}) {
	b.SetValidate(token, OK(data))
}

// SetRefresh programs the refresh answer for a credential (the refresh
// cookie, or the expired access token in single-token mode).
func (b *Backend) SetRefresh(credential string, a Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refresh[credential] = a
}

// RefreshTo makes credential refresh to access (and rotate to refresh when
// not ""), and makes access valid for data.
func (b *Backend) RefreshTo(credential, access, refresh string, data map[string]interface{}) {
	b.SetUser(access, data)
	b.SetRefresh(credential, Refreshed(access, refresh))
}

// EnableGuest makes the guest endpoint mint a new token per call for these
// credentials (401 for others). Minted tokens validate as type "guest".
func (b *Backend) EnableGuest(username, password string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.guestOn, b.guestUser, b.guestPass = true, username, password
}

// SetGuestAnswer replaces minting with a fixed answer (for failures).
func (b *Backend) SetGuestAnswer(a Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.guestAnswer = &a
}

// GuestToken is the token the n-th mint (from 1) returns.
func GuestToken(n int) string { return Token(fmt.Sprintf("guest-%d", n)) }

// GuestData is the user object of the n-th minted guest token.
func GuestData(n int) map[string]interface{} {
	return UserData(fmt.Sprintf("guest-%d", n), "guest", nil)
}

// Minted returns the user object of a guest token this backend minted.
func (b *Backend) Minted(token string) (map[string]interface{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.minted[token]
	return data, ok
}

// Count is the number of calls to endpoint so far.
func (b *Backend) Count(endpoint string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls[endpoint])
}

// CountFor is the number of calls to endpoint with Bearer token.
func (b *Backend) CountFor(endpoint, token string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokenCalls[endpoint][token]
}

// Total is the number of calls to all endpoints.
func (b *Backend) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.calls {
		n += len(c)
	}
	return n
}

// Calls returns copies of the calls to endpoint, in arrival order.
func (b *Backend) Calls(endpoint string) []Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Call, 0, len(b.calls[endpoint]))
	for _, c := range b.calls[endpoint] {
		out = append(out, *c)
	}
	return out
}

// Gate holds calls to one endpoint until Release.
type Gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// Hold installs a gate on endpoint: its calls are counted and recorded on
// arrival, then wait until Release (or until their client goes away).
func (b *Backend) Hold(endpoint string) *Gate {
	g := &Gate{arrived: make(chan struct{}, 4096), release: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gates[endpoint] = g
	return g
}

// Release lets every held and future call through.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

// WaitArrivals fails the test unless n calls have arrived at the gate
// within d (counting from the gate's installation, across calls).
func (g *Gate) WaitArrivals(t testing.TB, n int, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-g.arrived:
		case <-deadline.C:
			t.Fatalf("gate: %d of %d expected backend calls arrived within %v", i, n, d)
		}
	}
}

func (g *Gate) arrive() {
	select {
	case g.arrived <- struct{}{}:
	default: // more arrivals than any test waits for
	}
}

func endpointOf(path string) string {
	switch path {
	case ValidatePath:
		return Validate
	case RefreshPath:
		return Refresh
	case GuestPath:
		return Guest
	case LoginPath:
		return Login
	case LogoutPath:
		return Logout
	}
	return Other
}

func (b *Backend) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	auth := r.Header.Get("Authorization")
	call := &Call{
		Method:        r.Method,
		Path:          r.URL.Path,
		Authorization: auth,
		Token:         strings.TrimPrefix(auth, "Bearer "),
		ContentType:   r.Header.Get("Content-Type"),
		Body:          string(body),
	}
	endpoint := endpointOf(r.URL.Path)

	b.mu.Lock()
	b.calls[endpoint] = append(b.calls[endpoint], call)
	if b.tokenCalls[endpoint] == nil {
		b.tokenCalls[endpoint] = map[string]int{}
	}
	b.tokenCalls[endpoint][call.Token]++
	gate := b.gates[endpoint]
	b.mu.Unlock()

	if gate != nil {
		gate.arrive()
		select {
		case <-gate.release:
		case <-r.Context().Done():
			b.markAborted(call)
			return
		case <-b.done:
			return
		}
	}

	a := b.answer(endpoint, r.Method, call)
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			b.markAborted(call)
			return
		case <-b.done:
			return
		}
	}
	if a.Hang {
		b.markHung(call)
		select {
		case <-r.Context().Done():
			b.markAborted(call)
		case <-b.done:
		}
		return
	}
	write(w, a)
}

func (b *Backend) markHung(c *Call) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c.Hung = true
}

func (b *Backend) markAborted(c *Call) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c.Aborted = true
}

func (b *Backend) answer(endpoint, method string, c *Call) Answer {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch endpoint {
	case Validate:
		if method != http.MethodGet {
			return Status(http.StatusMethodNotAllowed)
		}
		if a, ok := b.validate[c.Token]; ok && c.Authorization == "Bearer "+c.Token {
			return a
		}
		return Unauthorized()
	case Refresh:
		if method != http.MethodPost {
			return Status(http.StatusMethodNotAllowed)
		}
		if a, ok := b.refresh[c.Token]; ok && c.Authorization == "Bearer "+c.Token {
			return a
		}
		return Expired()
	case Guest:
		if method != http.MethodPost {
			return Status(http.StatusMethodNotAllowed)
		}
		if b.guestAnswer != nil {
			return *b.guestAnswer
		}
		return b.mintLocked(c)
	case Login:
		if method != http.MethodPost {
			return Status(http.StatusMethodNotAllowed)
		}
		return b.loginLocked(c)
	case Logout:
		if method != http.MethodPost {
			return Status(http.StatusMethodNotAllowed)
		}
		if b.logoutAnswer != nil {
			return *b.logoutAnswer
		}
		return Answer{JSON: map[string]interface{}{"success": true}}
	}
	return Status(http.StatusNotFound)
}

// SetLogin makes a login with username and password answer a (see
// LoggedIn for the usual answer); other credentials get 401.
func (b *Backend) SetLogin(username, password string, a Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logins[username+"\x00"+password] = a
}

// SetLogoutAnswer replaces the logout endpoint's 200.
func (b *Backend) SetLogoutAnswer(a Answer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logoutAnswer = &a
}

// LoggedIn is a successful login answer, next-api-layer's shape: the user
// and the tokens under data (refresh "" leaves it out).
func LoggedIn(access, refresh string, user map[string]interface{}) Answer {
	data := map[string]interface{}{"accessToken": access, "user": user}
	if refresh != "" {
		data["refreshToken"] = refresh
	}
	return Answer{JSON: map[string]interface{}{"success": true, "data": data}}
}

func (b *Backend) loginLocked(c *Call) Answer {
	var creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if json.Unmarshal([]byte(c.Body), &creds) != nil {
		return Answer{Status: http.StatusBadRequest, JSON: map[string]interface{}{"success": false, "message": "bad request"}}
	}
	if a, ok := b.logins[creds.Username+"\x00"+creds.Password]; ok {
		return a
	}
	return Answer{Status: http.StatusUnauthorized, JSON: map[string]interface{}{"success": false, "message": "Invalid username or password"}}
}

func (b *Backend) mintLocked(c *Call) Answer {
	var creds struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !b.guestOn || json.Unmarshal([]byte(c.Body), &creds) != nil ||
		creds.Username != b.guestUser || creds.Password != b.guestPass {
		return Status(http.StatusUnauthorized)
	}
	b.guestSeq++
	token := GuestToken(b.guestSeq)
	b.validate[token] = OK(GuestData(b.guestSeq))
	b.minted[token] = GuestData(b.guestSeq)
	// next-api-layer's guest answer does not carry "success".
	return Answer{JSON: map[string]interface{}{"data": map[string]interface{}{"accessToken": token}}}
}

func write(w http.ResponseWriter, a Answer) {
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	if a.Location != "" {
		w.Header().Set("Location", a.Location)
	}
	body := []byte(a.Body)
	if a.Body == "" && a.JSON != nil {
		var err error
		if body, err = json.Marshal(a.JSON); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

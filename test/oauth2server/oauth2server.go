// Package oauth2server is the tests' own OAuth2 authorization server, on
// a loopback httptest server, for the oauth2 preset. It follows the RFCs
// the preset speaks, and nothing else:
//
//   - RFC 6749 §6, the refresh_token grant, and §4.3, the resource owner
//     password credentials grant, at POST /token (form-encoded, §3.2; a
//     parameter sent twice is an invalid_request, an empty one is absent,
//     §3.1);
//   - §5.1 successful answers (JSON access_token, token_type "Bearer",
//     expires_in, refresh_token, scope when one was asked) and §5.2 error
//     answers (400 JSON {"error", "error_description"}; invalid_client is
//     401 with WWW-Authenticate: Basic), both with Cache-Control: no-store
//     and Pragma: no-cache;
//   - §2.3.1 client authentication: HTTP Basic with the client id and
//     secret each form-urlencoded before the Basic encoding, or
//     client_id and client_secret in the form (client_secret_post), for
//     confidential clients; client_id alone for public clients (§2.1,
//     §3.2.1); two methods at once are an invalid_request (§2.3);
//   - refresh-token rotation with reuse detection (RFC 6819 §5.2.2.3,
//     OAuth 2.0 Security BCP §4.14.2, as Auth0 and Okta do it): every
//     refresh answers a new refresh token and retires the one used; a
//     retired refresh token presented again is answered invalid_grant and
//     the whole token family (every refresh and access token descending
//     from the same grant) is revoked;
//   - RFC 7009 revocation at POST /revoke: 200 for any token, unknown ones
//     included; a refresh token revokes its whole family (§2.1), an
//     access token itself;
//   - OIDC Core §5.3 userinfo at GET or POST /userinfo with a Bearer token
//     (RFC 6750 §2.1, or §2.2 the form's access_token): the user's claims,
//     "sub" first; 401 with WWW-Authenticate: Bearer (error="invalid_token"
//     for a bad token, RFC 6750 §3.1).
//
// Tokens are opaque random strings (32 bytes, base64url); lifetimes are
// configurable and the server's clock can be advanced (Advance) instead of
// waiting. Every request is counted per path (Counts) and recorded
// (Calls) with how the client authenticated.
package oauth2server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/authlayer/authlayer/test/testkit"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths of the server's endpoints.
const (
	TokenPath    = "/token"
	UserinfoPath = "/userinfo"
	RevokePath   = "/revoke"
)

// Grant types (RFC 6749 §4.3.2, §6).
const (
	GrantPassword = "password"
	GrantRefresh  = "refresh_token"
)

// Error codes of RFC 6749 §5.2 and RFC 6750 §3.1.
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidClient        = "invalid_client"
	ErrInvalidGrant         = "invalid_grant"
	ErrUnauthorizedClient   = "unauthorized_client"
	ErrUnsupportedGrantType = "unsupported_grant_type"
	ErrInvalidScope         = "invalid_scope"
	ErrInvalidToken         = "invalid_token"
)

// Realm is the realm of the WWW-Authenticate challenges.
const Realm = "oauth2server"

// Default lifetimes, used when Options leaves them zero.
const (
	DefaultAccessLifetime  = 5 * time.Minute
	DefaultRefreshLifetime = 24 * time.Hour
)

// Bounds.
const (
	maxBody     = 64 << 10
	callTimeout = 10 * time.Second
)

// Client is one registered client.
type Client struct {
	// ID is the client_id.
	ID string
	// Secret makes the client confidential: it must authenticate, with
	// HTTP Basic or client_secret_post. "" makes it a public client that
	// sends client_id alone.
	Secret string
	// Grants are the grant types it may use (GrantPassword,
	// GrantRefresh); empty: both. Another is answered
	// unauthorized_client.
	Grants []string
}

// User is one resource owner.
type User struct {
	Username string
	Password string
	// Subject is the "sub" claim; "" makes it "sub-" + Username.
	Subject string
	// Roles become the userinfo's "roles" claim (absent when empty).
	Roles []string
	// Claims are more userinfo claims; "sub" cannot be overridden.
	Claims map[string]interface{}
}

// Options configure one server.
type Options struct {
	Clients []Client
	Users   []User
	// AccessLifetime and RefreshLifetime: 0 keeps the defaults (5 minutes,
	// 1 day). A refresh token's lifetime counts from its own issue: a
	// rotated one gets a fresh one.
	AccessLifetime  time.Duration
	RefreshLifetime time.Duration
	// NoRotation keeps a refresh token valid across refreshes; the answer
	// then has no refresh_token (RFC 6749 §5.1: it is optional). Default:
	// rotation with reuse detection.
	NoRotation bool
}

// Default clients and users of Defaults().
const (
	// ConfidentialID's secret has characters that RFC 6749 §2.3.1's
	// form-urlencoding changes (":" "/" "+" "%" " " "@"), so a client that
	// skips the encoding, or a server that skips the decoding, fails.
	ConfidentialID     = "authlayer-web"
	ConfidentialSecret = "s3cr:t/+ %@x"
	PublicID           = "authlayer-spa"
)

// Defaults returns a confidential client (ConfidentialID,
// ConfidentialSecret), a public client (PublicID), and two users: alice
// (password "alice-pw", sub "sub-alice", roles admin and staff) and bob
// ("bob-pw", sub "sub-bob", no role).
func Defaults() Options {
	return Options{
		Clients: []Client{
			{ID: ConfidentialID, Secret: ConfidentialSecret},
			{ID: PublicID},
		},
		Users: []User{
			{Username: "alice", Password: "alice-pw", Roles: []string{"admin", "staff"}, Claims: map[string]interface{}{"email": "alice@example.test"}},
			{Username: "bob", Password: "bob-pw"},
		},
	}
}

// Call is one request the server received.
type Call struct {
	Method, Path string
	// ContentType is the request's media type, without parameters.
	ContentType string
	// ClientAuth is how the client authenticated at /token and /revoke:
	// "basic", "post" (client_secret in the form) or "none" (a public
	// client's client_id alone); "" when no client was recognised.
	ClientAuth string
	ClientID   string
	// Bearer says the request carried Authorization: Bearer.
	Bearer bool
	// Form is the body's parameters (tokens and secrets included: never
	// print it; String redacts them).
	Form url.Values
	// Status and Error are the answer's status and "error" code.
	Status int
	Error  string
}

// secretParams are the form parameters String redacts.
var secretParams = map[string]bool{"password": true, "refresh_token": true, "token": true, "client_secret": true, "access_token": true}

// String describes the call without a token, password or secret.
func (c Call) String() string {
	names := make([]string, 0, len(c.Form))
	for k := range c.Form {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		v := strings.Join(c.Form[k], ",")
		if secretParams[k] {
			v = "<redacted>"
		}
		parts = append(parts, k+"="+v)
	}
	return fmt.Sprintf("%s %s [%s] auth=%s client=%q bearer=%v form{%s} → %d %s",
		c.Method, c.Path, c.ContentType, c.ClientAuth, c.ClientID, c.Bearer, strings.Join(parts, " "), c.Status, c.Error)
}

// family is every token descending from one grant.
type family struct {
	clientID string
	user     *User
	scope    string
	revoked  bool
}

type accessToken struct {
	fam     *family
	expires time.Time
	revoked bool
}

type refreshToken struct {
	fam     *family
	expires time.Time
	used    bool // retired by rotation: presenting it again is reuse
}

// Server is one running authorization server.
type Server struct {
	srv     *httptest.Server
	access  time.Duration
	refresh time.Duration
	rotate  bool
	clients map[string]Client
	users   map[string]*User
	client  *http.Client

	mu       sync.Mutex // guards everything below
	offset   time.Duration
	accesses map[string]*accessToken
	refreshs map[string]*refreshToken
	counts   map[string]int
	calls    []Call
}

// Start runs a server with o on a loopback port; it is closed when the
// test ends. A bad Options fails the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := newServer(o)
	if err != nil {
		t.Fatalf("oauth2server: %v", err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.client = &http.Client{Timeout: callTimeout}
	t.Cleanup(s.Close)
	return s
}

func newServer(o Options) (*Server, error) {
	if o.AccessLifetime < 0 || o.RefreshLifetime < 0 {
		return nil, fmt.Errorf("negative token lifetime")
	}
	s := &Server{
		access: o.AccessLifetime, refresh: o.RefreshLifetime, rotate: !o.NoRotation,
		clients: map[string]Client{}, users: map[string]*User{},
		accesses: map[string]*accessToken{}, refreshs: map[string]*refreshToken{}, counts: map[string]int{},
	}
	if s.access == 0 {
		s.access = DefaultAccessLifetime
	}
	if s.refresh == 0 {
		s.refresh = DefaultRefreshLifetime
	}
	for _, c := range o.Clients {
		if c.ID == "" {
			return nil, fmt.Errorf("a client without an id")
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("client %q registered twice", c.ID)
		}
		s.clients[c.ID] = c
	}
	for _, u := range o.Users {
		u := u
		if u.Username == "" {
			return nil, fmt.Errorf("a user without a username")
		}
		if u.Subject == "" {
			u.Subject = "sub-" + u.Username
		}
		s.users[u.Username] = &u
	}
	return s, nil
}

// Close stops the server; later requests fail.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL, http://127.0.0.1:<port>, without a
// trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// Advance moves the server's clock forward by d: tokens expire without
// the test waiting.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Counts returns the number of requests per path since the start or the
// last ResetCounts.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Count is Counts()[path].
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// Calls returns the requests to path since the start or the last
// ResetCounts, in the order they were answered.
func (s *Server) Calls(path string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// ResetCounts zeroes the counters and forgets the calls.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.calls = nil
	s.mu.Unlock()
}

// now is the server's clock; call with s.mu held.
func (s *Server) now() time.Time { return time.Now().Add(s.offset) }

// ---- HTTP ------------------------------------------------------------------

// oauthError is an error answer (RFC 6749 §5.2, RFC 6750 §3.1).
type oauthError struct {
	status      int
	code        string
	description string
	challenge   string // WWW-Authenticate, when any
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func badRequest(code, description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, description: description}
}

// invalidClient is RFC 6749 §5.2's invalid_client: 401 with the Basic
// challenge (the scheme a client may use; a client that tried Basic MUST
// get it).
func invalidClient(description string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: ErrInvalidClient, description: description,
		challenge: `Basic realm="` + Realm + `"`}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	call := &Call{Method: r.Method, Path: r.URL.Path}
	call.ContentType, _, _ = mime.ParseMediaType(r.Header.Get("Content-Type"))
	s.mu.Lock()
	s.counts[r.URL.Path]++
	s.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	switch r.URL.Path {
	case TokenPath:
		s.serveToken(rec, r, call)
	case RevokePath:
		s.serveRevoke(rec, r, call)
	case UserinfoPath:
		s.serveUserinfo(rec, r, call)
	default:
		http.NotFound(rec, r)
	}
	call.Status = rec.status
	s.mu.Lock()
	s.calls = append(s.calls, *call)
	s.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// noStore sets RFC 6749 §5.1's headers on a token endpoint answer.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers e on the token or revocation endpoint.
func writeError(w http.ResponseWriter, call *Call, e *oauthError) {
	call.Error = e.code
	noStore(w)
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	body := map[string]string{"error": e.code}
	if e.description != "" {
		body["error_description"] = e.description
	}
	writeJSON(w, e.status, body)
}

// readForm reads a POSTed form body (RFC 6749 §3.2: POST,
// application/x-www-form-urlencoded; a parameter at most once).
func readForm(w http.ResponseWriter, r *http.Request, call *Call) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: ErrInvalidRequest, description: "the endpoint takes POST"}
	}
	if call.ContentType != "application/x-www-form-urlencoded" {
		return nil, badRequest(ErrInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, badRequest(ErrInvalidRequest, "unreadable or oversized body")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest(ErrInvalidRequest, "malformed form body")
	}
	call.Form = form
	for k, v := range form {
		if len(v) > 1 {
			return nil, badRequest(ErrInvalidRequest, "parameter "+k+" is repeated")
		}
	}
	return form, nil
}

// param is a form parameter; an empty one is absent (RFC 6749 §3.1).
func param(form url.Values, name string) string { return form.Get(name) }

// authenticate identifies and authenticates the client (RFC 6749 §2.3.1,
// §3.2.1).
func (s *Server) authenticate(r *http.Request, form url.Values, call *Call) (Client, *oauthError) {
	authz := r.Header.Get("Authorization")
	formID, formSecret := param(form, "client_id"), param(form, "client_secret")
	if authz != "" {
		id, secret, ok := parseBasic(authz)
		if !ok {
			return Client{}, invalidClient("the Authorization header is not valid HTTP Basic client authentication")
		}
		if formSecret != "" {
			return Client{}, badRequest(ErrInvalidRequest, "more than one client authentication method")
		}
		if formID != "" && formID != id {
			return Client{}, invalidClient("client_id does not match the authenticated client")
		}
		call.ClientAuth, call.ClientID = "basic", id
		c, known := s.clients[id]
		if !known || c.Secret == "" || !equal(c.Secret, secret) {
			return Client{}, invalidClient("client authentication failed")
		}
		return c, nil
	}
	if formID == "" {
		return Client{}, invalidClient("no client authentication and no client_id")
	}
	c, known := s.clients[formID]
	call.ClientID = formID
	if formSecret != "" {
		call.ClientAuth = "post"
		if !known || c.Secret == "" || !equal(c.Secret, formSecret) {
			return Client{}, invalidClient("client authentication failed")
		}
		return c, nil
	}
	call.ClientAuth = "none"
	if !known {
		return Client{}, invalidClient("unknown client")
	}
	if c.Secret != "" {
		return Client{}, invalidClient("a confidential client must authenticate")
	}
	return c, nil
}

// parseBasic decodes HTTP Basic client credentials, each form-urlencoded
// before the Basic encoding (RFC 6749 §2.3.1).
func parseBasic(authz string) (string, string, bool) {
	scheme, rest, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(encID)
	secret, err2 := url.QueryUnescape(encSecret)
	if err1 != nil || err2 != nil || id == "" {
		return "", "", false
	}
	return id, secret, true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func allowed(c Client, grant string) bool {
	if len(c.Grants) == 0 {
		return true
	}
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}

// serveToken is the token endpoint (RFC 6749 §3.2, §4.3, §6).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, call *Call) {
	form, e := readForm(w, r, call)
	if e != nil {
		writeError(w, call, e)
		return
	}
	client, e := s.authenticate(r, form, call)
	if e != nil {
		writeError(w, call, e)
		return
	}
	grant := param(form, "grant_type")
	var answer map[string]interface{}
	switch grant {
	case "":
		e = badRequest(ErrInvalidRequest, "grant_type is missing")
	case GrantPassword, GrantRefresh:
		if !allowed(client, grant) {
			e = badRequest(ErrUnauthorizedClient, "the client may not use the "+grant+" grant")
		} else if grant == GrantPassword {
			answer, e = s.passwordGrant(client, form)
		} else {
			answer, e = s.refreshGrant(client, form)
		}
	default:
		e = badRequest(ErrUnsupportedGrantType, "grant_type "+grant+" is not supported")
	}
	if e != nil {
		writeError(w, call, e)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, answer)
}

// passwordGrant is RFC 6749 §4.3.2.
func (s *Server) passwordGrant(client Client, form url.Values) (map[string]interface{}, *oauthError) {
	username, password := param(form, "username"), param(form, "password")
	if username == "" || password == "" {
		return nil, badRequest(ErrInvalidRequest, "username and password are required")
	}
	u, known := s.users[username]
	if !known || !equal(u.Password, password) {
		return nil, badRequest(ErrInvalidGrant, "invalid resource owner credentials")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fam := &family{clientID: client.ID, user: u, scope: param(form, "scope")}
	return s.issue(fam, true), nil
}

// refreshGrant is RFC 6749 §6, with rotation and reuse detection.
func (s *Server) refreshGrant(client Client, form url.Values) (map[string]interface{}, *oauthError) {
	presented := param(form, "refresh_token")
	if presented == "" {
		return nil, badRequest(ErrInvalidRequest, "refresh_token is missing")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, known := s.refreshs[presented]
	switch {
	case !known:
		return nil, badRequest(ErrInvalidGrant, "unknown refresh token")
	case rt.fam.clientID != client.ID:
		return nil, badRequest(ErrInvalidGrant, "the refresh token was issued to another client")
	case rt.fam.revoked:
		return nil, badRequest(ErrInvalidGrant, "the refresh token was revoked")
	case rt.used:
		// A retired token presented again: someone holds a copy. The
		// whole family goes, the legitimate holder's newest token too.
		rt.fam.revoked = true
		return nil, badRequest(ErrInvalidGrant, "refresh token reuse detected: the grant is revoked")
	case !s.now().Before(rt.expires):
		return nil, badRequest(ErrInvalidGrant, "the refresh token expired")
	}
	if scope := param(form, "scope"); scope != "" && !subset(scope, rt.fam.scope) {
		return nil, badRequest(ErrInvalidScope, "the scope exceeds the one originally granted")
	}
	if s.rotate {
		rt.used = true
	}
	return s.issue(rt.fam, s.rotate), nil
}

// subset says whether every scope token of a is in b (RFC 6749 §3.3).
func subset(a, b string) bool {
	have := map[string]bool{}
	for _, v := range strings.Fields(b) {
		have[v] = true
	}
	for _, v := range strings.Fields(a) {
		if !have[v] {
			return false
		}
	}
	return true
}

// issue makes the tokens of a successful answer (RFC 6749 §5.1); call
// with s.mu held.
func (s *Server) issue(fam *family, withRefresh bool) map[string]interface{} {
	now := s.now()
	at := newToken()
	s.accesses[at] = &accessToken{fam: fam, expires: now.Add(s.access)}
	out := map[string]interface{}{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int64(s.access / time.Second),
	}
	if withRefresh {
		rt := newToken()
		s.refreshs[rt] = &refreshToken{fam: fam, expires: now.Add(s.refresh)}
		out["refresh_token"] = rt
	}
	if fam.scope != "" {
		out["scope"] = fam.scope
	}
	return out
}

// newToken is an opaque token: 32 random bytes, base64url.
func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// serveRevoke is RFC 7009 §2.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request, call *Call) {
	form, e := readForm(w, r, call)
	if e != nil {
		writeError(w, call, e)
		return
	}
	client, e := s.authenticate(r, form, call)
	if e != nil {
		writeError(w, call, e)
		return
	}
	token := param(form, "token")
	if token == "" {
		writeError(w, call, badRequest(ErrInvalidRequest, "token is missing"))
		return
	}
	// token_type_hint only orders the look-up (§2.1): both kinds are
	// searched whatever it says.
	s.mu.Lock()
	var fam *family
	rt, isRefresh := s.refreshs[token]
	at, isAccess := s.accesses[token]
	switch {
	case isRefresh:
		fam = rt.fam
	case isAccess:
		fam = at.fam
	}
	if fam != nil && fam.clientID != client.ID {
		s.mu.Unlock()
		// §2.1: a token issued to another client is refused.
		writeError(w, call, badRequest(ErrUnauthorizedClient, "the token was issued to another client"))
		return
	}
	if isRefresh {
		fam.revoked = true // the refresh token and every token of its grant (§2.1)
	} else if isAccess {
		at.revoked = true
	}
	s.mu.Unlock()
	// §2.2: 200 whether or not the token was known; the body is ignored.
	w.WriteHeader(http.StatusOK)
}

// serveUserinfo is OIDC Core §5.3 with RFC 6750 bearer tokens.
func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request, call *Call) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeBearerError(w, call, http.StatusMethodNotAllowed, ErrInvalidRequest, "userinfo takes GET or POST")
		return
	}
	token, methods := "", 0
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		token, methods = strings.TrimSpace(rest), 1
		call.Bearer = true
	} else if r.Header.Get("Authorization") != "" {
		writeBearerError(w, call, http.StatusUnauthorized, ErrInvalidToken, "the Authorization header is not a Bearer token")
		return
	}
	if r.Method == http.MethodPost && call.ContentType == "application/x-www-form-urlencoded" {
		form, e := readForm(w, r, call)
		if e != nil {
			writeBearerError(w, call, http.StatusBadRequest, ErrInvalidRequest, e.description)
			return
		}
		if v := param(form, "access_token"); v != "" {
			token = v
			methods++
		}
	}
	if methods > 1 {
		// RFC 6750 §2: one method at a time.
		writeBearerError(w, call, http.StatusBadRequest, ErrInvalidRequest, "the token was sent by more than one method")
		return
	}
	if token == "" {
		// RFC 6750 §3.1: no credentials, no error code.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	at, known := s.accesses[token]
	valid := known && !at.revoked && !at.fam.revoked && s.now().Before(at.expires)
	var user *User
	if valid {
		user = at.fam.user
	}
	s.mu.Unlock()
	if !valid {
		writeBearerError(w, call, http.StatusUnauthorized, ErrInvalidToken, "the access token is invalid, expired or revoked")
		return
	}
	claims := map[string]interface{}{}
	for k, v := range user.Claims {
		claims[k] = v
	}
	claims["sub"] = user.Subject
	claims["preferred_username"] = user.Username
	if len(user.Roles) > 0 {
		claims["roles"] = append([]string{}, user.Roles...)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, claims)
}

// writeBearerError is RFC 6750 §3's error answer.
func writeBearerError(w http.ResponseWriter, call *Call, status int, code, description string) {
	call.Error = code
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q, error=%q, error_description=%q`, Realm, code, description))
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// ---- helpers for tests -------------------------------------------------------

// Response is one answer of the server to a helper (its String hides the
// tokens, for failure messages).
type Response = testkit.BackendResponse

// Do sends a request to path with the given headers and body and returns
// the answer; a transport error fails the test.
func (s *Server) Do(t testing.TB, method, path string, header http.Header, body string) Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("oauth2server: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	out, err := testkit.Exchange(s.client, req, maxBody)
	if err != nil {
		t.Fatalf("oauth2server: %s %s: %v", method, path, err)
	}
	return out
}

// PostForm posts form to path as clientID: HTTP Basic for a confidential
// client, client_id in the form for a public one (an unregistered id is
// sent as a public client's).
func (s *Server) PostForm(t testing.TB, path, clientID string, form url.Values) Response {
	t.Helper()
	secret := ""
	if c, ok := s.clients[clientID]; ok {
		secret = c.Secret
	}
	body, h := testkit.ClientForm(form, clientID, secret)
	return s.Do(t, http.MethodPost, path, h, body)
}

// Tokens are a successful token answer's tokens.
type Tokens struct {
	Access, Refresh string
}

// Login is a password grant for username as clientID; anything but a 200
// with both tokens fails the test.
func (s *Server) Login(t testing.TB, clientID, username, password string) Tokens {
	t.Helper()
	r := s.PostForm(t, TokenPath, clientID, url.Values{"grant_type": {GrantPassword}, "username": {username}, "password": {password}})
	tk := Tokens{Access: r.Field("access_token"), Refresh: r.Field("refresh_token")}
	if r.Status != http.StatusOK || tk.Access == "" || tk.Refresh == "" {
		t.Fatalf("oauth2server: password grant for %s as %s: %s", username, clientID, r)
	}
	return tk
}

// Refresh is a refresh_token grant as clientID.
func (s *Server) Refresh(t testing.TB, clientID, refresh string) Response {
	t.Helper()
	return s.PostForm(t, TokenPath, clientID, url.Values{"grant_type": {GrantRefresh}, "refresh_token": {refresh}})
}

// Revoke is an RFC 7009 revocation as clientID ("" hint: none sent).
func (s *Server) Revoke(t testing.TB, clientID, token, hint string) Response {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return s.PostForm(t, RevokePath, clientID, form)
}

// Userinfo asks userinfo with the access token as a Bearer header.
func (s *Server) Userinfo(t testing.TB, access string) Response {
	t.Helper()
	return s.Do(t, http.MethodGet, UserinfoPath, http.Header{"Authorization": {"Bearer " + access}}, "")
}

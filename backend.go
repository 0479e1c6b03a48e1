package authlayer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/slots"
)

// maxBackendBody caps what is read from one backend answer.
const maxBackendBody = 1 << 20

// maxUserJSON caps the user object forwarded in X-Auth-User; a larger one
// would bloat every upstream request.
const maxUserJSON = 16 << 10

// errBackendUnavailable covers every transient failure: network errors,
// timeouts, no free call slot. It never means "allow".
var errBackendUnavailable = errors.New("auth backend unavailable")

// responseFields are the compiled JSON paths into backend answers.
type responseFields struct {
	success, user, userID, tokenType, expiresAt, roles jsonpath.Path
	accessToken, refreshToken                          jsonpath.Path
	userIsAnswer                                       bool        // responses.user "." : the whole answer is the user
	claims                                             *claimPaths // responses.userFromClaims: nil when off
}

// claimPaths read a user from a token's claims (responses.userFromClaims,
// with the jwt.*Claim paths).
type claimPaths struct {
	user, userID, tokenType, roles jsonpath.Path
}

// backendClient talks to the auth backend. One client (and its connection
// pool) serves every instance sharing a state; see state.go.
type backendClient struct {
	// transport is used directly, not through an http.Client: RoundTrip
	// never follows a redirect, so no redirect-blocking callback is needed.
	// (The one v0.2.0 had, a func literal with unnamed parameters, made
	// Yaegi v0.16.1 panic when compiled net/http called it: see
	// CONTRIBUTING.md.)
	transport http.RoundTripper
	urls      backendSettings
	fields    responseFields
	slots     *slots.Pool // backend.maxConcurrent, shared fairly between clients
	reuse     refreshSettings
	guest     []byte
	shapes    *requestShapes // per call; a nil shape: next-api-layer's request
	// guestUser and guestPassword fill a guest shape's placeholders.
	guestUser, guestPassword string
	clientID                 string
	// clientSecret is backend.clientSecret, for the {clientSecret}
	// placeholder; never logged.
	clientSecret string
	logName      string         // the middleware's name, for log lines
	health       *backendHealth // each endpoint's state, changes logged (backendhealth.go)
}

// newBackendTransport is the connection pool to one backend. It lives in
// the session scope (state.go), so reloads that change other options reuse
// its connections instead of leaving idle ones behind.
func newBackendTransport(maxConcurrent int) *http.Transport {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 2 * maxConcurrent
	transport.MaxIdleConnsPerHost = maxConcurrent // Go keeps only 2 by default
	transport.IdleConnTimeout = 90 * time.Second
	return transport
}

func newBackendClient(name string, s *settings, transport *http.Transport) *backendClient {
	return &backendClient{
		transport:    transport,
		urls:         s.backend,
		fields:       s.responses,
		slots:        slots.New(s.backend.maxConcurrent),
		reuse:        s.refresh,
		guest:        s.guest.body,
		shapes:       s.shapes,
		clientID:     s.clientID,
		clientSecret: s.clientSecret,
		logName:      name,
		health:       newBackendHealth(name),
	}
}

// backendAnswer is one backend response: its status and its JSON body
// (nil when the body is not JSON).
type backendAnswer struct {
	status int
	doc    interface{}
}

// backendCall makes one backend request on behalf of client (the key its fair
// share of call slots is counted under). It waits for a slot and answers
// within ctx's deadline.
func backendCall(b *backendClient, ctx context.Context, client, method, url, bearer string, body []byte) (backendAnswer, error) {
	if !acquireCallSlot(b, ctx, client) {
		return backendAnswer{}, errBackendUnavailable
	}
	defer slots.Release(b.slots, client)

	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return backendAnswer{}, errBackendUnavailable
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, raw, err := roundTrip(b.transport, req, maxBackendBody)
	if err != nil {
		return backendAnswer{}, err
	}
	return backendAnswer{status: status, doc: jsonpath.Decode(raw)}, nil
}

// acquireCallSlot waits for one of client's backend call slots until ctx's
// deadline (backend.timeout from now without one); the caller releases it.
func acquireCallSlot(b *backendClient, ctx context.Context, client string) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(b.urls.timeout)
	}
	return slots.Acquire(b.slots, client, deadline)
}

// backendCallShaped is backendCall for a call with a request shape
// (requestshape.go): the request is built from the shape and vals (raw:
// the login's browser body), and a status the shape calls success reads
// as 200.
func backendCallShaped(b *backendClient, ctx context.Context, client string, sh *requestShape, url string, vals *shapeValues, raw []byte) (backendAnswer, error) {
	if !acquireCallSlot(b, ctx, client) {
		return backendAnswer{}, errBackendUnavailable
	}
	defer slots.Release(b.slots, client)
	req, err := buildShaped(ctx, b, sh, url, vals, raw)
	if err != nil {
		return backendAnswer{}, errBackendUnavailable
	}
	status, body, err := roundTrip(b.transport, req, maxBackendBody)
	if err != nil {
		return backendAnswer{}, err
	}
	return backendAnswer{status: shapedStatus(sh, status), doc: jsonpath.Decode(body)}, nil
}

// shapeFor returns the call's shape, nil for next-api-layer's request.
func shapeFor(b *backendClient, call string) *requestShape {
	if b.shapes == nil {
		return nil
	}
	switch call {
	case "validate":
		return b.shapes.validate
	case "refresh":
		return b.shapes.refresh
	case "guest":
		return b.shapes.guest
	case "login":
		return b.shapes.login
	case "logout":
		return b.shapes.logout
	}
	return nil
}

// errBackendRedirect is a 3xx answer: never followed (the answer must come
// from the URL configured), and never an answer about a token.
var errBackendRedirect = errors.New("auth backend answered a redirect")

// roundTrip sends req on transport and reads at most limit bytes of the
// answer. A 3xx is errBackendRedirect, a network failure or an unreadable
// body one of the errors of backendhealth.go naming its class: all count
// as the backend being unavailable.
func roundTrip(transport http.RoundTripper, req *http.Request, limit int64) (int, []byte, error) {
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return 0, nil, transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Read a little of the body so a short redirect answer leaves its
		// connection reusable; a long one is dropped with the connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, nil, errBackendRedirect
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return resp.StatusCode, nil, bodyError(err)
	}
	return resp.StatusCode, raw, nil
}

// backendContext bounds one shared backend call by backend.timeout alone:
// it serves every request waiting on it, so no single client's
// cancellation may cut it off.
func backendContext(b *backendClient) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.urls.timeout)
}

// transientStatus marks answers that say nothing about the token.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// backendValidate asks the backend whether token is valid. Only a clear answer
// says invalid: a 4xx, or a well-formed answer whose success field is
// false. Anything else that is not the contract's answer (5xx, 408, 429,
// a redirect, a 2xx whose body is not the expected JSON) is a backend
// failure: it is not cached, triggers no refresh and clears no cookie.
func backendValidate(b *backendClient, ctx context.Context, client, token string) validation {
	if !validCookieValue(token) {
		// No backend call for what no cookie can hold (over 4096 bytes,
		// forbidden characters): it is not a token.
		return validation{state: stateInvalid}
	}
	var ans backendAnswer
	var err error
	if sh := shapeFor(b, "validate"); sh != nil {
		ans, err = backendCallShaped(b, ctx, client, sh, b.urls.validateURL, &shapeValues{token: token}, nil)
	} else {
		ans, err = backendCall(b, ctx, client, http.MethodGet, b.urls.validateURL, token, nil)
	}
	v := validateAnswer(b, ans, err, token)
	healthReport(b.health, "validate", b.urls.validateURL, answerCause(ans, err, v.state == stateTransient))
	return v
}

// validateAnswer classifies the outcome of a validate call.
func validateAnswer(b *backendClient, ans backendAnswer, err error, token string) validation {
	if err != nil {
		return validation{state: stateTransient}
	}
	if definiteRefusal(ans.status) {
		return validation{state: stateInvalid}
	}
	if !is2xx(ans.status) {
		return validation{state: stateTransient}
	}
	switch answerSuccess(b, ans.doc) {
	case answerNo:
		return validation{state: stateInvalid}
	case answerMalformed:
		return validation{state: stateTransient}
	}
	id := backendIdentity(b, ans.doc, token)
	if id == nil {
		return validation{state: stateTransient} // a 2xx without the user object is not the contract
	}
	return validation{state: stateValid, id: id}
}

// definiteRefusal is a 4xx that speaks about the token (not 408 or 429,
// which speak about the backend).
func definiteRefusal(status int) bool {
	return status >= 400 && status < 500 && !transientStatus(status)
}

// answerKind classifies a 2xx body against the contract.
type answerKind int

const (
	answerYes       answerKind = iota
	answerNo                   // the success field says false
	answerMalformed            // not the contract's JSON: a backend failure
)

// answerSuccess reads the success field: true, false, or neither (missing, or
// not a boolean): malformed. Without a configured field any JSON object is
// a yes.
func answerSuccess(b *backendClient, doc interface{}) answerKind {
	if doc == nil {
		return answerMalformed
	}
	if len(b.fields.success) == 0 {
		return answerYes
	}
	v, ok := jsonpath.Lookup(b.fields.success, doc)
	if !ok {
		return answerMalformed
	}
	switch t := v.(type) {
	case bool:
		if t {
			return answerYes
		}
		return answerNo
	case string:
		if strings.EqualFold(t, "true") {
			return answerYes
		}
		if strings.EqualFold(t, "false") {
			return answerNo
		}
	}
	return answerMalformed
}

// backendIdentity builds the user's identity from a validate answer.
func backendIdentity(b *backendClient, doc interface{}, token string) *identity {
	user, ok := jsonpath.Lookup(b.fields.user, doc)
	if b.fields.userIsAnswer {
		// Two statements: Yaegi v0.16.1 panics on a plain = that assigns
		// an interface{} value and a computed one together.
		user = doc
		ok = doc != nil
	}
	if !ok {
		if b.fields.claims != nil {
			return claimsOfVouchedToken(b.fields.claims, token)
		}
		return nil
	}
	tokenType := headerSafe(jsonpath.Str(b.fields.tokenType, doc))
	if len(b.fields.tokenType) == 0 {
		// No type field configured: every token is a user's (New accepts
		// this only with routes.allowedTokenTypes and guests off). A type
		// field that is configured but missing stays empty, and an empty
		// type never counts as logged in (fail closed: it may be a guest).
		tokenType = "user"
	}
	exp, _ := jsonpath.Instant(b.fields.expiresAt, doc)
	return newIdentity(user, headerSafe(jsonpath.Str(b.fields.userID, doc)), tokenType, jsonpath.StrList(b.fields.roles, doc), exp, token, "backend")
}

// claimsOfVouchedToken builds the identity of a token the backend just
// called valid from the token's own claims (responses.userFromClaims): no
// signature is checked here, the backend's answer vouches for it (with
// jwt on, the token was verified locally too). nil when the token is not
// a JWT with a claims object.
func claimsOfVouchedToken(p *claimPaths, token string) *identity {
	payload := jwtPayload(token)
	if payload == nil {
		return nil
	}
	claims, ok := jsonpath.Decode(payload).(map[string]interface{})
	if !ok {
		return nil
	}
	tokenType := headerSafe(jsonpath.Str(p.tokenType, claims))
	if len(p.tokenType) == 0 {
		tokenType = "user"
	}
	exp, _ := jsonpath.Instant(jsonpath.Path{"exp"}, claims)
	userID, roles := headerSafe(jsonpath.Str(p.userID, claims)), jsonpath.StrList(p.roles, claims)
	var user interface{} = claims
	if len(p.user) > 0 {
		user, _ = jsonpath.Lookup(p.user, claims)
	}
	return newIdentity(user, userID, tokenType, roles, exp, token, "backend")
}

// jwtPayload is a JWT's decoded payload segment, nil when token is not
// three base64url segments.
func jwtPayload(token string) []byte {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || last == first {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token[first+1 : last])
	if err != nil {
		return nil
	}
	return raw
}

// newIdentity builds an identity, with its upstream header values encoded
// once here so a cache hit only copies them. nil when user is not an
// object or too large to forward.
func newIdentity(user interface{}, userID, tokenType string, roles []string, exp time.Time, token, verifiedBy string) *identity {
	if _, isObject := user.(map[string]interface{}); !isObject {
		return nil
	}
	raw, err := json.Marshal(user)
	if err != nil {
		return nil
	}
	return identityFromJSON(raw, userID, tokenType, roles, exp, token, verifiedBy)
}

// identityFromJSON is newIdentity given the user object's JSON. The
// header values are one-element literals (capacity one: an app appending
// to a header never writes into the shared slice), written out rather
// than through oneValue to spare five calls on every verification.
func identityFromJSON(raw []byte, userID, tokenType string, roles []string, exp time.Time, token, verifiedBy string) *identity {
	if len(raw) > maxUserJSON {
		return nil
	}
	id := &identity{
		userID: userID, tokenType: tokenType, token: token, roles: roles, expiresAt: exp,
		userValues:     []string{base64.StdEncoding.EncodeToString(raw)},
		verifiedValues: []string{verifiedBy},
	}
	if userID != "" {
		id.userIDValues = []string{userID}
	}
	if tokenType != "" {
		id.tokenTypeValues = []string{tokenType}
	}
	return id
}

// refreshAnswer is what the refresh endpoint said, classified.
type refreshAnswer struct {
	kind         refreshKind
	accessToken  string
	refreshToken string
}

// backendRefresh exchanges credential (the refresh token, or the expired access
// token in single-token mode) for a new access token. As for validate, only
// a clear answer is fatal; a 2xx without a usable token is a backend
// failure (the cookies stay).
func backendRefresh(b *backendClient, ctx context.Context, client, credential string) refreshAnswer {
	if !validCookieValue(credential) {
		return refreshAnswer{kind: refreshFatal}
	}
	var ans backendAnswer
	var err error
	if sh := shapeFor(b, "refresh"); sh != nil {
		ans, err = backendCallShaped(b, ctx, client, sh, b.urls.refreshURL, &shapeValues{token: credential}, nil)
	} else {
		ans, err = backendCall(b, ctx, client, http.MethodPost, b.urls.refreshURL, credential, nil)
	}
	r := refreshVerdict(b, ans, err)
	healthReport(b.health, "refresh", b.urls.refreshURL, answerCause(ans, err, r.kind == refreshTransient))
	return r
}

// refreshVerdict classifies the outcome of a refresh call.
func refreshVerdict(b *backendClient, ans backendAnswer, err error) refreshAnswer {
	if err != nil {
		return refreshAnswer{kind: refreshTransient}
	}
	if backendIsReuse(b, ans) {
		return refreshAnswer{kind: refreshReuse}
	}
	if definiteRefusal(ans.status) {
		return refreshAnswer{kind: refreshFatal}
	}
	if !is2xx(ans.status) {
		return refreshAnswer{kind: refreshTransient}
	}
	switch answerSuccess(b, ans.doc) {
	case answerNo:
		return refreshAnswer{kind: refreshFatal}
	case answerMalformed:
		return refreshAnswer{kind: refreshTransient}
	}
	access, rotated, ok := answerTokens(b, ans.doc)
	if !ok {
		return refreshAnswer{kind: refreshTransient}
	}
	return refreshAnswer{kind: refreshDone, accessToken: access, refreshToken: rotated}
}

// answerTokens reads the access token and the optional rotated refresh
// token of a refresh or login answer; ok is false when either is not
// usable as a cookie value (not the contract's answer).
func answerTokens(b *backendClient, doc interface{}) (access, rotated string, ok bool) {
	access = jsonpath.Str(b.fields.accessToken, doc)
	rotated = jsonpath.Str(b.fields.refreshToken, doc)
	ok = validCookieValue(access) && (rotated == "" || validCookieValue(rotated))
	return access, rotated, ok
}

// backendIsReuse recognises a replayed refresh token: by status, or by a code in
// the answer's "code", "error" or "reason" field (top level or in "data").
func backendIsReuse(b *backendClient, ans backendAnswer) bool {
	if b.reuse.reuseStatus[ans.status] {
		return true
	}
	if ans.doc == nil || (is2xx(ans.status) && answerSuccess(b, ans.doc) == answerYes) {
		return false
	}
	for _, p := range reuseCodePaths {
		if v := jsonpath.Str(p, ans.doc); v != "" && b.reuse.reuseCodes[v] {
			return true
		}
	}
	for _, p := range reuseMessagePaths {
		v := jsonpath.Str(p, ans.doc)
		for _, msg := range b.reuse.reuseMessages {
			if v != "" && strings.Contains(v, msg) {
				return true
			}
		}
	}
	return false
}

// reuseMessagePaths are where backends explain a refusal
// (refresh.reuseMessages).
var reuseMessagePaths = []jsonpath.Path{
	{"detail"}, {"message"}, {"error_description"}, {"error"}, {"data", "message"},
}

// reuseCodePaths are where backends put an error code.
var reuseCodePaths = []jsonpath.Path{
	{"code"}, {"error"}, {"reason"}, {"data", "code"}, {"data", "error"}, {"data", "reason"},
}

// backendMintGuest asks the backend for a new guest token for client.
func backendMintGuest(b *backendClient, ctx context.Context, client string) (string, error) {
	var ans backendAnswer
	var err error
	if sh := shapeFor(b, "guest"); sh != nil {
		ans, err = backendCallShaped(b, ctx, client, sh, b.urls.guestURL, &shapeValues{username: b.guestUser, password: b.guestPassword}, nil)
	} else {
		ans, err = backendCall(b, ctx, client, http.MethodPost, b.urls.guestURL, "", b.guest)
	}
	token, mintErr := guestAnswer(b, ans, err)
	healthReport(b.health, "guest", b.urls.guestURL, answerCause(ans, err, mintErr != nil))
	return token, mintErr
}

// guestAnswer reads the guest token from the outcome of a guest call.
func guestAnswer(b *backendClient, ans backendAnswer, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if !is2xx(ans.status) || ans.doc == nil {
		return "", errors.New("guest endpoint answered " + strconv.Itoa(ans.status))
	}
	token := jsonpath.Str(b.fields.accessToken, ans.doc)
	if !validCookieValue(token) {
		return "", errors.New("guest endpoint answered without a usable token")
	}
	return token, nil
}

func guestRequestBody(username, password string) []byte {
	raw, _ := json.Marshal(map[string]string{"username": username, "password": password})
	return raw
}

// validCookieValue reports whether token can be stored in a cookie as is.
func validCookieValue(token string) bool {
	if token == "" || len(token) > maxCookieBytes {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// headerSafe drops a value that would split or bloat a header.
func headerSafe(v string) string {
	// One compiled call instead of a loop over the bytes (Yaegi): every
	// byte is printable ASCII exactly when trimming those leaves nothing.
	if len(v) > 256 || strings.Trim(v, printableASCII) != "" {
		return ""
	}
	return v
}

// printableASCII is every byte from 0x20 to 0x7e.
const printableASCII = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

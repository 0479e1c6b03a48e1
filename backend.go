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
	"sync/atomic"
	"time"
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
	success, user, userID, tokenType, expiresAt, roles jsonPath
	accessToken, refreshToken                          jsonPath
}

// backendClient talks to the auth backend. One client (and its connection
// pool) serves every instance sharing a state; see state.go.
type backendClient struct {
	client *http.Client
	urls   backendSettings
	fields responseFields
	// inFlight counts calls under way, capped at backend.maxConcurrent. An
	// atomic counter rather than a channel semaphore: Yaegi v0.16.1 shares
	// one case list between concurrent runs of a select statement, so a
	// select on the request path is a data race when interpreted.
	inFlight atomic.Int64
	maxCalls int64
	reuse    refreshSettings
	guest    []byte
}

func newBackendClient(s *settings) *backendClient {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 2 * s.backend.maxConcurrent
	transport.MaxIdleConnsPerHost = s.backend.maxConcurrent // Go keeps only 2 by default
	transport.IdleConnTimeout = 90 * time.Second
	return &backendClient{
		client: &http.Client{
			Transport: transport,
			// Redirects from the backend are answers, never followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		urls:     s.backend,
		fields:   s.responses,
		maxCalls: int64(s.backend.maxConcurrent),
		reuse:    s.refresh,
		guest:    s.guest.body,
	}
}

// backendAnswer is one backend response: its status and its JSON body
// (nil when the body is not JSON).
type backendAnswer struct {
	status int
	doc    interface{}
}

// call makes one backend request bounded by backend.timeout from ctx.
func (b *backendClient) call(ctx context.Context, method, url, bearer string, body []byte) (backendAnswer, error) {
	if b.inFlight.Add(1) > b.maxCalls {
		// Over the cap the call fails fast as "unavailable" (fail closed)
		// instead of queueing behind a backend that is already saturated.
		b.inFlight.Add(-1)
		return backendAnswer{}, errBackendUnavailable
	}
	defer b.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, b.urls.timeout)
	defer cancel()

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
	resp, err := b.client.Do(req)
	if err != nil {
		return backendAnswer{}, errBackendUnavailable
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBackendBody))
	if err != nil {
		return backendAnswer{}, errBackendUnavailable
	}
	return backendAnswer{status: resp.StatusCode, doc: decodeJSON(raw)}, nil
}

func decodeJSON(raw []byte) interface{} {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc interface{}
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	return doc
}

// transientStatus marks answers that say nothing about the token.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

func is2xx(status int) bool { return status >= 200 && status < 300 }

// validate asks the backend whether token is valid.
func (b *backendClient) validate(ctx context.Context, token string) validation {
	ans, err := b.call(ctx, http.MethodGet, b.urls.validateURL, token, nil)
	if err != nil || transientStatus(ans.status) {
		return validation{state: stateTransient}
	}
	if !is2xx(ans.status) || !b.succeeded(ans.doc) {
		return validation{state: stateInvalid}
	}
	id := b.identityFrom(ans.doc, token)
	if id == nil {
		return validation{state: stateInvalid} // a 2xx without a usable user is not a yes
	}
	return validation{state: stateValid, id: id}
}

func (b *backendClient) succeeded(doc interface{}) bool {
	if doc == nil {
		return false
	}
	return len(b.fields.success) == 0 || b.fields.success.truthy(doc)
}

// identityFrom builds the user's identity, with its upstream header values
// encoded once here so a cache hit only copies them.
func (b *backendClient) identityFrom(doc interface{}, token string) *identity {
	user, ok := b.fields.user.lookup(doc)
	if !ok {
		return nil
	}
	if _, isObject := user.(map[string]interface{}); !isObject {
		return nil
	}
	raw, err := json.Marshal(user)
	if err != nil || len(raw) > maxUserJSON {
		return nil
	}
	id := &identity{
		userID:    headerSafe(b.fields.userID.str(doc)),
		tokenType: headerSafe(b.fields.tokenType.str(doc)),
		roles:     b.fields.roles.strList(doc),
	}
	if id.tokenType == "" {
		id.tokenType = "user"
	}
	if exp, ok := b.fields.expiresAt.instant(doc); ok {
		id.expiresAt = exp
	}
	id.userValues = oneValue(base64.StdEncoding.EncodeToString(raw))
	if id.userID != "" {
		id.userIDValues = oneValue(id.userID)
	}
	id.tokenTypeValues = oneValue(id.tokenType)
	id.authorizationValues = oneValue("Bearer " + token)
	return id
}

// refreshAnswer is what the refresh endpoint said, classified.
type refreshAnswer struct {
	kind         refreshKind
	accessToken  string
	refreshToken string
}

// refresh exchanges credential (the refresh token, or the expired access
// token in single-token mode) for a new access token.
func (b *backendClient) refresh(ctx context.Context, credential string) refreshAnswer {
	ans, err := b.call(ctx, http.MethodPost, b.urls.refreshURL, credential, nil)
	if err != nil {
		return refreshAnswer{kind: refreshTransient}
	}
	if b.isReuse(ans) {
		return refreshAnswer{kind: refreshReuse}
	}
	if transientStatus(ans.status) {
		return refreshAnswer{kind: refreshTransient}
	}
	if !is2xx(ans.status) || !b.succeeded(ans.doc) {
		return refreshAnswer{kind: refreshFatal}
	}
	access := b.fields.accessToken.str(ans.doc)
	rotated := b.fields.refreshToken.str(ans.doc)
	if !validCookieValue(access) || (rotated != "" && !validCookieValue(rotated)) {
		return refreshAnswer{kind: refreshFatal}
	}
	return refreshAnswer{kind: refreshDone, accessToken: access, refreshToken: rotated}
}

// isReuse recognises a replayed refresh token: by status, or by a code in
// the answer's "code", "error" or "reason" field (top level or in "data").
func (b *backendClient) isReuse(ans backendAnswer) bool {
	if b.reuse.reuseStatus[ans.status] {
		return true
	}
	if ans.doc == nil || (is2xx(ans.status) && b.succeeded(ans.doc)) {
		return false
	}
	for _, p := range reuseCodePaths {
		if v := p.str(ans.doc); v != "" && b.reuse.reuseCodes[v] {
			return true
		}
	}
	return false
}

// reuseCodePaths are where backends put an error code.
var reuseCodePaths = []jsonPath{
	{"code"}, {"error"}, {"reason"}, {"data", "code"}, {"data", "error"}, {"data", "reason"},
}

// mintGuest asks the backend for a new guest token.
func (b *backendClient) mintGuest(ctx context.Context) (string, error) {
	ans, err := b.call(ctx, http.MethodPost, b.urls.guestURL, "", b.guest)
	if err != nil {
		return "", err
	}
	if !is2xx(ans.status) || ans.doc == nil {
		return "", errors.New("guest endpoint answered " + strconv.Itoa(ans.status))
	}
	token := b.fields.accessToken.str(ans.doc)
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
	if len(v) > 256 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return ""
		}
	}
	return v
}

package authlayer

import (
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
)

// The session vocabulary: what the token flow (tokenflow.go,
// refreshflow.go, guestflow.go, jwtflow.go) finds out about a request, and
// what the rest of authlayer (access rules, headers, cookies, endpoints,
// memos) reads.
//
//   - verdict and validation: one answer about one token, cached by its
//     hash (internal/cache);
//   - identity: a valid token's user, with the header values the app
//     receives built once;
//   - refreshOutcome: one refresh, remembered under the old credential;
//   - authResult: the request's session, its cookies and how it ended.

// verdict is the backend's answer about a token.
type verdict int

// The zero verdict is transient, so an answer nobody filled in can never
// mean "valid".
const (
	stateTransient verdict = iota // the backend could not answer: fail closed, keep cookies
	stateInvalid                  // definite: the backend said no
	stateValid
)

// identity is a validated token's user, with the upstream header values
// built once on the cache miss so that a hit only assigns them.
//
// The Authorization value is the exception: "Bearer <token>" would hold
// a second copy of the token (the first is inside the Cookie header the
// session memo keys on, which token shares), for every cached session.
// It is built per request instead (setIdentityHeaders).
type identity struct {
	userID    string
	tokenType string
	token     string // the token validated, for the Authorization header and the proactive refresh
	roles     []string
	expiresAt time.Time // zero when the backend gave none

	userValues      []string // base64 of the user's JSON
	userIDValues    []string // nil when there is no usable id
	tokenTypeValues []string
	verifiedValues  []string // "local" or "backend", for headers.verifiedBy
}

// oneValue is a header value slice whose capacity is its length.
func oneValue(v string) []string {
	return []string{v}[:1:1]
}

// validation is one cached validation answer.
type validation struct {
	state  verdict
	id     *identity
	reason string // why a local verification refused the token (jwtflow.go), for the audit log
}

type refreshKind int

const (
	refreshDone      refreshKind = iota
	refreshReuse                 // replayed refresh token: log out
	refreshFatal                 // expired, revoked, or an unusable answer
	refreshTransient             // timeout, 5xx, network: keep the cookies
)

// refreshOutcome is one refresh, remembered under the old credential.
type refreshOutcome struct {
	kind         refreshKind
	accessToken  string
	refreshToken string     // "" when the backend did not rotate it
	session      validation // of the new access token
}

// authResult is what the token flow decided for one request. The flags
// come last, together: one word for the four instead of one each, in
// every remembered session (sessionmemo.go).
type authResult struct {
	id         *identity           // nil: anonymous
	token      string              // the session's token
	refreshed  string              // a token refreshed or minted on this request
	setCookies []string            // Set-Cookie values for the response
	limited    *ratelimit.Decision // over a backend budget: answer 429
	loggedIn   bool                // a user session, not a guest one
	transient  bool                // the backend could not answer
	loggedOut  bool                // refresh token reuse: the session is ended
	csrfOK     bool                // a remembered session's CSRF cookie is valid (sessionmemo.go)
	// until is when a remembered session's validation expires (set in
	// the session memo's copy only): the memo holds the result itself, so
	// a hit is one map read with nothing to copy or take the address of.
	until time.Time
}

package authlayer

import (
	"context"
	"log"
	"net/http"
	"time"
)

// The token flow of one request: the user cookie is validated; an invalid
// one is refreshed; without a user session the guest cookie is validated,
// or a guest token is minted. Validations and refreshes go through the
// shared caches (cache.go), so concurrent requests with one token make one
// backend call.

// verdict is the backend's answer about a token.
type verdict int

const (
	stateValid     verdict = iota
	stateInvalid           // definite: the backend said no
	stateTransient         // the backend could not answer: fail closed, keep cookies
)

// identity is a validated token's user, with the upstream header values
// built once on the cache miss so that a hit only assigns them.
type identity struct {
	userID    string
	tokenType string
	roles     []string
	expiresAt time.Time // zero when the backend gave none

	userValues          []string // base64 of the user's JSON
	userIDValues        []string // nil when there is no usable id
	tokenTypeValues     []string
	authorizationValues []string // "Bearer <token>"
}

// oneValue is a header value slice whose capacity is its length.
func oneValue(v string) []string {
	return []string{v}[:1:1]
}

// validation is one cached validation answer.
type validation struct {
	state verdict
	id    *identity
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

// authResult is what the token flow decided for one request.
type authResult struct {
	id         *identity     // nil: anonymous
	token      string        // forwarded as Authorization: Bearer
	loggedIn   bool          // a user session, not a guest one
	refreshed  string        // a token refreshed or minted on this request
	setCookies []string      // Set-Cookie values for the response
	transient  bool          // the backend could not answer
	loggedOut  bool          // refresh token reuse: the session is ended
	limited    *rateDecision // over a backend budget: answer 429
}

// authenticate runs the token cascade for req. The common case, a user
// cookie with a cached valid answer, is answered here; everything else
// goes to authenticateSlow.
func authenticate(m *middleware, req *http.Request) *authResult {
	if c, err := req.Cookie(m.s.cookies.user); err == nil && c.Value != "" && singleCookie(req, m.s.cookies.userEq) {
		if v, ok := cacheGet(m.state.validations, cacheKey(c.Value)); ok {
			if id := v.(validation).id; id != nil {
				return &authResult{id: id, token: c.Value, loggedIn: acceptsAsUser(m.s, id.tokenType)}
			}
		}
	}
	return m.authenticateSlow(req)
}

func (m *middleware) authenticateSlow(req *http.Request) *authResult {
	carried := m.s.cookies.read(req)
	if carried.user != "" {
		v, limited := m.validateBudgeted(req, carried.user)
		if limited != nil {
			return &authResult{limited: limited}
		}
		switch v.state {
		case stateValid:
			record(m, req, eventAuthSuccess, v.id, carried.user, true, "", 0)
			return m.userSession(carried.user, v.id)
		case stateTransient:
			record(m, req, eventError, nil, carried.user, false, "backend-unavailable", 0)
			return &authResult{transient: true}
		}
		record(m, req, eventAuthFail, nil, carried.user, false, "invalid-token", 0)
		return m.refreshSession(req, carried, firstNonEmpty(carried.refresh, carried.user))
	}
	if carried.refresh != "" {
		// The access cookie is gone (expired in the browser) but the
		// refresh cookie is not: refresh rather than log the user out.
		return m.refreshSession(req, carried, carried.refresh)
	}
	return m.guestSession(req, carried)
}

func (m *middleware) userSession(token string, id *identity) *authResult {
	return &authResult{id: id, token: token, loggedIn: acceptsAsUser(m.s, id.tokenType)}
}

// acceptsAsUser reports whether a token of this type is a logged-in user.
func acceptsAsUser(s *settings, tokenType string) bool {
	if len(s.allowed) > 0 {
		return s.allowed[tokenType]
	}
	return tokenType != "guest"
}

// validate answers from the cache, or makes (or joins) one backend call.
func (m *middleware) validate(token string) validation {
	key := cacheKey(token)
	if v, ok := cacheGet(m.state.validations, key); ok {
		return v.(validation)
	}
	return m.validateMiss(key, token)
}

func (m *middleware) validateMiss(key, token string) validation {
	v, ok := m.state.validations.load(key, func() (interface{}, time.Duration) {
		// Detached from every request: waiters depend on this call,
		// whoever leaves; backend.timeout bounds it.
		answer := m.state.backend.validate(context.Background(), token)
		return answer, m.validationTTL(answer)
	})
	if !ok || v == nil {
		return validation{state: stateTransient}
	}
	return v.(validation)
}

// validationTTL caches definite answers for cache.ttl, never beyond the
// token's expiry; transient answers are not cached.
func (m *middleware) validationTTL(v validation) time.Duration {
	if v.state == stateTransient {
		return 0
	}
	ttl := m.s.cacheTTL
	if v.id != nil && !v.id.expiresAt.IsZero() {
		if left := time.Until(v.id.expiresAt); left < ttl {
			ttl = left
		}
	}
	if ttl < 0 {
		return 0
	}
	return ttl
}

// refreshSession refreshes with credential and turns the outcome into the
// request's session and cookies.
func (m *middleware) refreshSession(req *http.Request, carried carriedCookies, credential string) *authResult {
	if limited := m.refreshBudgeted(req, credential); limited != nil {
		return &authResult{limited: limited}
	}
	out := m.refresh(credential)
	switch out.kind {
	case refreshDone:
		record(m, req, eventAuthRefresh, out.session.id, out.accessToken, out.session.state == stateValid, "", 0)
		return m.refreshedSession(out)
	case refreshReuse:
		log.Printf("authlayer: %s: refresh token reuse detected, session ended", m.name)
		record(m, req, eventAuthReuse, nil, credential, false, "refresh-token-reuse", 0)
		return &authResult{loggedOut: true, setCookies: m.s.cookies.clearing(carried, true, true, true)}
	case refreshTransient:
		record(m, req, eventAuthRefreshFail, nil, credential, false, "backend-unavailable", 0)
		return &authResult{transient: true}
	}
	record(m, req, eventAuthRefreshFail, nil, credential, false, "expired-or-revoked", 0)
	cleared := m.s.cookies.clearing(carried, true, false, true)
	if !m.s.refresh.fallbackToGuest {
		return &authResult{setCookies: cleared}
	}
	res := m.guestSession(req, carried)
	res.setCookies = append(cleared, res.setCookies...)
	return res
}

func (m *middleware) refreshedSession(out refreshOutcome) *authResult {
	cookies := appendCookie(nil, m.s.cookies.userCookie(out.accessToken))
	if out.refreshToken != "" && m.s.cookies.refresh != "" {
		cookies = appendCookie(cookies, m.s.cookies.refreshCookie(out.refreshToken))
	}
	if out.session.state != stateValid {
		// The new tokens are kept (a rotated refresh token must not be
		// lost), but this request cannot be authenticated.
		return &authResult{transient: true, setCookies: cookies}
	}
	res := m.userSession(out.accessToken, out.session.id)
	res.refreshed = out.accessToken
	res.setCookies = cookies
	return res
}

func appendCookie(list []string, cookie string) []string {
	if cookie == "" {
		return list
	}
	return append(list, cookie)
}

// refresh makes (or joins) one refresh per credential. A finished refresh
// is remembered for refresh.graceWindow, so requests that still carry the
// old cookie reuse it: with rotating refresh tokens a second refresh would
// be a replay and log the user out.
func (m *middleware) refresh(credential string) refreshOutcome {
	v, ok := m.state.refreshes.load(cacheKey(credential), func() (interface{}, time.Duration) {
		out := m.refreshNow(credential)
		if out.kind == refreshTransient {
			return out, 0
		}
		return out, m.s.refresh.graceWindow
	})
	if !ok || v == nil {
		return refreshOutcome{kind: refreshTransient}
	}
	return v.(refreshOutcome)
}

// refreshNow calls the backend and validates the new token: a refresh
// counts only if its token validates.
func (m *middleware) refreshNow(credential string) refreshOutcome {
	ans := m.state.backend.refresh(context.Background(), credential)
	if ans.kind != refreshDone {
		return refreshOutcome{kind: ans.kind}
	}
	v := m.validate(ans.accessToken)
	if v.state == stateInvalid {
		return refreshOutcome{kind: refreshFatal}
	}
	return refreshOutcome{kind: refreshDone, accessToken: ans.accessToken, refreshToken: ans.refreshToken, session: v}
}

// guestSession uses a valid guest cookie, or mints a guest token.
func (m *middleware) guestSession(req *http.Request, carried carriedCookies) *authResult {
	var cleared []string
	if carried.guest != "" {
		v, limited := m.validateBudgeted(req, carried.guest)
		if limited != nil {
			return &authResult{limited: limited}
		}
		switch v.state {
		case stateValid:
			record(m, req, eventAuthSuccess, v.id, carried.guest, true, "guest", 0)
			return &authResult{id: v.id, token: carried.guest}
		case stateTransient:
			record(m, req, eventError, nil, carried.guest, false, "backend-unavailable", 0)
			return &authResult{transient: true}
		}
		record(m, req, eventAuthFail, nil, carried.guest, false, "invalid-guest-token", 0)
		cleared = m.s.cookies.clearing(carried, false, true, false)
	}
	if !m.s.guest.enabled {
		return &authResult{setCookies: cleared}
	}
	res := m.mintGuest(req)
	if len(res.setCookies) == 0 {
		// Clear the stale guest cookie only when no new one replaces it:
		// one Set-Cookie per name, never a clear and a set side by side.
		res.setCookies = cleared
	}
	return res
}

// mintGuest asks the backend for a guest token for this client alone: a
// guest token is an anonymous session and is never shared between clients,
// so minting is not deduplicated.
func (m *middleware) mintGuest(req *http.Request) *authResult {
	if backendBudget(m, req, budgetGuestMints, "guest-mints") != nil {
		return &authResult{} // over the minting budget: served without a guest session
	}
	token, err := m.state.backend.mintGuest(req.Context())
	if err != nil {
		log.Printf("authlayer: %s: guest token not minted: %v", m.name, err)
		record(m, req, eventError, nil, "", false, "guest-mint-failed", 0)
		return &authResult{}
	}
	v := m.validate(token)
	if v.state != stateValid {
		log.Printf("authlayer: %s: minted guest token did not validate", m.name)
		record(m, req, eventError, nil, token, false, "guest-token-invalid", 0)
		return &authResult{}
	}
	record(m, req, eventAuthGuest, v.id, token, true, "", 0)
	return &authResult{
		id: v.id, token: token, refreshed: token,
		setCookies: appendCookie(nil, m.s.cookies.guestCookie(token)),
	}
}

package authbackend

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Server is the auth backend's HTTP handler.
type Server struct {
	cfg       Config
	publicKey ed25519.PublicKey // the signing key's public half
	kid       string            // KeyID(publicKey), every token's kid header
	byName    map[string]User
	byID      map[string]User
	sessions  *sessions
	mux       *http.ServeMux
}

// New checks cfg, fills its defaults and returns the handler.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pub, _ := cfg.SigningKey.Public().(ed25519.PublicKey)
	s := &Server{
		cfg:       cfg,
		publicKey: pub,
		kid:       KeyID(pub),
		byName:    make(map[string]User, len(cfg.Users)),
		byID:      make(map[string]User, len(cfg.Users)),
		sessions:  newSessions(),
		mux:       http.NewServeMux(),
	}
	for _, u := range cfg.Users {
		s.byName[u.Username] = u
		s.byID[u.ID] = u
	}
	s.mux.HandleFunc("POST /auth/login", s.handleLogin)
	s.mux.HandleFunc("GET /auth/me", s.handleMe)
	s.mux.HandleFunc("POST /auth/refresh", s.handleRefresh)
	s.mux.HandleFunc("POST /auth/guest", s.handleGuest)
	s.mux.HandleFunc("POST /auth/logout", s.handleLogout)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]interface{}{"success": true})
	})
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// maxBodyBytes bounds every request body the backend reads.
const maxBodyBytes = 16 << 10

// handleMe validates an access token: 200 with the user, or 401.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	c, err := s.parse(bearer(r))
	if err != nil || c.Kind != kindAccess {
		writeError(w, http.StatusUnauthorized, "invalid_token", "invalid or expired token")
		return
	}
	if c.Family != "" && s.sessions.isRevoked(c.Family) {
		writeError(w, http.StatusUnauthorized, "token_revoked", "session revoked")
		return
	}
	data, ok := s.userData(c)
	if !ok {
		writeError(w, http.StatusUnauthorized, "unknown_user", "unknown user")
		return
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "data": data})
}

// userData is the user object /auth/me returns for the token's subject.
func (s *Server) userData(c *claims) (map[string]interface{}, bool) {
	data := map[string]interface{}{
		"id":   c.Subject,
		"type": c.Type,
		"exp":  c.ExpiresAt.Unix(),
		"iat":  c.IssuedAt.Unix(),
	}
	if c.Type == typeGuest {
		data["name"], data["role"] = "Guest", "guest"
		return data, true
	}
	if c.AuthTime != nil {
		data["auth_time"] = c.AuthTime.Unix()
	}
	u, ok := s.byID[c.Subject]
	if !ok || c.Type != typeUser {
		return nil, false
	}
	data["name"], data["email"], data["role"], data["username"] = u.Name, u.Email, u.Role, u.Username
	return data, true
}

// authTimeOf is the sign-in time a refresh carries on: the credential's
// auth_time, or now for a credential issued without one.
func authTimeOf(c *claims, now time.Time) time.Time {
	if c.AuthTime != nil {
		return c.AuthTime.Time
	}
	return now
}

// handleRefresh exchanges a refresh credential (a refresh token, or in
// single-token mode an expired access token) for a new pair.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) {
	c, err := s.parse(bearer(r))
	if errors.Is(err, errTokenExpired) && c.Kind == kindRefresh {
		writeError(w, http.StatusUnauthorized, "token_expired", "refresh token expired")
		return
	}
	if c == nil || (c.Kind != kindRefresh && (c.Kind != kindAccess || c.Type != typeUser)) || c.Family == "" {
		writeError(w, http.StatusUnauthorized, "invalid_token", "invalid refresh credential")
		return
	}
	expires := c.ExpiresAt.Time
	if c.Kind == kindAccess {
		// An access token stands in for a refresh token until RefreshTTL
		// after it was issued.
		expires = c.IssuedAt.Add(s.cfg.RefreshTTL)
		if !s.cfg.Now().Before(expires) {
			writeError(w, http.StatusUnauthorized, "token_expired", "session expired")
			return
		}
	}
	u, ok := s.byID[c.Subject]
	if !ok {
		writeError(w, http.StatusForbidden, "token_revoked", "unknown user")
		return
	}
	pair, outcome, err := s.sessions.exchange(s.cfg.Now(), c.ID, c.Family, expires, s.cfg.ReuseGrace, s.cfg.RefreshTTL,
		func() (tokenPair, error) { return s.issuePair(u, c.Family, authTimeOf(c, s.cfg.Now())) })
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal", "could not issue tokens")
		return
	case outcome == refreshRevoked:
		s.logf("refresh refused: session revoked user=%s", u.ID)
		writeError(w, http.StatusForbidden, "token_revoked", "session revoked")
		return
	case outcome == refreshReuse:
		s.logf("refresh token reuse detected: session revoked user=%s", u.ID)
		writeError(w, http.StatusConflict, "token_reuse", "refresh token reuse detected; session revoked")
		return
	case outcome == refreshReplayed:
		s.logf("refresh replayed within grace window user=%s", u.ID)
	default:
		s.logf("refresh rotated user=%s", u.ID)
	}
	data := map[string]interface{}{"accessToken": pair.Access, "exp": pair.AccessExpires.Unix()}
	if pair.Refresh != "" {
		data["refreshToken"] = pair.Refresh
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "data": data})
}

// guestRequest is the body of POST /auth/guest.
type guestRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// handleGuest mints a guest token for the configured guest credentials.
func (s *Server) handleGuest(w http.ResponseWriter, r *http.Request) {
	if s.cfg.GuestUsername == "" {
		writeError(w, http.StatusNotFound, "guest_disabled", "guest tokens are disabled")
		return
	}
	var req guestRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "expected a JSON body with username and password")
		return
	}
	userOK := equalSecret(req.Username, s.cfg.GuestUsername)
	passOK := equalSecret(req.Password, s.cfg.GuestPassword)
	if !userOK || !passOK {
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "invalid guest credentials")
		return
	}
	tok, c, err := s.issueGuest()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "could not issue token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "data": map[string]interface{}{
		"accessToken": tok, "type": typeGuest, "exp": c.ExpiresAt.Unix(),
	}})
}

// loginRequest is the body of POST /auth/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// handleLogin checks the credentials and starts a token family. It speaks
// next-api-layer's login contract, to authlayer (endpoints.login), never
// to a browser: 200 {"success":true,"data":{accessToken, refreshToken,
// and the user}}, or 401 {"success":false,"message":…}. It sets no
// cookie: authlayer sets them, with its own attributes, and keeps the
// tokens from the page.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !isJSONContent(r) || json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&req) != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "expected a JSON body with username and password")
		return
	}
	u, ok := s.authenticate(req.Username, req.Password)
	if !ok {
		s.logf("login failed")
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "Invalid username or password")
		return
	}
	pair, err := s.issuePair(u, randomID(), s.cfg.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "could not issue tokens")
		return
	}
	s.logf("login ok user=%s", u.ID)
	data := map[string]interface{}{
		"id": u.ID, "type": typeUser, "username": u.Username, "name": u.Name, "email": u.Email, "role": u.Role,
		"exp": pair.AccessExpires.Unix(), "accessToken": pair.Access,
	}
	if pair.Refresh != "" {
		data["refreshToken"] = pair.Refresh
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true, "data": data})
}

// authenticate checks username and password, in time independent of
// whether the user exists.
func (s *Server) authenticate(username, password string) (User, bool) {
	u, found := s.byName[username]
	stored := u.Password
	if !found {
		stored = "\x00no such user"
	}
	if !equalSecret(password, stored) || !found {
		return User{}, false
	}
	return u, true
}

// logoutRequest is the optional body of POST /auth/logout.
type logoutRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// handleLogout revokes the login (token family) named by the bearer token
// (an access token, expired or not: authlayer sends what the browser
// carried) or by the refresh token in the body, as authlayer's
// endpoints.logout calls it. Every token of that login is refused from
// then on, and its refresh token can no longer be exchanged. 401 when no
// credential names a login.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	candidates := []string{bearer(r)}
	var body logoutRequest
	if isJSONContent(r) {
		_ = json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&body)
		candidates = append(candidates, body.RefreshToken)
	}
	revoked := false
	for _, tok := range candidates {
		// Expired tokens still name their family: a logout after the access
		// token expired must end the session too.
		if c, _ := s.parse(tok); c != nil && c.Family != "" {
			s.sessions.revoke(s.cfg.Now(), c.Family, s.cfg.RefreshTTL)
			revoked = true
		}
	}
	if !revoked {
		writeError(w, http.StatusUnauthorized, "invalid_token", "no session to log out")
		return
	}
	s.logf("logout: session revoked")
	writeJSON(w, http.StatusOK, map[string]interface{}{"success": true})
}

func (s *Server) logf(format string, args ...interface{}) {
	if s.cfg.Logger != nil {
		s.cfg.Logger.Printf(format, args...)
	}
}

// bearer returns the token of an "Authorization: Bearer" header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// equalSecret compares two secrets in constant time (hashing first hides
// the lengths too).
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func isJSONContent(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	noStore(w)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]interface{}{"success": false, "code": code, "message": message})
}

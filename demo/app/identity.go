package app

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers authlayer sets for the app. authlayer removes any client
// copy of them first, so they are the only identity the app trusts: it
// never reads a cookie or a token itself.
const (
	HeaderUser           = "X-Auth-User"
	HeaderUserID         = "X-Auth-User-Id"
	HeaderTokenType      = "X-Auth-Token-Type"
	HeaderRefreshedToken = "X-Refreshed-Token"
	// HeaderVerifiedBy says who checked the token (authlayer's
	// headers.verifiedBy): VerifiedLocal or VerifiedBackend.
	HeaderVerifiedBy = "X-Auth-Verified-By"
)

// The values of HeaderVerifiedBy.
const (
	// VerifiedLocal: authlayer verified the token itself (jwt.*): its
	// signature, issuer, audience and expiry, without a backend call.
	VerifiedLocal = "local"
	// VerifiedBackend: the auth backend validated the token (GET /auth/me).
	VerifiedBackend = "backend"
)

// Identity is who the request is from, as authlayer says.
type Identity struct {
	// UserID and TokenType come from X-Auth-User-Id and X-Auth-Token-Type.
	UserID    string
	TokenType string
	// User is the decoded X-Auth-User object: the token's claims when
	// authlayer verified it locally, the backend's data object otherwise.
	User map[string]interface{}
	// Name, Username, Email and Roles are read from User for the
	// templates. A backend whose users are a token's claims may send only
	// some of them (simplejwt's: username and roles, no name or email).
	Name     string
	Username string
	Email    string
	Roles    []string
	// Expires is the token's exp, zero when the backend sent none.
	Expires time.Time
	// IssuedAt is the token's iat and SignedIn its auth_time (when the
	// user signed in; kept by every refresh of that login), zero when
	// absent. A token issued after the sign-in came from a refresh.
	IssuedAt, SignedIn time.Time
	// Refreshed is true when authlayer refreshed or minted the token on
	// this very request (X-Refreshed-Token was present).
	Refreshed bool
	// VerifiedBy is X-Auth-Verified-By: VerifiedLocal, VerifiedBackend, or
	// "" when authlayer does not say (headers.verifiedBy unset).
	VerifiedBy string
}

// IdentityFrom reads the identity headers. A missing or undecodable
// X-Auth-User means anonymous: the app fails closed.
func IdentityFrom(r *http.Request) Identity {
	raw := r.Header.Get(HeaderUser)
	if raw == "" {
		return Identity{}
	}
	decoded, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return Identity{}
	}
	var user map[string]interface{}
	if err := json.Unmarshal(decoded, &user); err != nil || user == nil {
		return Identity{}
	}
	id := Identity{
		UserID:    r.Header.Get(HeaderUserID),
		TokenType: r.Header.Get(HeaderTokenType),
		User:      user,
		Name:      stringField(user, "name"),
		Username:  stringField(user, "username"),
		Email:     stringField(user, "email"),
		Roles:     rolesOf(user),
		Expires:   epochField(user, "exp"),
		IssuedAt:  epochField(user, "iat"),
		SignedIn:  epochField(user, "auth_time"),
		Refreshed: r.Header.Get(HeaderRefreshedToken) != "",
	}
	switch v := r.Header.Get(HeaderVerifiedBy); v {
	case VerifiedLocal, VerifiedBackend:
		id.VerifiedBy = v
	}
	if id.UserID == "" {
		id.UserID = stringField(user, "id")
	}
	if id.UserID == "" {
		id.UserID = stringField(user, "sub") // a token's claims
	}
	if id.UserID == "" {
		id.UserID = stringField(user, "user_id") // simplejwt's claim
	}
	if id.TokenType == "" {
		id.TokenType = "user"
	}
	return id
}

// RefreshedAt is when the token was refreshed: its iat when that is later
// than the sign-in (auth_time); zero for a token from the sign-in itself,
// or when the token does not say.
func (id Identity) RefreshedAt() time.Time {
	if id.SignedIn.IsZero() || !id.IssuedAt.After(id.SignedIn) {
		return time.Time{}
	}
	return id.IssuedAt
}

// Known reports whether authlayer validated some token (user or guest).
func (id Identity) Known() bool { return id.User != nil }

// IsGuest reports a guest session.
func (id Identity) IsGuest() bool { return id.Known() && id.TokenType == "guest" }

// IsUser reports a logged-in user (any token type but guest).
func (id Identity) IsUser() bool { return id.Known() && id.TokenType != "guest" && id.UserID != "" }

// HasRole reports whether the user holds role.
func (id Identity) HasRole(role string) bool {
	for _, r := range id.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Verification says in words who checked the token, "" when unknown.
func (id Identity) Verification() string {
	switch id.VerifiedBy {
	case VerifiedLocal:
		return "verified locally"
	case VerifiedBackend:
		return "validated by the backend"
	}
	return ""
}

// DisplayName is the name to greet the user with: the name, else the
// username, else the user id.
func (id Identity) DisplayName() string {
	switch {
	case id.Name != "":
		return id.Name
	case id.Username != "":
		return id.Username
	case id.UserID != "":
		return id.UserID
	}
	return "stranger"
}

func stringField(m map[string]interface{}, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// epochField reads epoch seconds (a number or a numeric string) or an
// RFC 3339 string.
func epochField(m map[string]interface{}, key string) time.Time {
	switch v := m[key].(type) {
	case float64:
		if v > 0 {
			return time.Unix(int64(v), 0)
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Unix(n, 0)
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// rolesOf reads the user's roles: the "roles" claim of a locally verified
// token, else the backend's "role" field.
func rolesOf(user map[string]interface{}) []string {
	if roles, ok := user["roles"]; ok {
		return roleList(roles)
	}
	return roleList(user["role"])
}

// roleList accepts a role as a string, a comma-separated string or an array.
func roleList(v interface{}) []string {
	var out []string
	switch r := v.(type) {
	case string:
		for _, p := range strings.Split(r, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []interface{}:
		for _, e := range r {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

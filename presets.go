package authlayer

import (
	"reflect"
	"strings"

	"github.com/authlayer/authlayer/internal/opts"
)

// Presets: other backends' protocols by name (backend.preset). A preset
// is a set of option values applied where the configuration still holds
// CreateConfig's default, so a preset plus the options that differ (the
// URL, a path, a client id) is a whole configuration, and anything set to
// another value wins. Request shapes (requestshape.go) are filled field by
// field the same way.
//
// next-api-layer is the default and changes nothing. Each other preset is
// checked against its real server in the tests: django-simplejwt against a
// Django REST framework + simplejwt project (test/djangoapp), oauth2
// against zitadel/oidc's OpenID Provider (test/zitadelrun: refresh,
// userinfo, revocation) and an RFC 6749 server of the tests' own with the
// password grant (test/oauth2server).

// presetNames are the accepted backend.preset values.
var presetNames = []string{"next-api-layer", "django-simplejwt", "oauth2"}

// withPreset returns c with backend.preset applied (c itself when the
// preset is next-api-layer); an unknown preset is refused.
func withPreset(c *Config) (*Config, error) {
	name := strings.ToLower(strings.TrimSpace(c.Backend.Preset))
	switch name {
	case "", "next-api-layer":
		return c, nil
	case "django-simplejwt":
		out := *c
		applyDjangoSimpleJWT(&out)
		return &out, nil
	case "oauth2":
		out := *c
		applyOAuth2(&out)
		return &out, nil
	}
	return nil, opts.Error("backend.preset", "must be one of %s, not %q", strings.Join(presetNames, ", "), c.Backend.Preset)
}

// applyDjangoSimpleJWT: Django REST framework with
// djangorestframework-simplejwt's stock views. Validation asks
// token/verify/, which answers {} for any valid token, so the user comes
// from the token's own claims (simplejwt's user_id and token_type; only
// "access" tokens are sessions: verify accepts refresh tokens too). A
// replayed refresh token is answered 401 "Token is blacklisted"
// (ROTATE_REFRESH_TOKENS with BLACKLIST_AFTER_ROTATION).
func applyDjangoSimpleJWT(c *Config) {
	d := CreateConfig()
	b := &c.Backend
	setDefault(&b.ValidatePath, d.Backend.ValidatePath, "api/token/verify/")
	setDefault(&b.RefreshPath, d.Backend.RefreshPath, "api/token/refresh/")
	setDefault(&b.LoginPath, d.Backend.LoginPath, "api/token/")
	setDefault(&b.LogoutPath, d.Backend.LogoutPath, "api/token/blacklist/")
	fillShape(&b.Requests.Validate, RequestShapeConfig{Method: "POST", Token: "none", Body: map[string]string{"token": "{token}"}})
	fillShape(&b.Requests.Refresh, RequestShapeConfig{Method: "POST", Token: "none", Body: map[string]string{"refresh": "{token}"}})
	fillShape(&b.Requests.Logout, RequestShapeConfig{Method: "POST", Token: "none", Body: map[string]string{"refresh": "{refreshToken}"}})
	r := &c.Responses
	setDefault(&r.Success, d.Responses.Success, "")
	setDefault(&r.User, d.Responses.User, "")
	setDefault(&r.UserID, d.Responses.UserID, "")
	setDefault(&r.TokenType, d.Responses.TokenType, "")
	setDefault(&r.ExpiresAt, d.Responses.ExpiresAt, "")
	setDefault(&r.Roles, d.Responses.Roles, "")
	setDefault(&r.AccessToken, d.Responses.AccessToken, "access")
	setDefault(&r.RefreshToken, d.Responses.RefreshToken, "refresh")
	r.UserFromClaims = true
	j := &c.JWT
	setDefault(&j.UserIDClaim, d.JWT.UserIDClaim, "user_id")
	setDefault(&j.TokenTypeClaim, d.JWT.TokenTypeClaim, "token_type")
	if len(c.Routes.AllowedTokenTypes) == 0 {
		c.Routes.AllowedTokenTypes = []string{"access"}
	}
	if c.Cookies.Refresh == "" {
		c.Cookies.Refresh = "refreshToken" // a refresh token is never an access token here
	}
	f := &c.Refresh
	if reflect.DeepEqual(f.ReuseStatusCodes, d.Refresh.ReuseStatusCodes) {
		f.ReuseStatusCodes = nil
	}
	if reflect.DeepEqual(f.ReuseCodes, d.Refresh.ReuseCodes) {
		f.ReuseCodes = nil
	}
	if len(f.ReuseMessages) == 0 {
		f.ReuseMessages = []string{"Token is blacklisted"}
	}
}

// applyOAuth2: an OAuth2 authorization server's token endpoint (RFC 6749
// §6, the refresh_token grant; §4.3, the password grant, for
// endpoints.login), its userinfo endpoint (OIDC Core §5.3) to validate,
// and token revocation (RFC 7009) at logout. The client authenticates with
// HTTP Basic when backend.clientSecret is set (RFC 6749 §2.3.1), else
// sends client_id in the form (a public client). An invalid_grant is a
// refusal, not a replay: OAuth2 does not tell them apart.
func applyOAuth2(c *Config) {
	d := CreateConfig()
	b := &c.Backend
	setDefault(&b.ValidatePath, d.Backend.ValidatePath, "userinfo")
	setDefault(&b.RefreshPath, d.Backend.RefreshPath, "token")
	setDefault(&b.LoginPath, d.Backend.LoginPath, "token")
	setDefault(&b.LogoutPath, d.Backend.LogoutPath, "revoke")
	auth := ""
	if b.ClientSecret != "" {
		auth = "basic"
	}
	grant := func(fields map[string]string) RequestShapeConfig {
		if auth == "" {
			fields["client_id"] = "{clientId}"
		}
		return RequestShapeConfig{Method: "POST", Token: "none", Encoding: "form", Body: fields, ClientAuth: auth}
	}
	fillShape(&b.Requests.Validate, RequestShapeConfig{Method: "GET", Token: "bearer"})
	fillShape(&b.Requests.Refresh, grant(map[string]string{"grant_type": "refresh_token", "refresh_token": "{token}"}))
	fillShape(&b.Requests.Login, grant(map[string]string{"grant_type": "password", "username": "{username}", "password": "{password}"}))
	fillShape(&b.Requests.Logout, grant(map[string]string{"token": "{refreshToken}", "token_type_hint": "refresh_token"}))
	r := &c.Responses
	setDefault(&r.Success, d.Responses.Success, "")
	setDefault(&r.User, d.Responses.User, ".")
	setDefault(&r.UserID, d.Responses.UserID, "sub")
	setDefault(&r.TokenType, d.Responses.TokenType, "")
	setDefault(&r.ExpiresAt, d.Responses.ExpiresAt, "")
	setDefault(&r.Roles, d.Responses.Roles, "roles")
	setDefault(&r.AccessToken, d.Responses.AccessToken, "access_token")
	setDefault(&r.RefreshToken, d.Responses.RefreshToken, "refresh_token")
	if len(c.Routes.AllowedTokenTypes) == 0 {
		c.Routes.AllowedTokenTypes = []string{"user"}
	}
	if c.Cookies.Refresh == "" {
		c.Cookies.Refresh = "refreshToken"
	}
	f := &c.Refresh
	if reflect.DeepEqual(f.ReuseStatusCodes, d.Refresh.ReuseStatusCodes) {
		f.ReuseStatusCodes = nil
	}
	if reflect.DeepEqual(f.ReuseCodes, d.Refresh.ReuseCodes) {
		f.ReuseCodes = nil
	}
}

// setDefault sets *field to v when it still holds the default def.
func setDefault(field *string, def, v string) {
	if *field == def {
		*field = v
	}
}

// fillShape fills the fields of shape the configuration left empty from
// the preset's.
func fillShape(shape *RequestShapeConfig, preset RequestShapeConfig) {
	if shape.Method == "" {
		shape.Method = preset.Method
	}
	if shape.Token == "" {
		shape.Token = preset.Token
	}
	if len(shape.Body) == 0 {
		shape.Body = preset.Body
	}
	if shape.Encoding == "" {
		shape.Encoding = preset.Encoding
	}
	if len(shape.Headers) == 0 {
		shape.Headers = preset.Headers
	}
	if len(shape.Query) == 0 {
		shape.Query = preset.Query
	}
	if shape.ClientAuth == "" {
		shape.ClientAuth = preset.ClientAuth
	}
	if len(shape.SuccessStatusCodes) == 0 {
		shape.SuccessStatusCodes = preset.SuccessStatusCodes
	}
}

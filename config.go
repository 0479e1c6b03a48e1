package authlayer

// The option groups of Config. Traefik decodes the middleware's options
// into these structs with mapstructure: field names are the option names
// (matched case-insensitively), durations are strings such as "2s" (Traefik
// cannot decode "2s" into a time.Duration), lists are []string (a label
// value "a,b" is split on commas).
//
// Each group's defaults are written once, in the function right after its
// struct (xxxDefaults); CreateConfig assembles them. The "Default …" in a
// field's comment is checked against them (test/docs), as are the
// README's option tables.

// Config is the middleware's configuration, as Traefik decodes it.
type Config struct {
	Backend        BackendConfig        `json:"backend,omitempty"`
	Responses      ResponsesConfig      `json:"responses,omitempty"`
	Cookies        CookiesConfig        `json:"cookies,omitempty"`
	Guest          GuestConfig          `json:"guest,omitempty"`
	Cache          CacheConfig          `json:"cache,omitempty"`
	Refresh        RefreshConfig        `json:"refresh,omitempty"`
	Routes         RoutesConfig         `json:"routes,omitempty"`
	Headers        HeadersConfig        `json:"headers,omitempty"`
	CSRF           CSRFConfig           `json:"csrf,omitempty"`
	RateLimit      RateLimitConfig      `json:"rateLimit,omitempty"`
	Audit          AuditConfig          `json:"audit,omitempty"`
	JWT            JWTConfig            `json:"jwt,omitempty"`
	Endpoints      EndpointsConfig      `json:"endpoints,omitempty"`
	ErrorPages     ErrorPagesConfig     `json:"errorPages,omitempty"`
	I18n           I18nConfig           `json:"i18n,omitempty"`
	MethodOverride MethodOverrideConfig `json:"methodOverride,omitempty"`
	Cluster        ClusterConfig        `json:"cluster,omitempty"`
	// Unknown collects top-level keys the decoder matched to no option
	// group; New refuses them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// CreateConfig returns the default configuration, assembled from each
// group's defaults below.
func CreateConfig() *Config {
	return &Config{
		Backend:        backendDefaults(),
		Responses:      responsesDefaults(),
		Cookies:        cookiesDefaults(),
		Guest:          guestDefaults(),
		Cache:          cacheDefaults(),
		Refresh:        refreshDefaults(),
		Routes:         routesDefaults(),
		Headers:        headersDefaults(),
		CSRF:           csrfDefaults(),
		RateLimit:      rateLimitDefaults(),
		Audit:          auditDefaults(),
		JWT:            jwtDefaults(),
		Endpoints:      endpointsDefaults(),
		ErrorPages:     errorPagesDefaults(),
		I18n:           i18nDefaults(),
		MethodOverride: methodOverrideDefaults(),
		Cluster:        clusterDefaults(),
	}
}

// BackendConfig says where the auth backend is and how long to wait for it.
type BackendConfig struct {
	// URL is the backend's base URL; endpoint paths are joined to it.
	// Required.
	URL string `json:"url,omitempty"`
	// ValidatePath is called with GET and "Authorization: Bearer <token>"
	// to validate a token. Default "auth/me".
	ValidatePath string `json:"validatePath,omitempty"`
	// RefreshPath is called with POST and "Authorization: Bearer
	// <credential>" to refresh an expired token. Default "auth/refresh".
	RefreshPath string `json:"refreshPath,omitempty"`
	// GuestPath is called with POST and the guest credentials as JSON to
	// mint a guest token. Default "auth/guest".
	GuestPath string `json:"guestPath,omitempty"`
	// LoginPath receives the browser's login POST as JSON (endpoints.login).
	// Default "auth/login".
	LoginPath string `json:"loginPath,omitempty"`
	// LogoutPath is called with POST and "Authorization: Bearer <token>"
	// on logout (endpoints.logout), best effort. Default "auth/logout".
	LogoutPath string `json:"logoutPath,omitempty"`
	// Timeout is one request's budget for all its backend calls (validate,
	// refresh, guest mint, and waiting for a call slot), and bounds each
	// shared call, as a Go duration. Default "3s".
	Timeout string `json:"timeout,omitempty"`
	// MaxConcurrent caps the backend calls in flight at once from one
	// middleware; a call beyond it waits for a free slot within the
	// request's timeout, then fails closed as "backend unavailable". One
	// client (address) holds at most half of the slots. Default 64.
	MaxConcurrent int `json:"maxConcurrent,omitempty"`
	// Preset speaks another backend's protocol: "next-api-layer",
	// "django-simplejwt" or "oauth2" (presets.go). It fills the paths,
	// request shapes and response paths still at their defaults; any
	// option set to another value wins. Default "next-api-layer".
	Preset string `json:"preset,omitempty"`
	// ClientID is the OAuth2 client id, for the {clientId} placeholder of
	// request shapes (the oauth2 preset sends it).
	ClientID string `json:"clientId,omitempty"`
	// ClientSecret is the OAuth2 client secret, for {clientSecret} and a
	// shape's clientAuth "basic". Never logged.
	ClientSecret string `json:"clientSecret,omitempty"`
	// Requests shape each backend call (method, where the token goes, a
	// body template, headers, query, success statuses); empty fields keep
	// the preset's (requestshape.go).
	Requests BackendRequestsConfig `json:"requests,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// BackendRequestsConfig holds one request shape per backend call.
type BackendRequestsConfig struct {
	// Validate shapes the validate call.
	Validate RequestShapeConfig `json:"validate,omitempty"`
	// Refresh shapes the refresh call.
	Refresh RequestShapeConfig `json:"refresh,omitempty"`
	// Guest shapes the guest mint.
	Guest RequestShapeConfig `json:"guest,omitempty"`
	// Login shapes the login call.
	Login RequestShapeConfig `json:"login,omitempty"`
	// Logout shapes the logout call.
	Logout RequestShapeConfig `json:"logout,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// RequestShapeConfig is how one backend call is sent. Values of Body,
// Headers and Query may hold placeholders: {token} (the token the call is
// about: the one validated, the refresh credential, the access token at
// logout), {accessToken} and {refreshToken} (the session's, at logout),
// {username} and {password} (the guest's, or the login form's),
// {clientId}, {clientSecret}.
type RequestShapeConfig struct {
	// Method is the HTTP method.
	Method string `json:"method,omitempty"`
	// Token says where {token} goes besides the body: "bearer"
	// (Authorization: Bearer), "header:<Name>", "query:<name>",
	// "cookie:<name>" or "none".
	Token string `json:"token,omitempty"`
	// Body maps body fields to values (placeholders allowed); empty: no
	// body (login: the browser's fields as sent).
	Body map[string]string `json:"body,omitempty"`
	// Encoding is the body's: "json" or "form".
	Encoding string `json:"encoding,omitempty"`
	// Headers are sent as given (placeholders allowed).
	Headers map[string]string `json:"headers,omitempty"`
	// Query parameters are added to the URL (placeholders allowed).
	Query map[string]string `json:"query,omitempty"`
	// ClientAuth "basic" sends Authorization: Basic with backend.clientId
	// and backend.clientSecret (OAuth2's client_secret_basic).
	ClientAuth string `json:"clientAuth,omitempty"`
	// SuccessStatusCodes are the statuses that mean success; empty: any
	// 2xx.
	SuccessStatusCodes []string `json:"successStatusCodes,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// backendDefaults are the backend options' defaults.
func backendDefaults() BackendConfig {
	return BackendConfig{
		ValidatePath:  "auth/me",
		RefreshPath:   "auth/refresh",
		GuestPath:     "auth/guest",
		LoginPath:     "auth/login",
		LogoutPath:    "auth/logout",
		Timeout:       "3s",
		MaxConcurrent: 64,
		Preset:        "next-api-layer",
	}
}

// ResponsesConfig holds dotted JSON paths into backend responses. The
// defaults read next-api-layer's shapes; other backends are adapted by
// configuration alone (for example "result.user" or "access").
type ResponsesConfig struct {
	// Success must hold true in validate and refresh answers; empty means
	// not checked. Default "success".
	Success string `json:"success,omitempty"`
	// User is the user object forwarded to the app. Default "data".
	User string `json:"user,omitempty"`
	// UserID is the user's id. Default "data.id".
	UserID string `json:"userId,omitempty"`
	// TokenType is the token's type ("user", "guest", ...); missing means
	// "user". Default "data.type".
	TokenType string `json:"tokenType,omitempty"`
	// ExpiresAt is the token's expiry (epoch seconds or RFC 3339); cache
	// entries never outlive it. Optional. Default "data.exp".
	ExpiresAt string `json:"expiresAt,omitempty"`
	// Roles is the user's role: a string or an array of strings. Default
	// "data.role".
	Roles string `json:"roles,omitempty"`
	// AccessToken is the new token in refresh and guest answers. Default
	// "data.accessToken".
	AccessToken string `json:"accessToken,omitempty"`
	// RefreshToken is the rotated refresh token in refresh answers
	// (optional). Default "data.refreshToken".
	RefreshToken string `json:"refreshToken,omitempty"`
	// UserFromClaims reads the user from the token's own claims (with the
	// jwt.*Claim paths) when a valid validate answer holds no user object
	// (simplejwt's token/verify/ answers {}): the backend vouched for the
	// token. Default false.
	UserFromClaims bool `json:"userFromClaims,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// responsesDefaults are the responses options' defaults.
func responsesDefaults() ResponsesConfig {
	return ResponsesConfig{
		Success:      "success",
		User:         "data",
		UserID:       "data.id",
		TokenType:    "data.type",
		ExpiresAt:    "data.exp",
		Roles:        "data.role",
		AccessToken:  "data.accessToken",
		RefreshToken: "data.refreshToken",
	}
}

// CookiesConfig names the token cookies and sets their attributes.
type CookiesConfig struct {
	// User is the user token cookie. Default "userToken".
	User string `json:"user,omitempty"`
	// Guest is the guest token cookie. Default "guestToken".
	Guest string `json:"guest,omitempty"`
	// Refresh is the refresh token cookie; empty means single-token mode
	// (the expired access token is the refresh credential). Default "".
	Refresh string `json:"refresh,omitempty"`
	// UserMaxAge is the user cookie's lifetime. Default "168h".
	UserMaxAge string `json:"userMaxAge,omitempty"`
	// GuestMaxAge is the guest cookie's lifetime. Default "1h".
	GuestMaxAge string `json:"guestMaxAge,omitempty"`
	// RefreshMaxAge is the refresh cookie's lifetime. Default "720h".
	RefreshMaxAge string `json:"refreshMaxAge,omitempty"`
	// Secure adds the Secure attribute; turn off only for plain-http
	// development. Default true.
	Secure bool `json:"secure,omitempty"`
	// SameSite is "Lax", "Strict" or "None" ("None" needs Secure).
	// Default "Lax".
	SameSite string `json:"sameSite,omitempty"`
	// Path is the user and guest cookies' path. Default "/".
	Path string `json:"path,omitempty"`
	// Domain is the cookies' domain; empty means host-only. Default "".
	Domain string `json:"domain,omitempty"`
	// RefreshCookiePath is the refresh cookie's Path attribute, for
	// example the path of the app's refresh route, so browsers send the
	// refresh token nowhere else; empty means Path. Default "". (Not to be
	// confused with backend.refreshPath, the backend's refresh endpoint.)
	RefreshCookiePath string `json:"refreshCookiePath,omitempty"`
	// RefreshPath is the deprecated name of RefreshCookiePath, still
	// read; setting both to different paths is an error. Default "".
	RefreshPath string `json:"refreshPath,omitempty"`
	// ExpiryHint names a cookie readable by scripts (not HttpOnly) that
	// holds only the access token's expiry, in Unix seconds, so browser
	// code can schedule work; empty means none. Default "".
	ExpiryHint string `json:"expiryHint,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// cookiesDefaults are the cookies options' defaults.
func cookiesDefaults() CookiesConfig {
	return CookiesConfig{
		User:          "userToken",
		Guest:         "guestToken",
		UserMaxAge:    "168h",
		GuestMaxAge:   "1h",
		RefreshMaxAge: "720h",
		Secure:        true,
		SameSite:      "Lax",
		Path:          "/",
	}
}

// GuestConfig turns on guest tokens for anonymous visitors.
type GuestConfig struct {
	// Enabled mints a guest token for visitors without a valid token.
	// Default false.
	Enabled bool `json:"enabled,omitempty"`
	// Username and Password are posted to the guest endpoint as
	// {"username":…,"password":…}. Required when Enabled.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// guestDefaults are the guest options' defaults: none (guests are off).
func guestDefaults() GuestConfig {
	return GuestConfig{}
}

// CacheConfig bounds the validation cache.
type CacheConfig struct {
	// TTL is how long a validation answer is reused; an entry never
	// outlives the token's expiry. "0s" turns caching off (deduplication
	// of concurrent calls stays). Default "2s".
	TTL string `json:"ttl,omitempty"`
	// MaxEntries bounds the number of cached validations. Default 10000.
	MaxEntries int `json:"maxEntries,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// cacheDefaults are the cache options' defaults.
func cacheDefaults() CacheConfig {
	return CacheConfig{TTL: "2s", MaxEntries: 10000}
}

// RefreshConfig tunes what happens around a refresh.
type RefreshConfig struct {
	// FallbackToGuest mints or keeps a guest session when a refresh fails
	// fatally (expired, revoked) and guests are enabled. Default true.
	FallbackToGuest bool `json:"fallbackToGuest,omitempty"`
	// ReuseStatusCodes are refresh answers that mean the refresh token was
	// replayed: the user is logged out. Default ["409"].
	ReuseStatusCodes []string `json:"reuseStatusCodes,omitempty"`
	// ReuseCodes are values of the answer's "code", "error" or "reason"
	// field with the same meaning. Default ["token_reuse"].
	ReuseCodes []string `json:"reuseCodes,omitempty"`
	// ReuseMessages are texts whose presence in a refused refresh answer's
	// "detail", "message", "error_description" or "error" field means the
	// same (simplejwt: "Token is blacklisted"). Default [].
	ReuseMessages []string `json:"reuseMessages,omitempty"`
	// GraceWindow is how long a refresh result is remembered under the old
	// credential, so requests still carrying the old cookie reuse it
	// instead of refreshing again (with rotating refresh tokens a second
	// refresh would be a replay). The new token is validated on every use;
	// the window only bounds how long the old credential can obtain it.
	// "0s" turns the memo off. Default "10s".
	GraceWindow string `json:"graceWindow,omitempty"`
	// ProactiveWindow refreshes a still-valid token on the request that
	// finds its expiry this close, so users never meet an expired token
	// mid-form; a failed proactive refresh (other than reuse) keeps the
	// valid token. "0s" turns it off. Default "0s".
	ProactiveWindow string `json:"proactiveWindow,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// refreshDefaults are the refresh options' defaults.
func refreshDefaults() RefreshConfig {
	return RefreshConfig{
		FallbackToGuest:  true,
		ReuseStatusCodes: []string{"409"},
		ReuseCodes:       []string{"token_reuse"},
		GraceWindow:      "10s",
		ProactiveWindow:  "0s",
	}
}

// RoleRule restricts paths to users holding one of Roles.
type RoleRule struct {
	// Path is a route pattern (see RoutesConfig).
	Path string `json:"path,omitempty"`
	// Roles lists the roles allowed; a user needs one of them.
	Roles []string `json:"roles,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// RoutesConfig holds the path rules. A pattern "/x" matches /x and
// everything below it; "*" matches one segment; "**" any number of
// segments. When several rules match, the most specific wins; on a tie
// the stricter one.
type RoutesConfig struct {
	// Protected paths need a logged-in user (a guest is not enough).
	Protected []string `json:"protected,omitempty"`
	// AuthOnly paths (login, register) send a logged-in user away.
	AuthOnly []string `json:"authOnly,omitempty"`
	// Public paths are open to anyone, also with ProtectedByDefault.
	Public []string `json:"public,omitempty"`
	// ProtectedByDefault protects every path no rule names. Default false.
	ProtectedByDefault bool `json:"protectedByDefault,omitempty"`
	// Excluded paths bypass authlayer (static assets); identity headers
	// are still stripped.
	Excluded []string `json:"excluded,omitempty"`
	// API paths are answered with JSON 401/403 instead of redirects, as is
	// any request that does not accept text/html. Default ["/api"].
	API []string `json:"api,omitempty"`
	// Roles restricts paths to users with one of the listed roles.
	Roles []RoleRule `json:"roles,omitempty"`
	// AllowedTokenTypes lists the token types accepted as a logged-in
	// user on protected routes; empty means any type but "guest". Required
	// when responses.tokenType is empty: every token's type is then
	// "user", a guest's too, so New refuses an empty list (and refuses
	// an empty responses.tokenType outright when guest.enabled is true).
	// Default [].
	AllowedTokenTypes []string `json:"allowedTokenTypes,omitempty"`
	// LoginURL is where unauthenticated page requests are sent. Default
	// "/login".
	LoginURL string `json:"loginUrl,omitempty"`
	// HomeURL is where a logged-in user visiting an auth-only page is
	// sent. Default "/".
	HomeURL string `json:"homeUrl,omitempty"`
	// ReturnToParam is the query parameter carrying the original path to
	// the login page and back. Default "redirect".
	ReturnToParam string `json:"returnToParam,omitempty"`
	// BlockBrowserAPI redirects a browser's top-level navigation to an API
	// path (Sec-Fetch-Mode: navigate, or Accept: text/html without fetch
	// metadata) to HomeURL. Default false.
	BlockBrowserAPI bool `json:"blockBrowserApi,omitempty"`
	// AmbiguousPaths says what to do with a path whose meaning depends on
	// the app (an encoded "/" or "\", control characters, double
	// encoding, a dot segment with parameters such as "..;", which is ".."
	// to Java and a name to Go): "reject" answers 400, "protect" treats it
	// as at least protected, never weaker than any reading's rule.
	// Default "reject".
	AmbiguousPaths string `json:"ambiguousPaths,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// routesDefaults are the routes options' defaults.
func routesDefaults() RoutesConfig {
	return RoutesConfig{
		API:            []string{"/api"},
		LoginURL:       "/login",
		HomeURL:        "/",
		ReturnToParam:  "redirect",
		AmbiguousPaths: "reject",
	}
}

// HeadersConfig names the headers the app receives.
type HeadersConfig struct {
	// User carries base64 (standard, padded) of the user's JSON. Default
	// "X-Auth-User".
	User string `json:"user,omitempty"`
	// UserID carries the user's id. Default "X-Auth-User-Id".
	UserID string `json:"userId,omitempty"`
	// TokenType carries the token's type. Default "X-Auth-Token-Type".
	TokenType string `json:"tokenType,omitempty"`
	// RefreshedToken carries a token authlayer just refreshed or minted.
	// Default "X-Refreshed-Token".
	RefreshedToken string `json:"refreshedToken,omitempty"`
	// VerifiedBy, when set, names a header saying who checked the token:
	// "local" (jwt.* verified it here) or "backend". Empty: not sent.
	// Default "".
	VerifiedBy string `json:"verifiedBy,omitempty"`
	// ForwardAuthorization sends "Authorization: Bearer <token>" upstream
	// (and strips the client's own). Default true.
	ForwardAuthorization bool `json:"forwardAuthorization,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// headersDefaults are the headers options' defaults.
func headersDefaults() HeadersConfig {
	return HeadersConfig{
		User:                 "X-Auth-User",
		UserID:               "X-Auth-User-Id",
		TokenType:            "X-Auth-Token-Type",
		RefreshedToken:       "X-Refreshed-Token",
		ForwardAuthorization: true,
	}
}

// CSRFConfig turns on cross-site request forgery protection for unsafe
// methods: Fetch Metadata first, then Origin/Referer, then a signed
// double-submit token wire-compatible with next-api-layer.
type CSRFConfig struct {
	// Enabled turns the check on. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// Secret keys the token's HMAC-SHA256; at least 32 characters.
	// Required when Enabled.
	Secret string `json:"secret,omitempty"`
	// CookieName holds the token (readable by scripts). Default "__csrf".
	CookieName string `json:"cookieName,omitempty"`
	// HeaderName carries the token on unsafe requests. Default
	// "X-CSRF-Token".
	HeaderName string `json:"headerName,omitempty"`
	// TrustedOrigins are origins (scheme://host[:port]) accepted besides
	// the request's own.
	TrustedOrigins []string `json:"trustedOrigins,omitempty"`
	// TrustSameSite accepts "Sec-Fetch-Site: same-site" (sibling
	// subdomains). Default false.
	TrustSameSite bool `json:"trustSameSite,omitempty"`
	// ExemptPaths are exact paths never checked (webhooks).
	ExemptPaths []string `json:"exemptPaths,omitempty"`
	// ReportOnly logs failures without rejecting. Default false.
	ReportOnly bool `json:"reportOnly,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// csrfDefaults are the csrf options' defaults.
func csrfDefaults() CSRFConfig {
	return CSRFConfig{CookieName: "__csrf", HeaderName: "X-CSRF-Token"}
}

// RateLimitConfig limits requests per client IP with token buckets, with
// tighter budgets for the expensive backend calls.
type RateLimitConfig struct {
	// Enabled turns rate limiting on. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// Requests per Window per client. Default 100.
	Requests int `json:"requests,omitempty"`
	// Window is the refill period of every budget. Default "60s".
	Window string `json:"window,omitempty"`
	// GuestMints is the per-client budget per Window for guest-token
	// minting. Default 10.
	GuestMints int `json:"guestMints,omitempty"`
	// Refreshes is the per-client budget per Window for refreshes.
	// Default 30.
	Refreshes int `json:"refreshes,omitempty"`
	// UnknownTokens is the per-client budget per Window for validations
	// of tokens not in the cache. Default 60.
	UnknownTokens int `json:"unknownTokens,omitempty"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed; the
	// client is the right-most untrusted hop. Empty: the connection's peer.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
	// MaxSources bounds the number of clients tracked. Default 100000.
	MaxSources int `json:"maxSources,omitempty"`
	// CountPrefetch counts prefetch requests (Sec-Purpose: prefetch,
	// Next-Router-Prefetch). Default false.
	CountPrefetch bool `json:"countPrefetch,omitempty"`
	// Logins is the per-client budget per Window of login attempts at
	// endpoints.login. Default 10.
	Logins int `json:"logins,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// rateLimitDefaults are the rateLimit options' defaults.
func rateLimitDefaults() RateLimitConfig {
	return RateLimitConfig{
		Requests: 100, Window: "60s",
		GuestMints: 10, Refreshes: 30, UnknownTokens: 60,
		MaxSources: 100000, Logins: 10,
	}
}

// AuditConfig writes one JSON line per security event to stdout.
type AuditConfig struct {
	// Enabled turns the audit log on. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// Events lists the events to write; empty means all.
	Events []string `json:"events,omitempty"`
	// Salt keys the token hash written for anonymous events; empty means
	// a random salt per process (hashes do not correlate across restarts).
	Salt string `json:"salt,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// auditDefaults are the audit options' defaults: none (the audit log is off).
func auditDefaults() AuditConfig {
	return AuditConfig{}
}

// JWTConfig turns on local verification of the tokens' signatures and
// claims, so a valid token costs no backend call (see internal/jwt,
// jwtflow.go and the README's "Local JWT verification").
type JWTConfig struct {
	// Enabled verifies tokens locally. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// Mode says what the backend is still asked: "local" (never asked to
	// validate), "revalidate" (a locally valid token is confirmed by the
	// backend at most once per RevalidateInterval, so revocation is seen)
	// or "fallback" (tokens whose key or algorithm authlayer cannot check
	// go to the backend). Default "local".
	Mode string `json:"mode,omitempty"`
	// RevalidateInterval is how often the backend confirms a token in
	// "revalidate" mode. Default "60s".
	RevalidateInterval string `json:"revalidateInterval,omitempty"`
	// Algorithms is the allow-list: HS256/384/512, RS256/384/512,
	// PS256/384/512, ES256/384/512, EdDSA. "none" is never accepted.
	// Empty means every algorithm the configured keys can verify.
	Algorithms []string `json:"algorithms,omitempty"`
	// Secret is the HMAC key for HS256/384/512 (at least as many bytes as
	// the hash: 32, 48, 64).
	Secret string `json:"secret,omitempty"`
	// PublicKeys are verification keys: PEM (PUBLIC KEY, RSA PUBLIC KEY or
	// CERTIFICATE; a "kid: <id>" PEM header names the key; "\n" may be
	// written as the two characters \ and n), or a JWK or JWKS as JSON.
	PublicKeys []string `json:"publicKeys,omitempty"`
	// JWKSURL is where the issuer publishes its keys (a JWKS). Fetched
	// when first needed, never by New.
	JWKSURL string `json:"jwksUrl,omitempty"`
	// JWKSMinRefreshInterval spaces refetches caused by an unknown kid.
	// Default "30s".
	JWKSMinRefreshInterval string `json:"jwksMinRefreshInterval,omitempty"`
	// JWKSMaxAge is how long fetched keys are used before a refetch (a
	// failed refetch keeps them). Default "1h".
	JWKSMaxAge string `json:"jwksMaxAge,omitempty"`
	// Issuer, when set, must equal the token's iss claim.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, must contain one of the token's aud values.
	Audience []string `json:"audience,omitempty"`
	// Leeway is the clock skew allowed for exp and nbf. Default "30s".
	Leeway string `json:"leeway,omitempty"`
	// UserClaim is the dotted path of the user object forwarded in
	// X-Auth-User; empty means the whole claims object. Default "".
	UserClaim string `json:"userClaim,omitempty"`
	// UserIDClaim is the user's id. Default "sub".
	UserIDClaim string `json:"userIdClaim,omitempty"`
	// TokenTypeClaim is the token's type ("user", "guest", ...), with the
	// same rules as responses.tokenType. Default "type".
	TokenTypeClaim string `json:"tokenTypeClaim,omitempty"`
	// RolesClaim is the user's roles: a string or an array of strings.
	// Default "roles".
	RolesClaim string `json:"rolesClaim,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// jwtDefaults are the jwt options' defaults.
func jwtDefaults() JWTConfig {
	return JWTConfig{
		Mode:                   "local",
		RevalidateInterval:     "60s",
		JWKSMinRefreshInterval: "30s",
		JWKSMaxAge:             "1h",
		Leeway:                 "30s",
		UserIDClaim:            "sub",
		TokenTypeClaim:         "type",
		RolesClaim:             "roles",
	}
}

// EndpointsConfig turns on authlayer's own session endpoints, exact paths
// answered by authlayer and never forwarded (see endpoints.go).
type EndpointsConfig struct {
	// Login takes the browser's login POST (JSON or form), forwards it to
	// backend.loginPath and sets the session cookies. Empty: off.
	// Default "".
	Login string `json:"login,omitempty"`
	// Logout ends the session (POST): backend.logoutPath is told, every
	// auth cookie cleared, cached state dropped. Empty: off. Default "".
	Logout string `json:"logout,omitempty"`
	// Session answers GET with the session as JSON (authenticated,
	// tokenType, user, expiresAt). Empty: off. Default "".
	Session string `json:"session,omitempty"`
	// MaxBodyBytes caps a login request's body. Default 16384.
	MaxBodyBytes int `json:"maxBodyBytes,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// endpointsDefaults are the endpoints options' defaults.
func endpointsDefaults() EndpointsConfig {
	return EndpointsConfig{MaxBodyBytes: 16384}
}

// ErrorPagesConfig replaces the HTML pages authlayer answers browsers
// with. Each value is a URL path on the app ("/errors/403.html", fetched
// with GET through the middleware chain's next handler and sent with
// authlayer's status) or "file:" and a local file read by New; empty
// means authlayer's built-in page.
type ErrorPagesConfig struct {
	// Unauthorized is the 401 page. Default "".
	Unauthorized string `json:"unauthorized,omitempty"`
	// Forbidden is the 403 page. Default "".
	Forbidden string `json:"forbidden,omitempty"`
	// TooManyRequests is the 429 page. Default "".
	TooManyRequests string `json:"tooManyRequests,omitempty"`
	// Unavailable is the 503 page. Default "".
	Unavailable string `json:"unavailable,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// errorPagesDefaults are the errorPages options' defaults: none (the built-in pages).
func errorPagesDefaults() ErrorPagesConfig {
	return ErrorPagesConfig{}
}

// I18nConfig turns on locale detection (see i18n.go).
type I18nConfig struct {
	// Locales lists the supported locales ("en", "tr", "pt-BR"); empty
	// turns i18n off.
	Locales []string `json:"locales,omitempty"`
	// DefaultLocale is used when nothing else decides; it must be one of
	// Locales. Default "" (the first of Locales).
	DefaultLocale string `json:"defaultLocale,omitempty"`
	// Cookie names the cookie holding a chosen locale. Default "locale".
	Cookie string `json:"cookie,omitempty"`
	// Header carries the locale to the app, and on the response. Default
	// "X-Locale".
	Header string `json:"header,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// i18nDefaults are the i18n options' defaults.
func i18nDefaults() I18nConfig {
	return I18nConfig{Cookie: "locale", Header: "X-Locale"}
}

// MethodOverrideConfig sends PUT, PATCH and DELETE upstream as POST, for
// apps behind infrastructure that blocks those verbs (see
// methodoverride.go). CSRF and the rules still see the real method.
type MethodOverrideConfig struct {
	// Mode is "off", "header" (X-HTTP-Method-Override) or "body" (a
	// _method field in a JSON or form body). Default "off".
	Mode string `json:"mode,omitempty"`
	// MaxBodyBytes caps a body rewritten in "body" mode. Default 1048576.
	MaxBodyBytes int `json:"maxBodyBytes,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// methodOverrideDefaults are the methodOverride options' defaults.
func methodOverrideDefaults() MethodOverrideConfig {
	return MethodOverrideConfig{Mode: "off", MaxBodyBytes: 1 << 20}
}

// ClusterConfig shares session state between Traefik replicas through
// Redis (or Valkey, KeyDB): one refresh per credential, logouts, rate-limit
// budgets and backend validations (cluster.go). Off while redis.endpoints
// is empty.
type ClusterConfig struct {
	// Redis says how to reach the server; the names follow Traefik's own
	// rateLimit.redis.
	Redis ClusterRedisConfig `json:"redis,omitempty"`
	// Secret keys the hashes that name tokens in Redis and encrypts the
	// values that hold tokens; at least 32 bytes, the same on every
	// replica. Required with redis.endpoints.
	Secret string `json:"secret,omitempty"`
	// KeyPrefix starts every key and channel name authlayer uses, so one
	// Redis ACL can confine it. Default "authlayer:".
	KeyPrefix string `json:"keyPrefix,omitempty"`
	// RefreshLease is the first lease of the lock one replica holds while
	// it refreshes a credential; renewed every third of it while the
	// refresh runs, so a slow refresh is still one refresh. Default "3s".
	RefreshLease string `json:"refreshLease,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// ClusterRedisConfig is the Redis server cluster mode talks to.
type ClusterRedisConfig struct {
	// Endpoints are host:port addresses of the same server (a name and
	// its fallbacks), tried in order. Empty: cluster mode is off.
	Endpoints []string `json:"endpoints,omitempty"`
	// Username is the Redis ACL user; empty: the default user.
	Username string `json:"username,omitempty"`
	// Password authenticates (AUTH); empty: no AUTH.
	Password string `json:"password,omitempty"`
	// DB is the database number. Default 0.
	DB int `json:"db,omitempty"`
	// TLS turns TLS on when any of its fields is set.
	TLS ClusterTLSConfig `json:"tls,omitempty"`
	// DialTimeout bounds connecting, the TLS handshake and AUTH. Default
	// "2s".
	DialTimeout string `json:"dialTimeout,omitempty"`
	// ReadTimeout bounds waiting for one reply; past it the replica works
	// on its own until Redis answers again. Default "500ms".
	ReadTimeout string `json:"readTimeout,omitempty"`
	// WriteTimeout bounds sending one command. Default "500ms".
	WriteTimeout string `json:"writeTimeout,omitempty"`
	// PoolSize is the most connections one replica opens (its logout
	// subscription's is not counted). Default 16.
	PoolSize int `json:"poolSize,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// ClusterTLSConfig is TLS to Redis. Certificates are file paths or inline
// PEM.
type ClusterTLSConfig struct {
	// CA holds the authorities that sign the server's certificate; empty:
	// the system's roots.
	CA string `json:"ca,omitempty"`
	// Cert is the client certificate, for a server that asks for one.
	Cert string `json:"cert,omitempty"`
	// Key is the client certificate's private key.
	Key string `json:"key,omitempty"`
	// InsecureSkipVerify accepts any server certificate (tests only).
	// Default false.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Unknown collects keys the decoder matched to no option; New refuses
	// them (options_unknown.go). Not an option.
	Unknown map[string]interface{} `json:"-" mapstructure:",remain"`
}

// clusterDefaults are the cluster options' defaults.
func clusterDefaults() ClusterConfig {
	return ClusterConfig{
		KeyPrefix: "authlayer:", RefreshLease: "3s",
		Redis: ClusterRedisConfig{DialTimeout: "2s", ReadTimeout: "500ms", WriteTimeout: "500ms", PoolSize: 16},
	}
}

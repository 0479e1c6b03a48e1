package authlayer

import (
	"errors"
	"github.com/authlayer/authlayer/internal/opts"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/authlayer/authlayer/internal/csrf"
	"github.com/authlayer/authlayer/internal/jsonpath"
	"github.com/authlayer/authlayer/internal/jwt"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// settings is Config checked and compiled once in New: parsed durations,
// joined URLs, split JSON paths, canonical header names, the route table.
// Nothing on the request path parses configuration again.
type settings struct {
	backend         backendSettings
	responses       responseFields
	cookies         cookieSettings
	guest           guestSettings
	cacheTTL        time.Duration
	cacheMax        int
	refresh         refreshSettings
	routes          routeSettings
	headers         headerSettings
	jwt             *jwt.Settings // nil when jwt.enabled is false
	endpoints       endpointSettings
	errorPages      errorPageSettings
	i18n            *i18nSettings // nil when i18n is off
	methodOverride  methodOverrideSettings
	proactiveWindow time.Duration    // refresh.proactiveWindow; 0: off
	warnings        instanceWarnings // misconfig.go: what this instance has said once
	// limiter is nil when rateLimit.enabled is false (rateflow.go); it
	// keeps this instance's client-key memo, and its buckets become the
	// session scope's (state.go).
	limiter *ratelimit.Limiter
	csrf    *csrf.Guard      // nil when csrf.enabled is false (csrfflow.go)
	audit   *auditLog        // nil when audit.enabled is false (audit.go); New names it
	cluster *clusterSettings // nil when cluster mode is off (cluster.go)
	// shapes are the backend calls' request shapes (requestshape.go);
	// a nil shape sends its call as next-api-layer expects.
	shapes                 *requestShapes
	clientID, clientSecret string // backend.clientId, backend.clientSecret

	// Flat copies of nested options read on every request (set by
	// flattenHot): under Yaegi, s.routes.x first copies the whole routes
	// struct into a frame slot of its own, s.x reads one field.
	blockBrowserAPI   bool            // routes.blockBrowserApi
	allowedTokenTypes map[string]bool // routes.allowed
	expiryHint        bool            // cookies.expiryHint is set
	methodOverrideOn  bool            // methodOverride.enabled
}

// routeSettings are the compiled routes.* options: the rules and where
// authlayer sends people.
type routeSettings struct {
	table    *routeTable
	loginURL string
	homeURL  string
	returnTo string
	// protectAmbiguous treats ambiguous path spellings as protected
	// instead of answering 400 (routes.ambiguousPaths=protect).
	protectAmbiguous bool
	allowed          map[string]bool // token types that count as logged in; empty: any but guest
	blockBrowserAPI  bool            // routes.blockBrowserApi (browserapi.go)
}

type backendSettings struct {
	validateURL   string
	refreshURL    string
	guestURL      string
	loginURL      string
	logoutURL     string
	timeout       time.Duration
	maxConcurrent int
}

type guestSettings struct {
	enabled            bool
	body               []byte // {"username":…,"password":…}, built once
	username, password string // for a guest request shape's placeholders
}

type refreshSettings struct {
	fallbackToGuest bool
	reuseStatus     map[int]bool
	reuseCodes      map[string]bool
	reuseMessages   []string
	graceWindow     time.Duration
}

func compileSettings(c *Config) (*settings, error) {
	if c == nil {
		return nil, errors.New("authlayer: configuration is nil")
	}
	// Unknown keys first: a misspelled option would otherwise surface as
	// a confusing error about the option it was meant to set, or none.
	if err := checkUnknownOptions(c); err != nil {
		return nil, err
	}
	// The preset fills what is still at its default (presets.go); every
	// step below reads the result.
	c, err := withPreset(c)
	if err != nil {
		return nil, err
	}
	s := &settings{}
	steps := []func(*Config, *settings) error{
		compileBackend, compileResponses, compileCookies, compileGuest,
		compileShapes, compileCache, compileRefresh, compileRoutes, compileTokenTypes, compileHeaders, compileJWT,
		compileEndpoints, compileErrorPages, compileI18n, compileMethodOverride, compileBrowserAPI,
		compileRateLimit, compileCSRF, compileAudit, compileCluster,
	}
	for _, step := range steps {
		if err := step(c, s); err != nil {
			return nil, err
		}
	}
	flattenHot(s)
	return s, nil
}

// flattenHot copies the nested options read on every request to
// settings' flat fields.
func flattenHot(s *settings) {
	s.blockBrowserAPI = s.routes.blockBrowserAPI
	s.allowedTokenTypes = s.routes.allowed
	s.expiryHint = s.cookies.hint != ""
	s.methodOverrideOn = s.methodOverride.enabled
}

func compileBackend(c *Config, s *settings) error {
	b := c.Backend
	if strings.TrimSpace(b.URL) == "" {
		return opts.Error("backend.url", "is required")
	}
	base, err := url.Parse(strings.TrimSpace(b.URL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return opts.Error("backend.url", "must be an absolute http or https URL")
	}
	if base.User != nil {
		return opts.Error("backend.url", "must not carry credentials")
	}
	if s.backend.validateURL, err = joinEndpoint(base, "backend.validatePath", b.ValidatePath); err != nil {
		return err
	}
	if s.backend.refreshURL, err = joinEndpoint(base, "backend.refreshPath", b.RefreshPath); err != nil {
		return err
	}
	if s.backend.guestURL, err = joinEndpoint(base, "backend.guestPath", b.GuestPath); err != nil {
		return err
	}
	if s.backend.loginURL, err = joinEndpoint(base, "backend.loginPath", b.LoginPath); err != nil {
		return err
	}
	if s.backend.logoutURL, err = joinEndpoint(base, "backend.logoutPath", b.LogoutPath); err != nil {
		return err
	}
	if s.backend.timeout, err = opts.PositiveDuration("backend.timeout", b.Timeout); err != nil {
		return err
	}
	if b.MaxConcurrent < 1 {
		return opts.Error("backend.maxConcurrent", "must be at least 1, got %d", b.MaxConcurrent)
	}
	s.backend.maxConcurrent = b.MaxConcurrent
	return nil
}

// joinEndpoint joins a relative endpoint path to the base URL, keeping the
// base's own path ("http://auth/api" + "auth/me" = "http://auth/api/auth/me").
func joinEndpoint(base *url.URL, option, p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", opts.Error(option, "must not be empty")
	}
	if strings.Contains(p, "://") || strings.HasPrefix(p, "//") {
		return "", opts.Error(option, "must be a path relative to backend.url")
	}
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/" + strings.TrimPrefix(p, "/")
	u.RawPath = ""
	return u.String(), nil
}

func compileResponses(c *Config, s *settings) error {
	r := c.Responses
	required := []struct{ option, value string }{
		{"responses.accessToken", r.AccessToken},
	}
	if !r.UserFromClaims {
		required = append(required, struct{ option, value string }{"responses.user", r.User})
	}
	for _, f := range required {
		if strings.TrimSpace(f.value) == "" {
			return opts.Error(f.option, "must not be empty")
		}
	}
	s.responses = responseFields{
		success:      jsonpath.Parse(r.Success),
		user:         jsonpath.Parse(r.User),
		userID:       jsonpath.Parse(r.UserID),
		tokenType:    jsonpath.Parse(r.TokenType),
		expiresAt:    jsonpath.Parse(r.ExpiresAt),
		roles:        jsonpath.Parse(r.Roles),
		accessToken:  jsonpath.Parse(r.AccessToken),
		refreshToken: jsonpath.Parse(r.RefreshToken),
		userIsAnswer: strings.TrimSpace(r.User) == ".",
	}
	if r.UserFromClaims {
		j := c.JWT
		s.responses.claims = &claimPaths{
			user: jsonpath.Parse(j.UserClaim), userID: jsonpath.Parse(j.UserIDClaim),
			tokenType: jsonpath.Parse(j.TokenTypeClaim), roles: jsonpath.Parse(j.RolesClaim),
		}
	}
	return nil
}

// compileShapes checks the request shapes (after the preset filled them).
func compileShapes(c *Config, s *settings) error {
	r := c.Backend.Requests
	var err error
	sh := &requestShapes{}
	if sh.validate, err = compileShape("backend.requests.validate", r.Validate, c.Backend, false); err != nil {
		return err
	}
	if sh.refresh, err = compileShape("backend.requests.refresh", r.Refresh, c.Backend, false); err != nil {
		return err
	}
	if sh.guest, err = compileShape("backend.requests.guest", r.Guest, c.Backend, false); err != nil {
		return err
	}
	if sh.login, err = compileShape("backend.requests.login", r.Login, c.Backend, true); err != nil {
		return err
	}
	if sh.logout, err = compileShape("backend.requests.logout", r.Logout, c.Backend, false); err != nil {
		return err
	}
	s.shapes = sh
	s.clientID, s.clientSecret = c.Backend.ClientID, c.Backend.ClientSecret
	return nil
}

func compileGuest(c *Config, s *settings) error {
	g := c.Guest
	s.guest.enabled = g.Enabled
	if !g.Enabled {
		return nil
	}
	if g.Username == "" {
		return opts.Error("guest.username", "is required when guest.enabled is true")
	}
	if g.Password == "" {
		return opts.Error("guest.password", "is required when guest.enabled is true")
	}
	s.guest.body = guestRequestBody(g.Username, g.Password)
	s.guest.username, s.guest.password = g.Username, g.Password
	return nil
}

func compileCache(c *Config, s *settings) error {
	ttl, err := opts.Duration("cache.ttl", c.Cache.TTL)
	if err != nil {
		return err
	}
	if c.Cache.MaxEntries < 1 {
		return opts.Error("cache.maxEntries", "must be at least 1, got %d", c.Cache.MaxEntries)
	}
	s.cacheTTL = ttl
	s.cacheMax = c.Cache.MaxEntries
	return nil
}

func compileRefresh(c *Config, s *settings) error {
	r := c.Refresh
	s.refresh.fallbackToGuest = r.FallbackToGuest
	s.refresh.reuseStatus = map[int]bool{}
	for _, v := range r.ReuseStatusCodes {
		code, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || code < 100 || code > 599 {
			return opts.Error("refresh.reuseStatusCodes", "%q is not an HTTP status code", v)
		}
		s.refresh.reuseStatus[code] = true
	}
	s.refresh.reuseCodes = map[string]bool{}
	for _, v := range r.ReuseCodes {
		if v = strings.TrimSpace(v); v != "" {
			s.refresh.reuseCodes[v] = true
		}
	}
	for _, v := range r.ReuseMessages {
		if v = strings.TrimSpace(v); v != "" {
			s.refresh.reuseMessages = append(s.refresh.reuseMessages, v)
		}
	}
	grace, err := opts.Duration("refresh.graceWindow", r.GraceWindow)
	if err != nil {
		return err
	}
	s.refresh.graceWindow = grace
	if s.proactiveWindow, err = opts.Duration("refresh.proactiveWindow", r.ProactiveWindow); err != nil {
		return err
	}
	return nil
}

func compileRoutes(c *Config, s *settings) error {
	r := c.Routes
	table, err := newRouteTable(r)
	if err != nil {
		return err
	}
	s.routes.table = table
	if s.routes.loginURL, err = redirectTarget("routes.loginUrl", r.LoginURL); err != nil {
		return err
	}
	if s.routes.homeURL, err = redirectTarget("routes.homeUrl", r.HomeURL); err != nil {
		return err
	}
	if strings.TrimSpace(r.ReturnToParam) == "" {
		return opts.Error("routes.returnToParam", "must not be empty")
	}
	s.routes.returnTo = strings.TrimSpace(r.ReturnToParam)
	s.routes.blockBrowserAPI = r.BlockBrowserAPI
	if err := checkNoRedirectLoop(table, s.routes.loginURL, s.routes.homeURL); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(r.AmbiguousPaths)) {
	case "reject":
	case "protect":
		s.routes.protectAmbiguous = true
	default:
		return opts.Error("routes.ambiguousPaths", "%q is not one of reject, protect", r.AmbiguousPaths)
	}
	return nil
}

// compileTokenTypes compiles routes.allowedTokenTypes and refuses the
// configurations in which a guest would count as a logged-in user.
// Without responses.tokenType every token has type "user" (see
// identityFrom), a guest token placed in the user cookie included: the
// operator must then say which types count as users; and with guests
// enabled no list can tell the guest tokens authlayer mints from users.
func compileTokenTypes(c *Config, s *settings) error {
	s.routes.allowed = map[string]bool{}
	for _, t := range c.Routes.AllowedTokenTypes {
		if t = strings.TrimSpace(t); t != "" {
			s.routes.allowed[t] = true
		}
	}
	if len(s.responses.tokenType) > 0 {
		return nil
	}
	if s.guest.enabled {
		return opts.Error("responses.tokenType", "must be set when guest.enabled is true: without it every token has type \"user\", "+
			"so a guest token moved into the %s cookie would count as a logged-in user whatever routes.allowedTokenTypes says", s.cookies.user)
	}
	if len(s.routes.allowed) == 0 {
		return opts.Error("routes.allowedTokenTypes", "must be set when responses.tokenType is empty: without a token type every token, "+
			"guests' included, would count as a logged-in user; set responses.tokenType to the field of the validate answer "+
			"that tells guests from users, or list the types that count as users (with no tokenType every token's type is "+
			"\"user\": [user] states that the backend validates no guest tokens)")
	}
	return nil
}

// redirectTarget accepts a local path or an absolute http(s) URL (a login
// page on another host).
func redirectTarget(option, v string) (string, error) {
	v = strings.TrimSpace(v)
	if isLocalPath(v) {
		return v, nil
	}
	u, err := url.Parse(v)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return v, nil
	}
	return "", opts.Error(option, "must be a local path such as /login or an absolute http(s) URL")
}

// checkNoRedirectLoop refuses a login URL on this host that the rules
// themselves protect (every visit would redirect to itself) and a home URL
// that is an auth-only page (a logged-in user would bounce forever).
func checkNoRedirectLoop(table *routeTable, loginURL, homeURL string) error {
	if p, local := localPathOf(loginURL); local && matchRoute(table, p).needsUser {
		return opts.Error("routes.loginUrl", "%s is itself protected (add it to routes.authOnly or routes.public)", p)
	}
	if p, local := localPathOf(homeURL); local && matchRoute(table, p).kind == kindAuthOnly {
		return opts.Error("routes.homeUrl", "%s is an auth-only page: logged-in users would be redirected in a loop", p)
	}
	return nil
}

// localPathOf returns the canonical path of a local URL without its query.
func localPathOf(v string) (string, bool) {
	if !strings.HasPrefix(v, "/") {
		return "", false
	}
	if i := strings.IndexAny(v, "?#"); i >= 0 {
		v = v[:i]
	}
	return canonicalPath(v), true
}

func compileHeaders(c *Config, s *settings) error {
	h, err := newHeaderSettings(c.Headers)
	if err != nil {
		return err
	}
	s.headers = h
	return nil
}

func headerNameByte(c byte) bool {
	return c == '-' || c == '_' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// validHeaderName reports whether v is a usable HTTP header field name.
func validHeaderName(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !headerNameByte(v[i]) {
			return false
		}
	}
	return true
}

package authlayer

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/jwt"
	"github.com/authlayer/authlayer/internal/ratelimit"
)

// State shared between instances.
//
// Traefik calls New for every router using the middleware and again for
// every router on every configuration reload, and old instances keep
// serving in-flight requests for a while. What a request needs from
// earlier requests therefore lives in two scopes shared by instances with
// the same middleware name:
//
//   - the session scope, per backend URL: the remembered refreshes, the
//     rate limiter's budgets and the connection pool to the backend. It
//     survives every reload that keeps backend.url, whatever else
//     changes: a reload in the middle of a refresh burst finds the refresh
//     in flight or remembered instead of replaying the old refresh token
//     (which, with rotation, would end the session), no reload hands
//     clients a fresh budget, and no reload leaves idle connections behind.
//   - the backend scope, per backend-facing configuration (backend,
//     responses, guest, cache, refresh, jwt): the validation cache and
//     the backend client with its call slots. A change to those options
//     starts a fresh one, since answers read with another mapping, from
//     another endpoint or checked with other keys would be wrong; it costs
//     one validation per active token, never a session. The session memo
//     (sessionmemo.go) is per backend scope and cookie names.
//
// Route, cookie, header, CSRF, audit and rate-limit options are per
// instance. Keys fetched from a JWKS (internal/jwt) are kept per middleware
// and JWKS URL. The registry keeps at most maxSharedScopes scopes; the
// oldest is dropped first (instances still holding it keep working, it is
// only no longer handed out). Nothing here starts a goroutine.

const maxSharedScopes = 128

// sharedState is one instance's view of the scopes it shares.
type sharedState struct {
	limiter     *ratelimit.Limiter // nil when rateLimit.enabled is false; its buckets are the session scope's
	backend     *backendClient
	validations *cache.Dedup // token hash → validation
	refreshes   *cache.Dedup // credential hash → refreshOutcome
	sessions    *sessionMemo // Cookie header → settled session (per backend scope and cookie names)
	jwks        *jwt.KeySet  // nil without jwt.jwksUrl; per middleware name and JWKS URL
	cluster     *clusterNode // nil unless cluster mode is on (cluster.go); per middleware name and cluster options
}

type sessionScope struct {
	refreshes *cache.Dedup
	buckets   *ratelimit.Buckets
	transport *http.Transport // the backend's connection pool, kept across reloads
}

type backendScope struct {
	backend     *backendClient
	validations *cache.Dedup
}

var (
	scopesMu   sync.Mutex // protects scopes and scopeOrder
	scopes     = map[string]interface{}{}
	scopeOrder []string
)

func sharedStateFor(name string, c *Config, s *settings) *sharedState {
	scopesMu.Lock()
	defer scopesMu.Unlock()
	ss := sharedScope(sessionKey(name, c), func() interface{} {
		return &sessionScope{refreshes: cache.New(s.cacheMax), buckets: ratelimit.NewBuckets(), transport: newBackendTransport(s.backend.maxConcurrent)}
	}).(*sessionScope)
	bs := sharedScope(backendKey(name, c), func() interface{} {
		return &backendScope{backend: newBackendClient(name, s, ss.transport), validations: cache.New(s.cacheMax)}
	}).(*backendScope)
	memo := sharedScope(memoKey(name, c), func() interface{} {
		return newSessionMemo(s.cacheMax)
	}).(*sessionMemo)
	if s.limiter != nil {
		s.limiter.Buckets = ss.buckets
	}
	state := &sharedState{limiter: s.limiter, backend: bs.backend, validations: bs.validations, refreshes: ss.refreshes, sessions: memo}
	state.cluster = clusterNodeFor(name, s)
	if s.jwt != nil && s.jwt.JWKSURL != "" {
		state.jwks = sharedScope(jwksKey(name, c), func() interface{} {
			return jwt.NewKeySet(s.jwt, s.backend.timeout, jwksFetcher(newBackendHealth(name), s.jwt.JWKSURL, ss.transport))
		}).(*jwt.KeySet)
	}
	return state
}

// sharedScope returns the scope stored under key, or stores a new one.
// Called with scopesMu held.
func sharedScope(key string, create func() interface{}) interface{} {
	if v, ok := scopes[key]; ok {
		return v
	}
	v := create()
	if len(scopeOrder) >= maxSharedScopes {
		delete(scopes, scopeOrder[0])
		scopeOrder = scopeOrder[1:]
	}
	scopes[key] = v
	scopeOrder = append(scopeOrder, key)
	return v
}

// sessionKey identifies a session scope: the middleware and its backend.
func sessionKey(name string, c *Config) string {
	return scopeKey("session", name, strings.TrimSuffix(strings.TrimSpace(c.Backend.URL), "/"))
}

// backendKey identifies a backend scope by the middleware and a hash of
// the backend-facing options (hashed: the guest password is among them).
func backendKey(name string, c *Config) string {
	raw, _ := json.Marshal([]interface{}{c.Backend, c.Responses, c.Guest, c.Cache, c.Refresh, c.JWT})
	return scopeKey("backend", name, string(raw))
}

// jwksKey identifies a JWKS cache: the middleware, its JWKS URL and the
// intervals it is fetched by.
func jwksKey(name string, c *Config) string {
	raw, _ := json.Marshal([]interface{}{c.JWT.JWKSURL, c.JWT.JWKSMinRefreshInterval, c.JWT.JWKSMaxAge, c.Backend.Timeout})
	return scopeKey("jwks", name, string(raw))
}

// memoKey identifies a session memo: a backend scope, the cookie names and
// token types that turn a Cookie header into a session, and the CSRF
// options its entries' csrfOK was judged under.
func memoKey(name string, c *Config) string {
	raw, _ := json.Marshal([]interface{}{c.Backend, c.Responses, c.Guest, c.Cache, c.Refresh, c.JWT, c.Cookies, c.Routes.AllowedTokenTypes, c.CSRF})
	return scopeKey("memo", name, string(raw))
}

func scopeKey(kind, name, options string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + name + "\x00" + options))
	return string(sum[:])
}

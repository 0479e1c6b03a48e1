package authlayer

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
)

// State shared between instances.
//
// Traefik calls New for every router using the middleware and again for
// every router on every configuration reload, and old instances keep
// serving in-flight requests for a while. The validation cache, the
// remembered refreshes and the backend connection pool are therefore shared
// by every instance with the same middleware name and the same
// backend-facing configuration (backend, responses, guest, cache, refresh,
// rateLimit; the rate limiter's budgets live here too, so a reload does
// not hand every client a fresh budget):
// routers share one cache, and a reload in the middle of a refresh burst
// finds the refresh already remembered instead of replaying the old
// refresh token. A change to those options starts a fresh state (cached
// answers from another backend or another response mapping would be
// wrong). Route, cookie and header options are per instance.
//
// The registry keeps at most maxSharedStates states; the oldest is dropped
// first (instances still holding it keep working, it is only no longer
// handed out). Nothing here starts a goroutine.

const maxSharedStates = 64

type sharedState struct {
	limiter     *rateLimiter // nil when rateLimit.enabled is false; budgets survive reloads
	backend     *backendClient
	validations *dedupCache // token hash → validation
	refreshes   *dedupCache // credential hash → refreshOutcome
}

var (
	statesMu   sync.Mutex // protects states and stateOrder
	states     = map[string]*sharedState{}
	stateOrder []string
)

func sharedStateFor(name string, c *Config, s *settings, limiter *rateLimiter) *sharedState {
	key := stateKey(name, c)
	statesMu.Lock()
	defer statesMu.Unlock()
	if st, ok := states[key]; ok {
		return st
	}
	st := &sharedState{
		limiter:     limiter,
		backend:     newBackendClient(s),
		validations: newDedupCache(s.cacheMax),
		refreshes:   newDedupCache(s.cacheMax),
	}
	if len(stateOrder) >= maxSharedStates {
		delete(states, stateOrder[0])
		stateOrder = stateOrder[1:]
	}
	states[key] = st
	stateOrder = append(stateOrder, key)
	return st
}

// stateKey identifies a state by middleware name and a hash of the
// backend-facing options (hashed: the guest password is among them).
func stateKey(name string, c *Config) string {
	raw, _ := json.Marshal([]interface{}{c.Backend, c.Responses, c.Guest, c.Cache, c.Refresh, c.RateLimit})
	sum := sha256.Sum256(append([]byte(name+"\x00"), raw...))
	return string(sum[:])
}

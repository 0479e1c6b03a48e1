package authbackend

import (
	"sync"
	"time"
)

// refreshOutcome classifies one refresh attempt.
type refreshOutcome int

const (
	refreshRotated  refreshOutcome = iota // a new pair was issued
	refreshReplayed                       // used again inside the grace window: same pair
	refreshReuse                          // used again after the grace window: family revoked
	refreshRevoked                        // the family was already revoked
)

// usedCredential remembers what a refresh credential was exchanged for.
type usedCredential struct {
	family  string
	usedAt  time.Time
	expires time.Time // the credential's own end of life: forgotten after
	pair    tokenPair
}

// sessions is the refresh bookkeeping: which credentials were already
// exchanged (rotation and reuse detection) and which token families are
// revoked. A family is one login: every token issued from it carries its id.
type sessions struct {
	mu        sync.Mutex                // protects the fields below
	used      map[string]usedCredential // by credential jti
	revoked   map[string]time.Time      // family -> when it can be forgotten
	lastPrune time.Time
}

func newSessions() *sessions {
	return &sessions{used: make(map[string]usedCredential), revoked: make(map[string]time.Time)}
}

// pruneEvery bounds how often the maps are swept for expired entries.
const pruneEvery = 10 * time.Second

// exchange applies the rotation rules to one refresh credential (jti of
// family, valid until expires). issue is called, under the lock, only when a
// new pair must be made; the lock makes concurrent exchanges of one
// credential deterministic: one rotates, the others replay its result.
func (s *sessions) exchange(now time.Time, jti, family string, expires time.Time, grace, forgetRevokedAfter time.Duration, issue func() (tokenPair, error)) (tokenPair, refreshOutcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(now)
	if _, ok := s.revoked[family]; ok {
		return tokenPair{}, refreshRevoked, nil
	}
	if u, ok := s.used[jti]; ok {
		if now.Sub(u.usedAt) <= grace {
			return u.pair, refreshReplayed, nil
		}
		// A replay after the grace window: the credential leaked, or a
		// client kept a stale copy. Either way nothing from this login can
		// be trusted any more.
		s.revoked[family] = now.Add(forgetRevokedAfter)
		return tokenPair{}, refreshReuse, nil
	}
	pair, err := issue()
	if err != nil {
		return tokenPair{}, refreshRotated, err
	}
	s.used[jti] = usedCredential{family: family, usedAt: now, expires: expires, pair: pair}
	return pair, refreshRotated, nil
}

// revoke revokes a family until now+forgetAfter, when every token of it has
// expired anyway.
func (s *sessions) revoke(now time.Time, family string, forgetAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[family] = now.Add(forgetAfter)
}

// isRevoked reports whether family is revoked.
func (s *sessions) isRevoked(family string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[family]
	return ok
}

// pruneLocked forgets used credentials past their expiry and revocations
// past every token of their family, at most once per pruneEvery. Both maps
// stay bounded by the number of live credentials.
func (s *sessions) pruneLocked(now time.Time) {
	if now.Sub(s.lastPrune) < pruneEvery {
		return
	}
	s.lastPrune = now
	for jti, u := range s.used {
		if now.After(u.expires) {
			delete(s.used, jti)
		}
	}
	for fam, until := range s.revoked {
		if now.After(until) {
			delete(s.revoked, fam)
		}
	}
}

// size returns the number of remembered credentials and revoked families.
func (s *sessions) size() (used, revoked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used), len(s.revoked)
}

package authlayer

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cluster"
	"github.com/authlayer/authlayer/internal/redis"
)

// One refresh per credential across replicas (cluster mode, cluster.go).
//
// Inside a replica, cache.Load already makes one refresh per credential
// (refreshflow.go); this makes that replica's refresh the only one in the
// cluster. It claims the credential in one script: a published result
// (<prefix>res:<hash>, sealed) is taken as is; else the lock
// (<prefix>lock:<hash>, SET NX PX cluster.refreshLease) is taken; else
// another replica holds it, and this one polls until its result appears.
//
// The holder renews its lease every third of it while the refresh runs, so
// a refresh slower than any lease is still one refresh (oauth2-proxy's
// #3456: a lock that expires under the work it protects lets a second
// replica replay the credential). When it is done it stores the result
// sealed under the old credential for refresh.graceWindow (at least
// minResultLife, so pollers read it) and then releases the lock, both in
// one round trip.
//
// A waiter never refreshes a credential another replica holds: if Redis
// fails while it waits, or the holder's lock disappears without a result
// (the holder died, or Redis restarted empty), the request gets the
// transient answer (cookies kept, retry later), never a replay that a
// rotating backend would punish by ending the session. Only when Redis
// cannot be reached before anything is known does the replica refresh on
// its own (per-process behaviour: across replicas, not coordinated).

// claimScript: the credential logged out (4, its mark's value), a result
// (1, sealed), the lock taken (2), or held (3). The logout mark is read
// here, in the same round trip, because the published logout may not have
// reached this replica's subscriber yet: a credential logged out a moment
// ago on another replica must never reach the backend again.
const claimScript = `local o = redis.call('GET', KEYS[3])
if o then return {4, o} end
local r = redis.call('GET', KEYS[1])
if r then return {1, r} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
return {3, ''}`

// renewScript extends the lock while its owner holds it, and takes it
// back when it is gone (Redis restarted empty, or paused past the lease):
// the refresh it protects is still running, and a lock left free would
// let another replica replay the credential.
const renewScript = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 2 or 0 end
return 0`

// releaseScript drops the lock if its owner still holds it.
const releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

const (
	claimResult    = 1
	claimTaken     = 2
	claimHeld      = 3
	claimLoggedOut = 4
)

// pollInterval is how often a waiting replica asks for the holder's result.
const pollInterval = 25 * time.Millisecond

// minResultLife keeps a published result readable by pollers however
// short refresh.graceWindow is.
const minResultLife = 2 * time.Second

// renewStep bounds one sleep of the renewing goroutine, so it ends soon
// after the refresh does.
const renewStep = 50 * time.Millisecond

// sharedRefresh is a refresh result as stored in Redis (sealed).
type sharedRefresh struct {
	Kind    int    `json:"k"`
	Access  string `json:"a,omitempty"`
	Refresh string `json:"r,omitempty"`
}

// clusterRefresh refreshes credential once for the cluster. ok is false
// when Redis could not be asked: the caller refreshes on its own.
func clusterRefresh(m *middleware, n *clusterNode, client, credential string) (refreshOutcome, bool) {
	if !clusterUsable(n) {
		return refreshOutcome{}, false
	}
	resKey, lockKey := clusterKey(n, "res", credential), clusterKey(n, "lock", credential)
	outKey := clusterKey(n, "out", credential)
	owner := leaseOwner()
	giveUp := time.Now().Add(n.lease + 2*m.s.backend.timeout + time.Second)
	for asked := false; ; asked = true {
		state, sealed, err := claimRefresh(n, resKey, lockKey, outKey, owner)
		if !clusterOK(n, err) {
			if !asked {
				return refreshOutcome{}, false
			}
			return refreshOutcome{kind: refreshTransient}, true
		}
		switch {
		case state == claimLoggedOut:
			applyRemoteLogout(n, clusterName(n, "out", credential), sealed)
			return refreshOutcome{kind: refreshFatal}, true
		case state == claimResult:
			return openSharedRefresh(m, n, client, resKey, sealed), true
		case state == claimTaken && asked:
			// The holder's lock is gone without a result: it died, or
			// Redis lost its keys (restarted empty). Its refresh may have
			// rotated the credential, so this replica does not replay it
			// now; the next request asks again.
			releaseLock(n, lockKey, owner)
			return refreshOutcome{kind: refreshTransient}, true
		case state == claimTaken:
			return refreshHolding(m, n, client, credential, resKey, lockKey, owner), true
		}
		if time.Now().After(giveUp) {
			return refreshOutcome{kind: refreshTransient}, true
		}
		time.Sleep(pollInterval)
	}
}

// claimRefresh runs claimScript.
func claimRefresh(n *clusterNode, resKey, lockKey, outKey, owner string) (int, string, error) {
	lease := strconv.FormatInt(n.lease.Milliseconds(), 10)
	v, err := redis.Do(n.client, clusterDeadline(), "EVAL", claimScript, "3", resKey, lockKey, outKey, owner, lease)
	if err != nil {
		return 0, "", err
	}
	if v.Kind != redis.KindArray || len(v.Array) != 2 {
		return 0, "", errUnexpectedReply
	}
	return int(v.Array[0].Int), v.Array[1].Str, nil
}

// refreshHolding refreshes while holding the lock, renewing it, then
// publishes the result and releases the lock.
func refreshHolding(m *middleware, n *clusterNode, client, credential, resKey, lockKey, owner string) refreshOutcome {
	r := &leaseRenewal{}
	go renewLease(n, lockKey, owner, r)
	out := refreshHere(m, client, credential)
	r.stop()
	publishRefresh(m, n, out, resKey, lockKey, owner)
	return out
}

// publishRefresh stores a definite result sealed under the old credential
// and releases the lock; a transient one only releases it (nothing was
// decided: the next attempt may take the lock).
func publishRefresh(m *middleware, n *clusterNode, out refreshOutcome, resKey, lockKey, owner string) {
	var cmds [][]string
	if out.kind != refreshTransient {
		life := refreshMemoTTL(m.s, out.kind)
		if life < minResultLife {
			life = minResultLife
		}
		plain, _ := json.Marshal(sharedRefresh{Kind: int(out.kind), Access: out.accessToken, Refresh: out.refreshToken})
		sealed := cluster.Seal(n.keys, plain, []byte(resKey))
		cmds = append(cmds, []string{"SET", resKey, string(sealed), "PX", strconv.FormatInt(life.Milliseconds(), 10)})
	}
	cmds = append(cmds, []string{"EVAL", releaseScript, "1", lockKey, owner})
	vals, err := redis.Pipeline(n.client, clusterDeadline(), cmds...)
	if err == nil {
		err = firstServerError(vals)
	}
	clusterOK(n, err)
}

// releaseLock drops the lock if owner still holds it.
func releaseLock(n *clusterNode, lockKey, owner string) {
	_, err := redis.Do(n.client, clusterDeadline(), "EVAL", releaseScript, "1", lockKey, owner)
	clusterOK(n, err)
}

// openSharedRefresh turns another replica's result into this request's
// outcome: a new access token is validated here like any other.
func openSharedRefresh(m *middleware, n *clusterNode, client, resKey, sealed string) refreshOutcome {
	plain, err := cluster.Open(n.keys, []byte(sealed), []byte(resKey))
	var shared sharedRefresh
	if err != nil || json.Unmarshal(plain, &shared) != nil {
		return refreshOutcome{kind: refreshTransient} // another secret, or damaged: decide nothing
	}
	kind := refreshKind(shared.Kind)
	if kind != refreshDone {
		if kind != refreshReuse {
			kind = refreshFatal
		}
		return refreshOutcome{kind: kind}
	}
	return refreshValidated(m, client, shared.Access, shared.Refresh)
}

// leaseRenewal tells the renewing goroutine to stop.
type leaseRenewal struct {
	mu   sync.Mutex
	done bool
}

func (r *leaseRenewal) stop() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
}

func (r *leaseRenewal) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// renewLease extends the lock every third of the lease until the refresh
// is done (no select: short sleeps, then a look at the flag). It ends
// within renewStep of stop.
func renewLease(n *clusterNode, lockKey, owner string, r *leaseRenewal) {
	every := n.lease / 3
	lease := strconv.FormatInt(n.lease.Milliseconds(), 10)
	next := time.Now().Add(every)
	for !r.stopped() {
		if time.Now().Before(next) {
			time.Sleep(renewStep)
			continue
		}
		_, err := redis.Do(n.client, clusterDeadline(), "EVAL", renewScript, "1", lockKey, owner, lease)
		clusterOK(n, err)
		next = time.Now().Add(every)
	}
}

// leaseOwner is a random value that identifies one holder of a lock.
func leaseOwner() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

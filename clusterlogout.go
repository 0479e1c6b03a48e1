package authlayer

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/cluster"
	"github.com/authlayer/authlayer/internal/redis"
)

// Logouts across replicas (cluster mode, cluster.go).
//
// A logout marks its tokens here first (revocation.go), then stores one key
// per token in Redis, <prefix>out:<hash> with the mark's life as TTL, and
// publishes "<out:hash> <until ms> <v|w>" on <prefix>logout. Every
// replica's subscriber (one goroutine per node, below) turns a message
// into a local mark: when it has seen the token (names: every token a
// replica looks up on a miss is indexed by its mark name), it marks it and
// drops every cache and memo entry of it, so even the hot path refuses it
// within the message's delivery; otherwise it keeps the name
// (remoteMarks) and the miss path refuses the token when it first comes.
//
// Messages published while a subscriber is not listening are lost
// (pub/sub has no history), so a subscriber that (re)subscribes reads the
// stored keys (SCAN) before it counts as synced; until then the miss path
// asks Redis for the key itself.
//
// The subscriber starts with the first miss and stops after node.idle
// without one (at least a minute, longer than cache.ttl and the refresh
// grace window): by then every cache and memo entry made before has
// expired, so the next miss, which starts it again, finds nothing stale.
// New starts nothing.

// subscriberState is a node's subscriber's state.
type subscriberState struct {
	mu       sync.Mutex
	running  bool
	closed   bool      // the node was dropped: the subscriber ends
	synced   bool      // subscribed and the stored marks read: remoteMarks is complete
	lastMiss time.Time // the last miss that needed the cluster
}

// logoutChannel is the pub/sub channel's name after the prefix.
const logoutChannel = "logout"

// subscriberRead bounds one wait for a message; subscriberSilence is how
// long the subscription may go without hearing anything (it pings while
// idle) before it counts as dead.
const (
	subscriberRead    = 400 * time.Millisecond
	subscriberSilence = 1500 * time.Millisecond
)

// maxScanRounds bounds the SCAN that reads the stored marks.
const maxScanRounds = 1000

// clusterLoggedOut reports whether the token named name (its "out" name)
// was logged out on another replica, and starts the subscriber. Called
// on the miss path only, after the local marks said no.
func clusterLoggedOut(n *clusterNode, name string) bool {
	if _, _, hit := cache.Lookup(n.remoteMarks, name); hit {
		return true
	}
	if subscriberSynced(n) || !clusterUsable(n) {
		return false
	}
	v, err := redis.Do(n.client, clusterDeadline(), "GET", redis.Key(n.client, name))
	if !clusterOK(n, err) || v.Kind != redis.KindBulk {
		return false
	}
	applyRemoteLogout(n, name, v.Str)
	return true
}

// clusterCredentialLoggedOut is clusterLoggedOut for a refresh
// credential (false without cluster mode); a credential not logged out is
// indexed, so a later logout elsewhere drops its remembered refresh here.
func clusterCredentialLoggedOut(n *clusterNode, credential string) bool {
	if n == nil {
		return false
	}
	name := clusterName(n, "out", credential)
	return clusterLoggedOut(n, name) || clusterIndex(n, name, credential)
}

// clusterIndex notes that token (named name) opened a session here, so a
// logout published elsewhere finds what this replica remembers of it. It
// then looks at the remote marks again: a message that arrived while the
// token was being validated found no index entry, so the mark is applied
// here (and true returned) instead of letting the session be remembered.
func clusterIndex(n *clusterNode, name, token string) bool {
	cache.Store(n.names, name, token, markLife(token, time.Time{}, 24*time.Hour), false)
	v, until, hit := cache.Lookup(n.remoteMarks, name)
	if !hit {
		return false
	}
	markLoggedOutFor(token, time.Until(time.Unix(0, until)), isVerifiedMark(v))
	return true
}

// clusterName is token's name of kind, without the prefix.
func clusterName(n *clusterNode, kind, token string) string {
	return cluster.Name(n.keys, kind, token)
}

// subscriberSynced notes a miss, starts the subscriber when it is not
// running, and reports whether it is synced.
func subscriberSynced(n *clusterNode) bool {
	st := &n.sub
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastMiss = time.Now()
	if !st.running && !st.closed {
		st.running = true
		go subscribeLoop(n)
	}
	return st.synced
}

// clusterMark is one token a logout marked.
type clusterMark struct {
	token    string
	life     time.Duration
	verified bool
}

// clusterPublishLogout stores and publishes the logout's marks, in one
// round trip. Best effort: the local marks are already set.
func clusterPublishLogout(n *clusterNode, marks []clusterMark) {
	if n == nil || len(marks) == 0 || !clusterUsable(n) {
		return
	}
	channel := redis.Key(n.client, logoutChannel)
	var cmds [][]string
	for _, mk := range marks {
		name := clusterName(n, "out", mk.token)
		until := strconv.FormatInt(time.Now().Add(mk.life).UnixMilli(), 10)
		tier := "w"
		if mk.verified {
			tier = "v"
		}
		value := until + " " + tier
		px := strconv.FormatInt(mk.life.Milliseconds()+1, 10)
		cmds = append(cmds, []string{"SET", redis.Key(n.client, name), value, "PX", px},
			[]string{"PUBLISH", channel, name + " " + value},
			[]string{"DEL", clusterKey(n, "val", mk.token)})
	}
	vals, err := redis.Pipeline(n.client, clusterDeadline(), cmds...)
	if err == nil {
		err = firstServerError(vals)
	}
	clusterOK(n, err)
}

// clusterUnmark drops the marks of tokens a login was just issued (a
// stateless backend can issue a logged-out token string again) on every
// replica: the stored keys go, and "<name> 0 u" tells the others.
func clusterUnmark(n *clusterNode, tokens ...string) {
	if n == nil || !clusterUsable(n) {
		return
	}
	channel := redis.Key(n.client, logoutChannel)
	var cmds [][]string
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		name := clusterName(n, "out", tok)
		cache.Delete(n.remoteMarks, name)
		cmds = append(cmds, []string{"DEL", redis.Key(n.client, name)}, []string{"PUBLISH", channel, name + " 0 u"})
	}
	if len(cmds) == 0 {
		return
	}
	vals, err := redis.Pipeline(n.client, clusterDeadline(), cmds...)
	if err == nil {
		err = firstServerError(vals)
	}
	clusterOK(n, err)
}

// firstServerError is the first error reply among vals, else nil.
func firstServerError(vals []redis.Value) error {
	for _, v := range vals {
		if err := redis.Err(v); err != nil {
			return err
		}
	}
	return nil
}

// applyRemoteLogout turns a published or stored mark into a local one.
// value is "<until ms> <v|w>", or "0 u" when a login reissued the token.
func applyRemoteLogout(n *clusterNode, name, value string) {
	if !strings.HasPrefix(name, "out:") {
		return
	}
	fields := strings.Fields(value)
	if len(fields) != 2 {
		return
	}
	if fields[1] == "u" { // a new login was issued this token again
		cache.Delete(n.remoteMarks, name)
		if tok, _, known := cache.Lookup(n.names, name); known {
			unmarkLoggedOut(tok.(string))
		}
		return
	}
	untilMs, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return
	}
	life := time.Until(time.UnixMilli(untilMs))
	if life <= 0 {
		return
	}
	if life > maxMarkLife {
		life = maxMarkLife
	}
	verified := fields[1] == "v"
	cache.Store(n.remoteMarks, name, verified, life, !verified)
	tok, _, known := cache.Lookup(n.names, name)
	if !known {
		return
	}
	token := tok.(string)
	markLoggedOutFor(token, life, verified)
	forgetEverywhere([]string{token})
}

// subscribeLoop is the node's subscriber: subscribe, read the stored
// marks, then apply messages as they come, pinging while idle so a paused
// server is noticed within subscriberSilence; on any failure, subscribe
// again after a backoff. It ends after node.idle without a miss.
func subscribeLoop(n *clusterNode) {
	var sub *redis.Subscription
	backoff := minBackoff
	heard := time.Now()
	for !subscriberIdle(n, sub) {
		if sub == nil {
			s, err := clusterSubscribe(n)
			if !clusterOK(n, err) {
				time.Sleep(backoff)
				backoff = nextBackoff(backoff)
				continue
			}
			// Separate assignments: Yaegi v0.16.1 mis-assigns a
			// multi-assignment that mixes a call with plain values.
			sub = s
			backoff = minBackoff
			heard = time.Now()
			setSynced(n, true)
		}
		channel, payload, err := redis.Next(sub, time.Now().Add(subscriberRead))
		switch {
		case err == nil:
			heard = time.Now()
			clusterOK(n, nil) // a pong or a message: Redis answers (and a recovery gets logged)
			if channel != "" {
				applyMessage(n, payload)
			}
		case errors.Is(err, redis.ErrNoMessage) && time.Since(heard) < subscriberSilence:
			if redis.Ping(sub, time.Now().Add(subscriberRead)) == nil {
				continue
			}
			sub = dropSubscription(n, sub, errors.New("redis: ping failed on the subscription"))
		default:
			if errors.Is(err, redis.ErrNoMessage) {
				err = errors.New("redis: the subscription went silent")
			}
			sub = dropSubscription(n, sub, err)
		}
	}
}

// dropSubscription closes a failed subscription: the node is no longer
// synced, and the failure degrades it.
func dropSubscription(n *clusterNode, sub *redis.Subscription, err error) *redis.Subscription {
	redis.CloseSubscription(sub)
	setSynced(n, false)
	n.sub.mu.Lock()
	closed := n.sub.closed
	n.sub.mu.Unlock()
	if !closed { // a dropped node's failures are nobody's concern
		clusterOK(n, err)
	}
	return nil
}

func nextBackoff(d time.Duration) time.Duration {
	if d*2 > maxBackoff {
		return maxBackoff
	}
	return d * 2
}

// applyMessage applies one published "<name> <until ms> <v|w>".
func applyMessage(n *clusterNode, payload string) {
	i := strings.IndexByte(payload, ' ')
	if i <= 0 {
		return
	}
	applyRemoteLogout(n, payload[:i], payload[i+1:])
}

// subscriberIdle stops the subscriber (closing sub) once node.idle has
// passed without a miss, and reports whether it did.
func subscriberIdle(n *clusterNode, sub *redis.Subscription) bool {
	st := &n.sub
	st.mu.Lock()
	defer st.mu.Unlock()
	if time.Since(st.lastMiss) < n.idle && !st.closed {
		return false
	}
	st.running, st.synced = false, false
	if sub != nil {
		redis.CloseSubscription(sub)
	}
	return true
}

func setSynced(n *clusterNode, synced bool) {
	n.sub.mu.Lock()
	n.sub.synced = synced
	n.sub.mu.Unlock()
}

// clusterSubscribe subscribes to the logout channel, then reads every
// stored mark: what was published before the subscription is learnt from
// the keys, what comes after from the channel.
func clusterSubscribe(n *clusterNode) (*redis.Subscription, error) {
	sub, err := redis.Subscribe(n.client, clusterDeadline(), redis.Key(n.client, logoutChannel))
	if err != nil {
		return nil, err
	}
	if err := loadStoredMarks(n); err != nil {
		redis.CloseSubscription(sub)
		return nil, err
	}
	return sub, nil
}

// loadStoredMarks applies every <prefix>out:* key (SCAN, then one GET
// pipeline per batch).
func loadStoredMarks(n *clusterNode) error {
	prefix := redis.Key(n.client, "")
	cursor := "0"
	for round := 0; round < maxScanRounds; round++ {
		v, err := redis.Do(n.client, clusterDeadline(), "SCAN", cursor, "MATCH", prefix+"out:*", "COUNT", "1000")
		if err != nil {
			return err
		}
		if v.Kind != redis.KindArray || len(v.Array) != 2 {
			return errors.New("redis: unexpected SCAN reply")
		}
		if err := applyStoredBatch(n, prefix, v.Array[1].Array); err != nil {
			return err
		}
		cursor = v.Array[0].Str
		if cursor == "0" {
			return nil
		}
	}
	return nil
}

func applyStoredBatch(n *clusterNode, prefix string, keys []redis.Value) error {
	if len(keys) == 0 {
		return nil
	}
	cmds := make([][]string, len(keys))
	for i, k := range keys {
		cmds[i] = []string{"GET", k.Str}
	}
	vals, err := redis.Pipeline(n.client, clusterDeadline(), cmds...)
	if err != nil {
		return err
	}
	for i, v := range vals {
		if v.Kind == redis.KindBulk {
			applyRemoteLogout(n, strings.TrimPrefix(keys[i].Str, prefix), v.Str)
		}
	}
	return nil
}

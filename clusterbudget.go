package authlayer

import (
	"strconv"
	"time"

	"github.com/authlayer/authlayer/internal/ratelimit"
	"github.com/authlayer/authlayer/internal/redis"
)

// Rate-limit budgets across replicas (cluster mode, cluster.go): each
// client's bucket of each budget is one Redis key,
// <prefix>rl<budget>:<hash of the client key>, holding the same GCRA
// "full again at" time as internal/ratelimit, spent by one script on
// Redis's own clock (replicas' clocks may differ). So with N replicas a
// client gets the configured budget, not N times it. When Redis cannot be
// asked, the replica's own buckets decide (per-process budgets) until it
// answers again.
//
// With rateLimit on, the request budget costs one round trip per request
// in cluster mode: it is the one piece of state the hot path shares.

// spendScript: KEYS[1] the bucket; ARGV interval, burst, cost and the
// least cost to grant, in microseconds (Lua numbers are doubles:
// nanoseconds since 1970 would lose precision), and ARGV[5] "peek" to
// spend nothing. It grants as much of cost as the bucket holds, if that
// is at least the least. Returns {granted 0|1, level µs, granted µs}.
const spendScript = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local burst = tonumber(ARGV[2])
if tat - now > burst then tat = now + burst end
local grant = math.min(tonumber(ARGV[3]), burst - (tat - now))
if grant < tonumber(ARGV[4]) then return {0, tat - now, 0} end
if ARGV[5] == 'peek' then return {1, tat - now, 0} end
local level = tat - now + grant
redis.call('SET', KEYS[1], string.format('%.0f', now + level), 'PX', math.ceil(level / 1000) + 1)
return {1, level, grant}`

// clusterSpend spends cost (nanoseconds of level) from client's budget b
// in Redis. ok is false when Redis could not decide: the caller spends
// locally.
//
// It is called under a cache's lock (spendBudget), so it never probes a
// degraded Redis: only a healthy node is asked, and the one call that
// finds Redis gone holds the lock for redis.readTimeout at most, once.
func clusterSpend(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string, cost int64) (ratelimit.Decision, bool) {
	if !clusterHealthy(n) {
		return ratelimit.Decision{}, false
	}
	now := time.Now().UnixNano()
	allowed, level, _, ok := clusterBucket(n, rl, b, client, cost, cost, "spend")
	if !ok {
		return ratelimit.Decision{}, false
	}
	return ratelimit.Decide(rl, b, allowed, level, cost, now), true
}

// clusterPeek reports whether one token of client's budget b is left in
// Redis, spending nothing.
func clusterPeek(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string) (allowed, ok bool) {
	interval, _ := ratelimit.Shape(rl, b)
	allowed, _, _, ok = clusterBucket(n, rl, b, client, interval, interval, "peek")
	return allowed, ok
}

// clusterBucket runs spendScript; level and granted are in nanoseconds.
func clusterBucket(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string, want, least int64, mode string) (allowed bool, level, granted int64, ok bool) {
	if !clusterUsable(n) {
		return false, 0, 0, false
	}
	interval, burst := ratelimit.Shape(rl, b)
	key := redis.Key(n.client, "rl"+strconv.Itoa(int(b))+":"+clusterName(n, "client", client)[len("client:"):])
	v, err := redis.Do(n.client, clusterDeadline(), "EVAL", spendScript, "1", key,
		micros(interval), micros(burst), micros(want), micros(least), mode)
	if err == nil && (v.Kind != redis.KindArray || len(v.Array) != 3) {
		err = errUnexpectedReply
	}
	if !clusterOK(n, err) {
		return false, 0, 0, false
	}
	us := int64(time.Microsecond)
	return v.Array[0].Int == 1, v.Array[1].Int * us, v.Array[2].Int * us, true
}

// The request budget in cluster mode is spent from reservations: a
// replica takes a share of a client's bucket from Redis at once (1/100 of
// the budget, at most reserveMax requests, at least one) and spends it
// locally, so a client with a large budget costs one round trip per share,
// not per request. The error this allows is bounded: at most one share
// per replica is reserved and not yet spent (3 replicas: 3% of the
// budget), and a share a client leaves unspent is lost to it (it was
// counted when taken). A small budget (100 requests) has shares of one:
// exact, a round trip per request.

// reserveMax bounds a share, in requests.
const reserveMax = 100

// reservation is what a replica holds of one client's request budget.
type reservation struct {
	left  int64 // nanoseconds of level reserved and not yet spent
	level int64 // the bucket's level in Redis after the last share (or at the refusal)
	at    int64 // when that share was taken, or the refusal made (unix ns)
	// refusedUntil: Redis refused a share; until then (when a token will
	// have dripped back) the replica refuses without asking again.
	refusedUntil int64
}

// maxReservations bounds the clients a node holds shares for; past it the
// shares are forgotten (their tokens were counted: nothing is given away).
const maxReservations = 100000

// clusterSpendRequest spends one request (cost) from client's request
// budget: from this replica's share when it holds enough, else from a new
// share. ok is false when Redis could not decide.
func clusterSpendRequest(n *clusterNode, rl *ratelimit.Limiter, client string, cost int64) (ratelimit.Decision, bool) {
	b := ratelimit.BudgetRequests
	n.reserveMu.Lock()
	r := n.reserved[client]
	if r != nil && r.left >= cost {
		r.left -= cost
		level := r.level - r.left
		at := r.at
		n.reserveMu.Unlock()
		return ratelimit.Decide(rl, b, true, level, cost, at), true
	}
	if r != nil && time.Now().UnixNano() < r.refusedUntil {
		level, at := r.level, r.at
		n.reserveMu.Unlock()
		return ratelimit.Decide(rl, b, false, level, cost, at), true
	}
	n.reserveMu.Unlock()
	interval, burst := ratelimit.Shape(rl, b)
	share := burst / 100
	if share > reserveMax*interval {
		share = reserveMax * interval
	}
	if share < cost {
		share = cost
	}
	now := time.Now().UnixNano()
	allowed, level, granted, ok := clusterBucket(n, rl, b, client, share, cost, "spend")
	if !ok {
		return ratelimit.Decision{}, false
	}
	r = &reservation{left: granted - cost, level: level, at: now}
	if !allowed {
		r.left = 0
		r.refusedUntil = now + level + cost - burst
	}
	n.reserveMu.Lock()
	if len(n.reserved) >= maxReservations {
		n.reserved = map[string]*reservation{}
	}
	n.reserved[client] = r
	n.reserveMu.Unlock()
	if !allowed {
		return ratelimit.Decide(rl, b, false, level, cost, now), true
	}
	return ratelimit.Decide(rl, b, true, level-(granted-cost), cost, now), true
}

// micros is d nanoseconds in whole microseconds (at least 1), as text.
func micros(ns int64) string {
	us := ns / int64(time.Microsecond)
	if us < 1 {
		us = 1
	}
	return strconv.FormatInt(us, 10)
}

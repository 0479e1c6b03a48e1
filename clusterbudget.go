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

// spendScript: KEYS[1] the bucket; ARGV interval, burst and cost in
// microseconds (Lua numbers are doubles: nanoseconds since 1970 would
// lose precision), and ARGV[4] "peek" to spend nothing. Returns
// {allowed 0|1, level µs}.
const spendScript = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local burst = tonumber(ARGV[2])
if tat - now > burst then tat = now + burst end
local level = tat - now + tonumber(ARGV[3])
if level > burst then return {0, tat - now} end
if ARGV[4] == 'peek' then return {1, tat - now} end
redis.call('SET', KEYS[1], string.format('%.0f', now + level), 'PX', math.ceil(level / 1000) + 1)
return {1, level}`

// clusterSpend spends cost (nanoseconds of level) from client's budget b
// in Redis. ok is false when Redis could not decide: the caller spends
// locally.
func clusterSpend(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string, cost int64) (ratelimit.Decision, bool) {
	now := time.Now().UnixNano()
	allowed, level, ok := clusterBucket(n, rl, b, client, cost, "spend")
	if !ok {
		return ratelimit.Decision{}, false
	}
	return ratelimit.Decide(rl, b, allowed, level, cost, now), true
}

// clusterPeek reports whether one token of client's budget b is left in
// Redis, spending nothing.
func clusterPeek(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string) (allowed, ok bool) {
	interval, _ := ratelimit.Shape(rl, b)
	allowed, _, ok = clusterBucket(n, rl, b, client, interval, "peek")
	return allowed, ok
}

// clusterBucket runs spendScript; level is in nanoseconds.
func clusterBucket(n *clusterNode, rl *ratelimit.Limiter, b ratelimit.Budget, client string, cost int64, mode string) (allowed bool, level int64, ok bool) {
	if !clusterUsable(n) {
		return false, 0, false
	}
	interval, burst := ratelimit.Shape(rl, b)
	key := redis.Key(n.client, "rl"+strconv.Itoa(int(b))+":"+clusterName(n, "client", client)[len("client:"):])
	v, err := redis.Do(n.client, clusterDeadline(), "EVAL", spendScript, "1", key,
		micros(interval), micros(burst), micros(cost), mode)
	if err == nil && (v.Kind != redis.KindArray || len(v.Array) != 2) {
		err = errUnexpectedReply
	}
	if clusterResult(n, err) != nil {
		return false, 0, false
	}
	return v.Array[0].Int == 1, v.Array[1].Int * int64(time.Microsecond), true
}

// micros is d nanoseconds in whole microseconds (at least 1), as text.
func micros(ns int64) string {
	us := ns / int64(time.Microsecond)
	if us < 1 {
		us = 1
	}
	return strconv.FormatInt(us, 10)
}

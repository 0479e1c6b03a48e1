package ratelimit

// Buckets kept elsewhere. In cluster mode the root package keeps each
// client's buckets in Redis (shared by every replica) with the same
// algorithm as Spend, and asks here for a budget's shape and for the
// Decision its answer means, so the headers and the 429 answers are the
// same whichever side decided.

// Shape is budget b's interval (one token) and burst (the deepest level),
// in nanoseconds.
func Shape(rl *Limiter, b Budget) (interval, burst int64) {
	return rl.intervals[b], rl.bursts[b]
}

// Decide is the Decision for a spend of cost from budget b that was
// allowed or not at level (the spent part after an allowed spend, before
// a refused one), all in nanoseconds, at t (unix nanoseconds).
func Decide(rl *Limiter, b Budget, allowed bool, level, cost, t int64) Decision {
	if !allowed {
		return refused(rl, b, level, cost, t)
	}
	return Decision{
		Allowed:      true,
		Limit:        rl.limits[b],
		Remaining:    int((rl.bursts[b] - level) / rl.intervals[b]),
		ResetSeconds: ceilSeconds(t + level),
	}
}

package authlayer

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate limiting per client key (see clientKey) with token buckets: each
// budget holds up to its size in tokens and refills continuously at size
// per window, so a client may burst to the size and then proceeds at the
// steady rate; the original's fixed window allowed twice the limit across
// a window boundary.
//
// A bucket is stored as one number, the time at which it will be full
// again ("theoretical arrival time", GCRA): level = fullAt - now is the
// spent part, in time. Taking a token adds one interval (window/size); a
// take is refused when that would push the level past size intervals.

// rateBudget names one of the per-client budgets.
type rateBudget int

const (
	// budgetRequests counts every request (except, by default, prefetches).
	budgetRequests rateBudget = iota
	// budgetGuestMints counts guest-token mints: a backend call each.
	budgetGuestMints
	// budgetRefreshes counts refreshes: a backend call each.
	budgetRefreshes
	// budgetUnknownTokens counts validations of tokens not in the cache:
	// a backend call each, and what a token-guessing client causes.
	budgetUnknownTokens
	// budgetLogins counts login attempts at endpoints.login: a backend
	// call each, and what a password-guessing client causes.
	budgetLogins
	budgetCount
)

// evictionSample is how many clients one insertion into a full map looks
// at. Map iteration starts at a random place, so this is a random sample;
// it keeps the work per insertion constant (a sweep of 100,000 entries
// under Yaegi would stall every request for tens of milliseconds).
const evictionSample = 8

// rateLimiter is nil when rate limiting is off; every function here
// accepts nil and allows everything.
//
// Memory is bounded by maxSources clients in total (not per budget): one
// entry per client holds all four budgets (about 100 bytes with its key),
// so the default 100,000 sources cost about 10 MB at most. When the map is
// full, a new client first evicts sampled clients whose buckets are all
// full again (idle: forgetting them loses nothing, a new entry starts
// full), and only if the sample has none, one arbitrary sampled client
// (whose budget restarts full: the limiter fails open for that one client
// rather than refusing new ones).
type rateLimiter struct {
	buckets *rateBuckets // shared by the instances of one session scope (state.go)

	limits    [budgetCount]int   // bucket sizes, for the headers
	intervals [budgetCount]int64 // nanoseconds per token
	bursts    [budgetCount]int64 // size * interval: the deepest level

	maxSources    int
	proxies       *proxyList
	countPrefetch bool
	limitValues   []string // X-RateLimit-Limit of the request budget, built once

	keys     sync.Map   // connection address (+ X-Forwarded-For) → client key
	keysMu   sync.Mutex // serialises stores into keys and keyCount
	keyCount int
}

// rateBuckets holds every client's buckets. It outlives configuration
// reloads that keep the backend (state.go): a reload must not hand every
// client a fresh budget.
type rateBuckets struct {
	mu      sync.Mutex            // protects clients
	clients map[string]*rateEntry // updated in place: no copy in and out per request
}

func newRateBuckets() *rateBuckets {
	return &rateBuckets{clients: map[string]*rateEntry{}}
}

// rateEntry is one client's buckets.
type rateEntry struct {
	fullAt [budgetCount]int64 // unix nanoseconds at which each bucket is full again
	idleAt int64              // the latest of fullAt: after it, the entry is worth nothing
}

// rateDecision is the outcome of one take. resetSeconds is the Unix time
// (in seconds, rounded up) at which the bucket is full again, as the
// original's X-RateLimit-Reset is an epoch time; retryAfterSeconds is set
// only when the take was refused (at least 1).
type rateDecision struct {
	allowed           bool
	limit, remaining  int
	resetSeconds      int
	retryAfterSeconds int
}

// newRateLimiter checks the rateLimit options; it returns (nil, nil) when
// rate limiting is off, without checking the rest.
func newRateLimiter(c RateLimitConfig) (*rateLimiter, error) {
	if !c.Enabled {
		return nil, nil
	}
	window, err := positiveDuration("rateLimit.window", c.Window)
	if err != nil {
		return nil, err
	}
	rl := &rateLimiter{buckets: newRateBuckets(), countPrefetch: c.CountPrefetch}
	sizes := []struct {
		option string
		budget rateBudget
		size   int
	}{
		{"rateLimit.requests", budgetRequests, c.Requests},
		{"rateLimit.guestMints", budgetGuestMints, c.GuestMints},
		{"rateLimit.refreshes", budgetRefreshes, c.Refreshes},
		{"rateLimit.unknownTokens", budgetUnknownTokens, c.UnknownTokens},
		{"rateLimit.logins", budgetLogins, c.Logins},
	}
	for _, s := range sizes {
		if err := setBudget(rl, s.option, s.budget, s.size, window); err != nil {
			return nil, err
		}
	}
	if c.MaxSources < 1 {
		return nil, optionError("rateLimit.maxSources", "must be at least 1, got %d", c.MaxSources)
	}
	rl.maxSources = c.MaxSources
	rl.limitValues = []string{strconv.Itoa(rl.limits[budgetRequests])}[:1:1]
	if rl.proxies, err = parseTrustedProxies("rateLimit.trustedProxies", c.TrustedProxies); err != nil {
		return nil, err
	}
	return rl, nil
}

func setBudget(rl *rateLimiter, option string, b rateBudget, size int, window time.Duration) error {
	if size < 1 {
		return optionError(option, "must be at least 1, got %d", size)
	}
	interval := int64(window) / int64(size)
	if interval < 1 {
		return optionError(option, "%d per %s is more than one per nanosecond", size, window)
	}
	rl.limits[b] = size
	rl.intervals[b] = interval
	// size*interval, not window: the integer division must not leave room
	// for one token more than size.
	rl.bursts[b] = int64(size) * interval
	return nil
}

// rateTake spends one token of budget b for key at now.
func rateTake(rl *rateLimiter, b rateBudget, key string, now time.Time) rateDecision {
	if rl == nil {
		return rateDecision{allowed: true}
	}
	return rateTakeCost(rl, b, key, now, rl.intervals[b])
}

// rateRequestAllowed is rateTakeCost for the request budget on the common
// path: when the take is allowed it writes the X-RateLimit-* headers
// itself and reports true, without building a rateDecision (under Yaegi
// every field and copy costs); when refused it changes nothing and the
// caller asks rateTakeCost for the refusal's details.
func rateRequestAllowed(rl *rateLimiter, h http.Header, key string, cost int64) bool {
	t := time.Now().UnixNano()
	bk := rl.buckets
	bk.mu.Lock()
	e := bk.clients[key]
	if e == nil {
		e = rateAddClient(rl, key, t)
	}
	level := e.fullAt[budgetRequests] - t
	if level < 0 {
		level = 0
	}
	if level+cost > rl.bursts[budgetRequests] {
		bk.mu.Unlock()
		return false
	}
	level += cost
	e.fullAt[budgetRequests] = t + level
	if t+level > e.idleAt {
		e.idleAt = t + level
	}
	bk.mu.Unlock()
	h["X-Ratelimit-Limit"] = rl.limitValues
	h["X-Ratelimit-Remaining"] = countValues(int((rl.bursts[budgetRequests] - level) / rl.intervals[budgetRequests]))
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt((t+level+int64(time.Second)-1)/int64(time.Second), 10)}
	return true
}

// rateWouldAllow reports whether one token of budget b is left for key,
// spending nothing: a check before work whose cost is charged only when
// it turns out to be the client's fault (a token refused locally).
func rateWouldAllow(rl *rateLimiter, b rateBudget, key string) bool {
	t := time.Now().UnixNano()
	bk := rl.buckets
	bk.mu.Lock()
	defer bk.mu.Unlock()
	e := bk.clients[key]
	if e == nil {
		return true
	}
	level := e.fullAt[b] - t
	return level+rl.intervals[b] <= rl.bursts[b]
}

// prefetchShare is the part of a request a prefetch costs: speculative
// requests are cheap to serve and browsers send many, but they are marked
// by client-chosen headers, so they can never skip the budget.
const prefetchShare = 4

// rateTakeCost spends cost (nanoseconds of bucket level; one token is one
// interval) of budget b for key at now.
func rateTakeCost(rl *rateLimiter, b rateBudget, key string, now time.Time, cost int64) rateDecision {
	t := now.UnixNano()
	burst := rl.bursts[b]
	bk := rl.buckets
	bk.mu.Lock()
	e := bk.clients[key]
	if e == nil {
		e = rateAddClient(rl, key, t)
	}
	level := e.fullAt[b] - t
	if level < 0 {
		level = 0
	} else if level > burst {
		// The wall clock went back: wait at most one interval, not the jump.
		level = burst
	}
	if level+cost > burst {
		bk.mu.Unlock()
		return rateRefused(rl, b, level, cost, t)
	}
	level += cost
	e.fullAt[b] = t + level
	if t+level > e.idleAt {
		e.idleAt = t + level
	}
	bk.mu.Unlock()
	return rateDecision{
		allowed:      true,
		limit:        rl.limits[b],
		remaining:    int((burst - level) / rl.intervals[b]),
		resetSeconds: ceilSeconds(t + level),
	}
}

func rateRefused(rl *rateLimiter, b rateBudget, level, cost, t int64) rateDecision {
	retry := ceilSeconds(level + cost - rl.bursts[b])
	if retry < 1 {
		retry = 1
	}
	return rateDecision{
		limit:             rl.limits[b],
		resetSeconds:      ceilSeconds(t + level),
		retryAfterSeconds: retry,
	}
}

// ceilSeconds converts nanoseconds to whole seconds, rounding up.
func ceilSeconds(ns int64) int {
	s := ns / int64(time.Second)
	if ns%int64(time.Second) > 0 {
		s++
	}
	return int(s)
}

// rateAddClient stores a new client's (full) entry, making room first, and
// returns it. The key is copied: it may be a slice of a huge
// X-Forwarded-For header, which the map must not keep alive. Called with
// the buckets' lock held.
func rateAddClient(rl *rateLimiter, key string, t int64) *rateEntry {
	if len(rl.buckets.clients) >= rl.maxSources {
		rateEvict(rl, t)
	}
	e := &rateEntry{}
	rl.buckets.clients[strings.Clone(key)] = e
	return e
}

// rateEvict frees room for one client: every idle client among a sample of
// evictionSample goes; if none was idle, the first busy one sampled does.
// Called with rl.mu held.
func rateEvict(rl *rateLimiter, t int64) {
	sampled, freed := 0, 0
	victim, haveVictim := "", false
	for k, e := range rl.buckets.clients {
		if e.idleAt <= t {
			delete(rl.buckets.clients, k)
			freed++
		} else if !haveVictim {
			victim, haveVictim = k, true
		}
		sampled++
		if sampled >= evictionSample {
			break
		}
	}
	if freed == 0 && haveVictim {
		delete(rl.buckets.clients, victim)
	}
}

// rateSources reports the number of clients tracked, for tests.
func rateSources(rl *rateLimiter) int {
	rl.buckets.mu.Lock()
	n := len(rl.buckets.clients)
	rl.buckets.mu.Unlock()
	return n
}

// rateLimitHeaders writes the original's X-RateLimit-* headers for a
// decision of budgetRequests (the other budgets are internal and not
// advertised).
func rateLimitHeaders(h http.Header, d rateDecision) {
	// Direct assignments under the canonical keys: Header.Set would
	// canonicalise each name again, one more call per header under Yaegi.
	// The small numbers come prebuilt (counts, shared read-only slices).
	h["X-Ratelimit-Limit"] = countValues(d.limit)
	h["X-Ratelimit-Remaining"] = countValues(d.remaining)
	h["X-Ratelimit-Reset"] = []string{strconv.Itoa(d.resetSeconds)}
}

// countValues is a one-value header slice for n, prebuilt for small n.
// Its capacity is its length: an append elsewhere copies it.
func countValues(n int) []string {
	if n >= 0 && n < len(smallCounts) {
		return smallCounts[n]
	}
	return []string{strconv.Itoa(n)}
}

// smallCounts are "0" … "1023" as header values.
var smallCounts = func() [][]string {
	out := make([][]string, 1024)
	for i := range out {
		out[i] = []string{strconv.Itoa(i)}[:1:1]
	}
	return out
}()

// writeRateLimited answers a refused request with the original's 429. The
// body is written by hand to keep the original's key order (json.Marshal
// of a map would sort the keys).
func writeRateLimited(rw http.ResponseWriter, d rateDecision) {
	retry := d.retryAfterSeconds
	if retry < 1 {
		retry = 1
	}
	retryText := strconv.Itoa(retry)
	h := rw.Header()
	rateLimitHeaders(h, d)
	h.Set("Retry-After", retryText)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(http.StatusTooManyRequests)
	_, _ = rw.Write([]byte(`{"success":false,"message":"Too many requests. Please try again later.","retryAfter":` + retryText + `}`))
}

// isPrefetch recognises speculative requests as the original does:
// Sec-Purpose containing "prefetch" (also "prefetch;prerender"), any
// Next-Router-Prefetch, and "prefetch" in Purpose, X-Purpose or X-Moz
// (older browsers). These are client-chosen headers: whatever skips
// counting on them must still count the budgets that cost backend calls.
func isPrefetch(req *http.Request) bool {
	h := req.Header
	if len(h["Next-Router-Prefetch"]) > 0 {
		return true
	}
	if v := h["Sec-Purpose"]; len(v) > 0 && strings.Contains(v[0], "prefetch") {
		return true
	}
	if len(h["Purpose"]) == 0 && len(h["X-Purpose"]) == 0 && len(h["X-Moz"]) == 0 {
		return false
	}
	return legacyPrefetch(h)
}

// legacyPrefetch reads the older browsers' headers, once one is present.
func legacyPrefetch(h http.Header) bool {
	for _, name := range []string{"Purpose", "X-Purpose", "X-Moz"} {
		if v := h[name]; len(v) > 0 && strings.EqualFold(strings.TrimSpace(v[0]), "prefetch") {
			return true
		}
	}
	return false
}

// rateClientKey is clientKey(clientIP(...)) with one parse, remembered per
// connection address (and X-Forwarded-For line, when proxies are
// trusted): a keep-alive connection sends many requests, and parsing the
// address costs several interpreted calls each time.
func rateClientKey(rl *rateLimiter, req *http.Request) string {
	if rl != nil && rl.proxies == nil {
		// The common case, kept to few locals (Yaegi allocates them all
		// on every call): the key depends on the peer alone.
		if k, ok := rl.keys.Load(req.RemoteAddr); ok {
			return k.(string)
		}
	}
	return rateClientKeyMiss(rl, req)
}

func rateClientKeyMiss(rl *rateLimiter, req *http.Request) string {
	if rl == nil {
		a, text := clientAddr(nil, req)
		return addrKey(a, text)
	}
	seen := req.RemoteAddr
	if rl.proxies != nil {
		xff := req.Header["X-Forwarded-For"]
		if len(xff) > 1 || (len(xff) == 1 && len(xff[0]) > maxKeyMemoXFF) {
			return parsedClientKey(rl, req)
		}
		if len(xff) == 1 {
			seen += "\n" + xff[0]
		}
		if k, ok := rl.keys.Load(seen); ok {
			return k.(string)
		}
	}
	k := parsedClientKey(rl, req)
	rememberClientKey(rl, seen, k)
	return k
}

func parsedClientKey(rl *rateLimiter, req *http.Request) string {
	a, text := clientAddr(rl.proxies, req)
	return strings.Clone(addrKey(a, text))
}

// maxKeyMemoXFF keeps long (often forged) X-Forwarded-For lines out of the
// key memo; maxKeyMemo bounds it (emptied when full).
const (
	maxKeyMemoXFF = 256
	maxKeyMemo    = 4096
)

func rememberClientKey(rl *rateLimiter, seen, key string) {
	rl.keysMu.Lock()
	if rl.keyCount >= maxKeyMemo {
		rl.keys.Range(func(k, _ interface{}) bool { rl.keys.Delete(k); return true })
		rl.keyCount = 0
	}
	if _, loaded := rl.keys.LoadOrStore(seen, key); !loaded {
		rl.keyCount++
	}
	rl.keysMu.Unlock()
}

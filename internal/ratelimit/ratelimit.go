// Package ratelimit limits requests per client with token buckets, keyed
// by the client's address behind trusted proxies (clientip.go). The
// request flow (the root package's rateflow.go) spends the request budget
// on every request and a backend budget before each backend call it
// makes; it reads the Limiter's exported fields directly (each call costs
// under Yaegi) and calls the functions here, which all take the Limiter
// as their first argument (plain functions: a method call costs more).
package ratelimit

import (
	"github.com/authlayer/authlayer/internal/opts"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate limiting per client key (see ClientKey) with token buckets: each
// budget holds up to its size in tokens and refills continuously at size
// per window, so a client may burst to the size and then proceeds at the
// steady rate; the original's fixed window allowed twice the limit across
// a window boundary.
//
// A bucket is stored as one number, the time at which it will be full
// again ("theoretical arrival time", GCRA): level = fullAt - now is the
// spent part, in time. Taking a token adds one interval (window/size); a
// take is refused when that would push the level past size intervals.

// Budget names one of the per-client budgets.
type Budget int

const (
	// BudgetRequests counts every request (except, by default, prefetches).
	BudgetRequests Budget = iota
	// BudgetGuestMints counts guest-token mints: a backend call each.
	BudgetGuestMints
	// BudgetRefreshes counts refreshes: a backend call each.
	BudgetRefreshes
	// BudgetUnknownTokens counts validations of tokens not in the cache:
	// a backend call each, and what a token-guessing client causes.
	BudgetUnknownTokens
	// BudgetLogins counts login attempts at endpoints.login: a backend
	// call each, and what a password-guessing client causes.
	BudgetLogins
	budgetCount
)

// evictionSample is how many clients one insertion into a full map looks
// at. Map iteration starts at a random place, so this is a random sample;
// it keeps the work per insertion constant (a sweep of 100,000 entries
// under Yaegi would stall every request for tens of milliseconds).
const evictionSample = 8

// Options are the rateLimit options, as the root package's compile step
// hands them over. Window is already checked (greater than zero; its
// errors name rateLimit.window there); Compile checks the rest.
type Options struct {
	Window time.Duration // the refill period of every budget
	// Bucket sizes per Window (rateLimit.requests, guestMints,
	// refreshes, unknownTokens, logins).
	Requests, GuestMints, Refreshes, UnknownTokens, Logins int

	MaxSources     int      // clients tracked at most
	TrustedProxies []string // CIDRs or IPs whose X-Forwarded-For is believed
	CountPrefetch  bool     // prefetches cost a whole request
}

// Limiter is one instance's rate limiter. A nil *Limiter means rate
// limiting is off: Spend, ClientKey and ClientIP accept it (everything is
// allowed, the client is the connection's peer).
//
// Memory is bounded by maxSources clients in total (not per budget): one
// entry per client holds all the budgets (about 100 bytes with its key),
// so the default 100,000 sources cost about 10 MB at most. When the map is
// full, a new client first evicts sampled clients whose buckets are all
// full again (idle: forgetting them loses nothing, a new entry starts
// full), and only if the sample has none, one arbitrary sampled client
// (whose budget restarts full: the limiter fails open for that one client
// rather than refusing new ones).
type Limiter struct {
	// RequestCost is what one request spends from BudgetRequests
	// (nanoseconds of bucket level: one token), for RequestAllowed.
	RequestCost int64
	// CountPrefetch is rateLimit.countPrefetch: prefetches cost a whole
	// request instead of a PrefetchShare of one.
	CountPrefetch bool
	// Buckets holds every client's buckets. Compile gives the limiter
	// its own; the root package replaces them with its session scope's
	// (shared by the instances of one middleware and backend, state.go)
	// before the first request.
	Buckets *Buckets

	limits    [budgetCount]int   // bucket sizes, for the headers
	intervals [budgetCount]int64 // nanoseconds per token
	bursts    [budgetCount]int64 // size * interval: the deepest level

	maxSources  int
	proxies     *proxyList
	limitValues []string // X-RateLimit-Limit of the request budget, built once

	keys     sync.Map   // connection address (+ X-Forwarded-For) → client key
	keysMu   sync.Mutex // serialises stores into keys and keyCount
	keyCount int
}

// Buckets holds every client's buckets. It outlives configuration
// reloads that keep the backend (the root's state.go): a reload must not
// hand every client a fresh budget.
type Buckets struct {
	mu      sync.Mutex        // protects clients
	clients map[string]*entry // updated in place: no copy in and out per request
}

// NewBuckets returns an empty set of buckets.
func NewBuckets() *Buckets {
	return &Buckets{clients: map[string]*entry{}}
}

// entry is one client's buckets.
type entry struct {
	fullAt [budgetCount]int64 // unix nanoseconds at which each bucket is full again
	idleAt int64              // the latest of fullAt: after it, the entry is worth nothing
}

// Decision is the outcome of one spend. ResetSeconds is the Unix time (in
// seconds, rounded up) at which the bucket is full again, as the
// original's X-RateLimit-Reset is an epoch time; RetryAfterSeconds is set
// only when the spend was refused (at least 1).
type Decision struct {
	Allowed           bool
	Limit, Remaining  int
	ResetSeconds      int
	RetryAfterSeconds int
}

// Compile checks the options (all but Window, see Options) and builds a
// limiter; an error names the option.
func Compile(o Options) (*Limiter, error) {
	rl := &Limiter{Buckets: NewBuckets(), CountPrefetch: o.CountPrefetch}
	sizes := []struct {
		option string
		budget Budget
		size   int
	}{
		{"rateLimit.requests", BudgetRequests, o.Requests},
		{"rateLimit.guestMints", BudgetGuestMints, o.GuestMints},
		{"rateLimit.refreshes", BudgetRefreshes, o.Refreshes},
		{"rateLimit.unknownTokens", BudgetUnknownTokens, o.UnknownTokens},
		{"rateLimit.logins", BudgetLogins, o.Logins},
	}
	for _, s := range sizes {
		if err := setBudget(rl, s.option, s.budget, s.size, o.Window); err != nil {
			return nil, err
		}
	}
	if o.MaxSources < 1 {
		return nil, opts.Error("rateLimit.maxSources", "must be at least 1, got %d", o.MaxSources)
	}
	rl.maxSources = o.MaxSources
	rl.RequestCost = rl.intervals[BudgetRequests]
	rl.limitValues = []string{strconv.Itoa(rl.limits[BudgetRequests])}[:1:1]
	var err error
	if rl.proxies, err = parseTrustedProxies("rateLimit.trustedProxies", o.TrustedProxies); err != nil {
		return nil, err
	}
	return rl, nil
}

func setBudget(rl *Limiter, option string, b Budget, size int, window time.Duration) error {
	if size < 1 {
		return opts.Error(option, "must be at least 1, got %d", size)
	}
	interval := int64(window) / int64(size)
	if interval < 1 {
		return opts.Error(option, "%d per %s is more than one per nanosecond", size, window)
	}
	rl.limits[b] = size
	rl.intervals[b] = interval
	// size*interval, not window: the integer division must not leave room
	// for one token more than size.
	rl.bursts[b] = int64(size) * interval
	return nil
}

// Spend spends one token of budget b for key at now. A nil limiter
// allows everything.
func Spend(rl *Limiter, b Budget, key string, now time.Time) Decision {
	if rl == nil {
		return Decision{Allowed: true}
	}
	return SpendCost(rl, b, key, now, rl.intervals[b])
}

// RequestAllowed is SpendCost for the request budget on the common path:
// when the spend is allowed it writes the X-RateLimit-* headers itself
// and reports true, without building a Decision (under Yaegi every field
// and copy costs); when refused it changes nothing and the caller asks
// SpendCost for the refusal's details.
func RequestAllowed(rl *Limiter, h http.Header, key string, cost int64) bool {
	t := time.Now().UnixNano()
	bk := rl.Buckets
	bk.mu.Lock()
	e := bk.clients[key]
	if e == nil {
		e = addClient(rl, key, t)
	}
	level := e.fullAt[BudgetRequests] - t
	if level < 0 {
		level = 0
	}
	if level+cost > rl.bursts[BudgetRequests] {
		bk.mu.Unlock()
		return false
	}
	level += cost
	e.fullAt[BudgetRequests] = t + level
	if t+level > e.idleAt {
		e.idleAt = t + level
	}
	bk.mu.Unlock()
	h["X-Ratelimit-Limit"] = rl.limitValues
	h["X-Ratelimit-Remaining"] = countValues(int((rl.bursts[BudgetRequests] - level) / rl.intervals[BudgetRequests]))
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt((t+level+int64(time.Second)-1)/int64(time.Second), 10)}
	return true
}

// WouldAllow reports whether one token of budget b is left for key,
// spending nothing: a check before work whose cost is charged only when
// it turns out to be the client's fault (a token refused locally).
func WouldAllow(rl *Limiter, b Budget, key string) bool {
	t := time.Now().UnixNano()
	bk := rl.Buckets
	bk.mu.Lock()
	defer bk.mu.Unlock()
	e := bk.clients[key]
	if e == nil {
		return true
	}
	level := e.fullAt[b] - t
	return level+rl.intervals[b] <= rl.bursts[b]
}

// PrefetchShare is the part of a request a prefetch costs: speculative
// requests are cheap to serve and browsers send many, but they are marked
// by client-chosen headers, so they can never skip the budget.
const PrefetchShare = 4

// SpendCost spends cost (nanoseconds of bucket level; one token is one
// interval) of budget b for key at now.
func SpendCost(rl *Limiter, b Budget, key string, now time.Time, cost int64) Decision {
	t := now.UnixNano()
	burst := rl.bursts[b]
	bk := rl.Buckets
	bk.mu.Lock()
	e := bk.clients[key]
	if e == nil {
		e = addClient(rl, key, t)
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
		return refused(rl, b, level, cost, t)
	}
	level += cost
	e.fullAt[b] = t + level
	if t+level > e.idleAt {
		e.idleAt = t + level
	}
	bk.mu.Unlock()
	return Decision{
		Allowed:      true,
		Limit:        rl.limits[b],
		Remaining:    int((burst - level) / rl.intervals[b]),
		ResetSeconds: ceilSeconds(t + level),
	}
}

func refused(rl *Limiter, b Budget, level, cost, t int64) Decision {
	retry := ceilSeconds(level + cost - rl.bursts[b])
	if retry < 1 {
		retry = 1
	}
	return Decision{
		Limit:             rl.limits[b],
		ResetSeconds:      ceilSeconds(t + level),
		RetryAfterSeconds: retry,
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

// addClient stores a new client's (full) entry, making room first, and
// returns it. The key is copied: it may be a slice of a huge
// X-Forwarded-For header, which the map must not keep alive. Called with
// the buckets' lock held.
func addClient(rl *Limiter, key string, t int64) *entry {
	if len(rl.Buckets.clients) >= rl.maxSources {
		evict(rl, t)
	}
	e := &entry{}
	rl.Buckets.clients[strings.Clone(key)] = e
	return e
}

// evict frees room for one client: every idle client among a sample of
// evictionSample goes; if none was idle, the first busy one sampled does.
// Called with the buckets' lock held.
func evict(rl *Limiter, t int64) {
	sampled, freed := 0, 0
	victim, haveVictim := "", false
	for k, e := range rl.Buckets.clients {
		if e.idleAt <= t {
			delete(rl.Buckets.clients, k)
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
		delete(rl.Buckets.clients, victim)
	}
}

// Headers writes the original's X-RateLimit-* headers for a decision of
// BudgetRequests (the other budgets are internal and not advertised).
func Headers(h http.Header, d Decision) {
	// Direct assignments under the canonical keys: Header.Set would
	// canonicalise each name again, one more call per header under Yaegi.
	// The small numbers come prebuilt (counts, shared read-only slices).
	h["X-Ratelimit-Limit"] = countValues(d.Limit)
	h["X-Ratelimit-Remaining"] = countValues(d.Remaining)
	h["X-Ratelimit-Reset"] = []string{strconv.Itoa(d.ResetSeconds)}
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

// WriteLimited answers a refused request with the original's 429 JSON.
// The body is written by hand to keep the original's key order
// (json.Marshal of a map would sort the keys).
func WriteLimited(rw http.ResponseWriter, d Decision) {
	retry := d.RetryAfterSeconds
	if retry < 1 {
		retry = 1
	}
	retryText := strconv.Itoa(retry)
	h := rw.Header()
	Headers(h, d)
	h.Set("Retry-After", retryText)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(http.StatusTooManyRequests)
	_, _ = rw.Write([]byte(`{"success":false,"message":"Too many requests. Please try again later.","retryAfter":` + retryText + `}`))
}

// IsPrefetch recognises speculative requests as the original does:
// Sec-Purpose containing "prefetch" (also "prefetch;prerender"), any
// Next-Router-Prefetch, and "prefetch" in Purpose, X-Purpose or X-Moz
// (older browsers). These are client-chosen headers: whatever skips
// counting on them must still count the budgets that cost backend calls.
func IsPrefetch(req *http.Request) bool {
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

// ClientKey is the client's rate-limit key, keyOf(ClientIP(...)) with one
// parse, remembered per connection address (and X-Forwarded-For line,
// when proxies are trusted): a keep-alive connection sends many requests,
// and parsing the address costs several interpreted calls each time. A
// nil limiter trusts no proxy (the key is the peer's).
func ClientKey(rl *Limiter, req *http.Request) string {
	if rl != nil && rl.proxies == nil {
		// The common case, kept to few locals (Yaegi allocates them all
		// on every call): the key depends on the peer alone.
		if k, ok := rl.keys.Load(req.RemoteAddr); ok {
			return k.(string)
		}
	}
	return clientKeyMiss(rl, req)
}

func clientKeyMiss(rl *Limiter, req *http.Request) string {
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

func parsedClientKey(rl *Limiter, req *http.Request) string {
	a, text := clientAddr(rl.proxies, req)
	return strings.Clone(addrKey(a, text))
}

// maxKeyMemoXFF keeps long (often forged) X-Forwarded-For lines out of the
// key memo; maxKeyMemo bounds it (emptied when full).
const (
	maxKeyMemoXFF = 256
	maxKeyMemo    = 4096
)

func rememberClientKey(rl *Limiter, seen, key string) {
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

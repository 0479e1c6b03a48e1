package authlayer

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/internal/cache"
	"github.com/authlayer/authlayer/internal/cluster"
	"github.com/authlayer/authlayer/internal/opts"
	"github.com/authlayer/authlayer/internal/redis"
)

// Cluster mode: several Traefik replicas share one session state through
// Redis. What each part shares lives in its own file:
//
//   - clusterlogout.go: logouts, published and kept with a TTL, so every
//     replica refuses a logged-out token within a second;
//   - clusterrefresh.go: one refresh per credential across replicas, under
//     a renewed lease, its result sealed under the old credential;
//   - clustervalidate.go: backend validations, sealed, for their lifetime;
//   - clusterbudget.go: rate-limit budgets, one bucket per client in Redis.
//
// Redis is an accelerator, never a new way to fail: every call has a
// deadline, and a failure makes the replica work on its own (today's
// per-process behaviour) until Redis answers again (clusterhealth below):
// one log line when it degrades, one when it recovers, a probe at most
// every second in between. The hot path (a remembered session,
// sessionmemo.go) never touches Redis.
//
// What Redis holds is not a credential store: every key names a token by a
// keyed hash (internal/cluster.Name), values that hold tokens are sealed
// (internal/cluster.Seal), everything has a TTL.

// clusterSettings are the compiled cluster options; nil when cluster mode
// is off.
type clusterSettings struct {
	redis  redis.Options
	keys   *cluster.Keys
	lease  time.Duration
	digest string // identifies the options (secret included, hashed) for the node registry
}

// compileCluster checks the cluster options. Nothing here touches the
// network: the Redis client dials on first use.
func compileCluster(c *Config, s *settings) error {
	cc := c.Cluster
	if len(cc.Redis.Endpoints) == 0 {
		return nil
	}
	keys, err := cluster.NewKeys(cc.Secret)
	if err != nil {
		return err
	}
	cs := &clusterSettings{keys: keys}
	if cs.lease, err = opts.PositiveDuration("cluster.refreshLease", cc.RefreshLease); err != nil {
		return err
	}
	if cs.redis, err = clusterRedisOptions(cc); err != nil {
		return err
	}
	if _, err := redis.New(cs.redis); err != nil {
		return opts.Error("cluster.redis", strings.TrimPrefix(err.Error(), "redis: "))
	}
	raw, _ := json.Marshal([]interface{}{cc, cs.redis.CAPEM, cs.redis.CertPEM})
	sum := sha256.Sum256(raw)
	cs.digest = string(sum[:])
	s.cluster = cs
	return nil
}

// clusterRedisOptions turns cluster.redis into the client's options.
func clusterRedisOptions(cc ClusterConfig) (redis.Options, error) {
	r := cc.Redis
	o := redis.Options{
		Addresses: r.Endpoints, Username: r.Username, Password: r.Password, DB: r.DB,
		PoolSize: r.PoolSize, KeyPrefix: cc.KeyPrefix, InsecureSkipVerify: r.TLS.InsecureSkipVerify,
	}
	var err error
	if o.DialTimeout, err = opts.PositiveDuration("cluster.redis.dialTimeout", r.DialTimeout); err != nil {
		return o, err
	}
	if o.ReadTimeout, err = opts.PositiveDuration("cluster.redis.readTimeout", r.ReadTimeout); err != nil {
		return o, err
	}
	if o.WriteTimeout, err = opts.PositiveDuration("cluster.redis.writeTimeout", r.WriteTimeout); err != nil {
		return o, err
	}
	if o.CAPEM, err = pemOption("cluster.redis.tls.ca", r.TLS.CA); err != nil {
		return o, err
	}
	if o.CertPEM, err = pemOption("cluster.redis.tls.cert", r.TLS.Cert); err != nil {
		return o, err
	}
	if o.KeyPEM, err = pemOption("cluster.redis.tls.key", r.TLS.Key); err != nil {
		return o, err
	}
	o.TLS = o.CAPEM != "" || o.CertPEM != "" || o.InsecureSkipVerify
	if cc.KeyPrefix == "" {
		return o, opts.Error("cluster.keyPrefix", "must not be empty: an ACL confines authlayer to it")
	}
	return o, nil
}

// pemOption reads a certificate option: inline PEM as is, else a file
// path (read once, here; never a network call).
func pemOption(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.HasPrefix(v, "-----BEGIN") {
		return v, nil
	}
	raw, err := os.ReadFile(v)
	if err != nil {
		return "", opts.Error(name, "cannot be read: "+err.Error())
	}
	return string(raw), nil
}

// clusterNode is one middleware's link to Redis, shared by its instances
// with the same cluster options (per process, across reloads).
type clusterNode struct {
	name   string
	client *redis.Client
	keys   *cluster.Keys
	lease  time.Duration
	idle   time.Duration // the subscriber stops after this long without a miss

	healthMu sync.Mutex
	degraded bool
	retryAt  time.Time // while degraded: when the next call may probe Redis
	backoff  time.Duration
	// announced: the degradation was logged and its recovery not yet.
	// Recovery is logged only after recoveryQuiet without a failure, so a
	// Redis that answers reads and refuses writes (out of memory) is one
	// degradation in the log, not one per read.
	announced   bool
	lastFailure time.Time

	sub subscriberState // clusterlogout.go

	// names maps a token's mark name to the token, for every token this
	// replica looked up: a logout published elsewhere names the hash
	// only, and this is how the replica finds what it remembers of it.
	names *cache.Dedup
	// remoteMarks holds mark names logged out elsewhere whose token this
	// replica has not seen yet: name → true until the token's end.
	remoteMarks *cache.Dedup

	reserveMu sync.Mutex
	reserved  map[string]*reservation // client key → its share of the request budget (clusterbudget.go)
}

// The limits of degradation: the first probe after a failure waits
// minBackoff, then twice as long each time, never more than maxBackoff
// (so Redis is used again within a second of returning).
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = time.Second
)

// recoveryQuiet is how long Redis must go without a failure before its
// recovery is logged (the subscriber's pings keep succeeding meanwhile,
// so the line comes within about a second and a half of the return).
const recoveryQuiet = time.Second

var (
	clusterNodesMu sync.Mutex
	clusterNodes   = map[string]*clusterNode{}
)

// clusterNodeFor returns the node for this middleware and cluster options,
// making it on first use (no network I/O: the client dials lazily).
func clusterNodeFor(name string, s *settings) *clusterNode {
	cs := s.cluster
	if cs == nil {
		return nil
	}
	key := name + "\x00" + cs.digest
	clusterNodesMu.Lock()
	defer clusterNodesMu.Unlock()
	if n, ok := clusterNodes[key]; ok {
		return n
	}
	client, err := redis.New(cs.redis)
	if err != nil {
		return nil // checked in compileCluster
	}
	idle := time.Minute
	for _, d := range []time.Duration{s.cacheTTL, s.refresh.graceWindow} {
		if d+time.Second > idle {
			idle = d + time.Second
		}
	}
	n := &clusterNode{
		name: name, client: client, keys: cs.keys, lease: cs.lease, idle: idle,
		names: cache.New(s.cacheMax), remoteMarks: cache.New(maxLoggedOutMarks),
		reserved: map[string]*reservation{},
	}
	if len(clusterNodes) >= maxSharedScopes {
		for k, old := range clusterNodes {
			delete(clusterNodes, k)
			closeClusterNode(old)
			break
		}
	}
	clusterNodes[key] = n
	return n
}

// closeClusterNode ends a node dropped from the registry: its subscriber
// stops within subscriberRead, its connections close. Instances still
// holding it go on without Redis (a closed client is unavailable).
func closeClusterNode(n *clusterNode) {
	n.sub.mu.Lock()
	n.sub.closed = true
	n.sub.mu.Unlock()
	redis.Close(n.client)
}

// clusterKey is the Redis key of kind for token: the prefix, then kind and
// the token's keyed hash.
func clusterKey(n *clusterNode, kind, token string) string {
	return redis.Key(n.client, clusterName(n, kind, token))
}

// clusterUsable reports whether a call to Redis may be tried now: always
// while healthy; while degraded, once per backoff (that call is the probe,
// the others go on without Redis).
func clusterUsable(n *clusterNode) bool {
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	if !n.degraded {
		return true
	}
	now := time.Now()
	if now.Before(n.retryAt) {
		return false
	}
	n.retryAt = now.Add(n.backoff)
	return true
}

// clusterHealthy reports whether the node is not degraded, without
// taking the probe a degraded node allows now and then.
func clusterHealthy(n *clusterNode) bool {
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	return !n.degraded
}

// clusterOK records how a call to Redis went and reports whether it
// succeeded: an error degrades the node (logged once), a success after
// errors restores it (logged once).
func clusterOK(n *clusterNode, err error) bool {
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	now := time.Now()
	if err == nil {
		n.degraded = false
		if n.announced && now.Sub(n.lastFailure) >= recoveryQuiet {
			n.announced = false
			log.Printf("authlayer: %s: cluster: redis back, state shared again", n.name)
		}
		return true
	}
	n.lastFailure = now
	if !n.announced {
		n.announced = true
		log.Printf("authlayer: %s: cluster: redis unavailable (%s), this replica works on its own until it returns", n.name, clusterCause(err))
	}
	if !n.degraded {
		n.degraded = true
		n.backoff = minBackoff
	} else if n.backoff < maxBackoff {
		n.backoff *= 2
		if n.backoff > maxBackoff {
			n.backoff = maxBackoff
		}
	}
	n.retryAt = now.Add(n.backoff)
	return false
}

// clusterCause names an error's class for the log; the client's errors
// never hold a password or a value.
func clusterCause(err error) string {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160]
	}
	return msg
}

// errUnexpectedReply is a reply of the wrong shape from Redis (another
// program's key under the prefix, or a proxy in between).
var errUnexpectedReply = errors.New("redis: unexpected reply")

// clusterDeadline bounds one exchange with Redis: the client's own read
// and write timeouts bound each step within it.
func clusterDeadline() time.Time {
	return time.Now().Add(2 * time.Second)
}

package benchtraefik

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authlayer/authlayer/internal/redis"
	"github.com/authlayer/authlayer/test/redisrun"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// Cluster mode in the real-Traefik bench (opt-in: BENCH_ROUTES=cluster or
// the route names). cluster-user is the cached-user route with cluster
// mode on: a remembered session makes no Redis round trip, so it should
// match "user" within the rig's noise. cluster-guards is the guards route
// with cluster mode on, where the request budget is spent in Redis once
// per request. Each is measured in the same rounds as the others; the
// Redis commands each route caused are counted (INFO stats, before and
// after each of its measurements) and reported per request.

// clusterWanted reports whether the run includes a cluster route.
func clusterWanted(k knobs) bool {
	if k.routes == nil {
		return false
	}
	for name := range k.routes {
		if strings.HasPrefix(name, "cluster") {
			return true
		}
	}
	return false
}

// clusterRoutes starts a redis-server and returns the cluster routes
// (copies of user and guards with the cluster options) and a client to
// count its commands.
func clusterRoutes(t *testing.T, all []*route) ([]*route, *redis.Client) {
	srv := redisrun.Start(t)
	c, err := redis.New(redis.Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redis.Close(c) })
	clusterOpts := m{"secret": strings.Repeat("s", 40), "redis": m{"endpoints": []string{srv.Addr()}}}
	var out []*route
	for _, r := range all {
		if r.name != "user" && r.name != "guards" {
			continue
		}
		twin := *r
		twin.name = "cluster-" + r.name
		twin.label = r.label + ", cluster mode (Redis)"
		opts := m{}
		for k, v := range r.mw["plugin"].(m)[traefikrun.PluginName].(m) {
			opts[k] = v
		}
		opts["cluster"] = clusterOpts
		twin.mw = authlayerMW(opts)
		twin.optIn, twin.cluster = true, true
		out = append(out, &twin)
	}
	return out, c
}

// redisCounts are Redis's command counters (INFO commandstats): every
// command processed, a script's own commands included, and the scripts.
type redisCounts struct{ commands, scripts int64 }

func (a redisCounts) minus(b redisCounts) redisCounts {
	return redisCounts{a.commands - b.commands, a.scripts - b.scripts}
}

// redisCount reads the counters; the INFO call itself is not counted (it
// is subtracted: one command each time).
func redisCount(t testing.TB, c *redis.Client) redisCounts {
	v, err := redis.Do(c, time.Now().Add(5*time.Second), "INFO", "commandstats")
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	var out redisCounts
	for _, line := range strings.Split(v.Str, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || name == "info" {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		out.commands += n
		if name == "eval" || name == "evalsha" {
			out.scripts += n
		}
	}
	return out
}

// clusterTable reports the Redis work per request of each cluster route
// and its speed against the same route without cluster mode, per round.
func clusterTable(rs []*route, results map[string][]measurement) string {
	var s strings.Builder
	for _, r := range rs {
		if !r.cluster {
			continue
		}
		if s.Len() == 0 {
			s.WriteString("\nCluster mode: Redis's own counters (INFO commandstats) over the timed part of every measurement of the route, per request (scripts are one round trip each; their own commands are counted in the commands column too), and the route's rps against the same route without cluster mode, per round:\n\n| route | Redis scripts / request | Redis commands / request | × the same route without cluster mode |\n|---|---|---|---|\n")
		}
		var n int64
		var total redisCounts
		for _, x := range results[r.name] {
			n += x.requests
			total.commands += x.redis.commands
			total.scripts += x.redis.scripts
		}
		base := strings.TrimPrefix(r.name, "cluster-")
		xs := []float64{}
		for i, x := range results[r.name] {
			if i < len(results[base]) {
				xs = append(xs, x.rps/results[base][i].rps)
			}
		}
		lo, hi := minMax(xs)
		fmt.Fprintf(&s, "| %s | %.3f | %.3f | %.2f (%.2f–%.2f) |\n", r.label,
			float64(total.scripts)/float64(max64(n, 1)), float64(total.commands)/float64(max64(n, 1)), median(xs), lo, hi)
	}
	return s.String()
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

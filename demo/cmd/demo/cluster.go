package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authlayer/authlayer/demo/authbackend"
	"github.com/authlayer/authlayer/demo/internal/devstack"
	"github.com/authlayer/authlayer/demo/roundrobin"
	"github.com/authlayer/authlayer/test/loader"
	"github.com/authlayer/authlayer/test/traefikrun"
)

// replicas is how many authlayer replicas the cluster demo runs.
const replicas = 2

// redisStartTimeout bounds the wait for redis-server to answer.
const redisStartTimeout = 10 * time.Second

// clusterInfo is where the cluster demo's parts listen, for the tests.
type clusterInfo struct {
	// Front is the round-robin front's base URL (http://127.0.0.1:8080).
	Front string
	// Replicas are the replicas' base URLs, replica 1 first.
	Replicas []string
	// Redis is the Redis server's address; RedisUser and RedisPassword
	// are authlayer's ACL user there.
	Redis, RedisUser, RedisPassword string
	// KeyPrefix is cluster.keyPrefix.
	KeyPrefix string
}

// runCluster runs the cluster demo and blocks until ctx is done or a part
// fails: a redis-server on loopback with an ACL user confined to the key
// prefix and a password made up for this run, the auth backend and the
// app, two authlayer replicas (Traefik binaries, else dev hosts) whose
// options are the compose file's (docker-compose.cluster.yml) with
// cluster.redis pointed at that Redis and a fresh cluster.secret, and on
// f.listen a round-robin front that sends each request to the next
// replica and says which in X-Demo-Replica. ready, if not nil, is called
// once everything serves.
func runCluster(ctx context.Context, f flags, logger *log.Logger, ready func(clusterInfo)) error {
	traefikBin, traefikSource, err := pickClusterFront(f)
	if err != nil {
		return err
	}
	redisBin, err := devstack.FindRedis(f.redisBin)
	if err != nil {
		return err
	}
	// Stopping: the Traefik replicas, then the servers (front, dev hosts,
	// backend, app), then Redis, so that no replica sees Redis go away
	// while it still serves; then the working directory goes.
	stack := &servers{errc: make(chan error, 8)}
	var stopTraefik, stopRedis func()
	var dir string
	defer func() {
		if stopTraefik != nil {
			stopTraefik()
		}
		stack.shutdown()
		if stopRedis != nil {
			stopRedis()
		}
		if dir != "" {
			os.RemoveAll(dir)
		}
	}()

	// The front's port first, as in run: the one a user chooses.
	frontLn, err := listenFront(ctx, f.listen, true)
	if err != nil {
		return err
	}
	frontOpen := true
	defer func() {
		if frontOpen {
			frontLn.Close()
		}
	}()
	backendLn, err := listenService(ctx, logger, "auth backend", "-backend", f.backend, f.backendSet)
	if err != nil {
		return err
	}
	appLn, err := listenService(ctx, logger, "app", "-app", f.app, f.appSet)
	if err != nil {
		backendLn.Close()
		return err
	}
	backendURL := &url.URL{Scheme: "http", Host: backendLn.Addr().String()}
	appURL := &url.URL{Scheme: "http", Host: appLn.Addr().String()}
	setup, err := devstack.LoadSetup(f.compose, backendURL.Host)
	if err == nil && setup.Option("cluster.redis.endpoints") == "" {
		err = fmt.Errorf("%s: the app's labels set no cluster.redis.endpoints: not a cluster configuration (docker-compose.cluster.yml is)", f.compose)
	}
	if err != nil {
		backendLn.Close()
		appLn.Close()
		return fmt.Errorf("%w (run from the demo directory, or pass -compose and -plugin)", err)
	}
	backendHandler, appHandler, err := buildServices(f, setup)
	if err != nil {
		backendLn.Close()
		appLn.Close()
		return err
	}
	stack.serve(backendLn, backendHandler)
	stack.serve(appLn, appHandler)

	if dir, err = os.MkdirTemp("", "authlayer-demo-cluster-"); err != nil {
		return err
	}

	// Redis on a free loopback port, with a password of this run's.
	info := clusterInfo{RedisUser: devstack.RedisUser, KeyPrefix: devstack.KeyPrefix}
	if u := setup.Option("cluster.redis.username"); u != "" {
		info.RedisUser = u
	}
	if p := setup.Option("cluster.keyPrefix"); p != "" {
		info.KeyPrefix = p
	}
	if info.Redis, err = freeLoopbackAddr(ctx); err != nil {
		return err
	}
	if info.RedisPassword, err = devstack.RandomSecret(24); err != nil {
		return err
	}
	clusterSecret, err := devstack.RandomSecret(32)
	if err != nil {
		return err
	}
	redisDir := filepath.Join(dir, "redis")
	if err := os.Mkdir(redisDir, 0o700); err != nil {
		return err
	}
	rd, err := devstack.WriteRedisConfig(redisDir, info.Redis, info.RedisUser, info.RedisPassword, info.KeyPrefix)
	if err != nil {
		return err
	}
	redisCtx, cancelRedis := context.WithCancel(context.Background())
	redisDone := make(chan struct{})
	stopRedis = func() { cancelRedis(); <-redisDone }
	go func() {
		defer close(redisDone)
		if err := devstack.RunRedis(redisCtx, redisBin, rd, prefixWriter("redis: ")); err != nil {
			stack.errc <- err
		}
	}()
	if err := devstack.WaitRedis(ctx, info.Redis, info.RedisUser, info.RedisPassword, redisStartTimeout, stack.errc); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	redisVersion, _ := devstack.RedisVersion(redisBin)

	// The replicas' options: the compose file's, with this Redis.
	if setup, err = setup.WithOptions(map[string]string{
		"cluster.redis.endpoints": info.Redis,
		"cluster.redis.username":  info.RedisUser,
		"cluster.redis.password":  info.RedisPassword,
		"cluster.secret":          clusterSecret,
	}); err != nil {
		return err
	}

	replicaURLs := make([]*url.URL, replicas)
	var replicaWhat string
	if traefikBin != "" {
		replicaWhat = "traefik binary at " + traefikBin + " (" + traefikSource + ")"
		traefikCtx, cancelTraefik := context.WithCancel(context.Background())
		var procs sync.WaitGroup
		stopTraefik = func() { cancelTraefik(); procs.Wait() }
		for i := range replicaURLs {
			addr, err := freeLoopbackAddr(ctx)
			if err != nil {
				return err
			}
			tdir := filepath.Join(dir, "traefik-"+strconv.Itoa(i+1))
			if err := os.Mkdir(tdir, 0o700); err != nil {
				return err
			}
			dirs, err := devstack.WriteTraefikConfig(tdir, addr, f.pluginRoot, setup.Options, appURL.String())
			if err != nil {
				return err
			}
			replicaURLs[i] = &url.URL{Scheme: "http", Host: addr}
			name := "traefik-" + strconv.Itoa(i+1) + ": "
			procs.Add(1)
			go func() {
				defer procs.Done()
				if err := devstack.RunTraefik(traefikCtx, traefikBin, dirs, prefixWriter(name)); err != nil {
					stack.errc <- fmt.Errorf("replica %s%w", name, err)
				}
			}()
		}
		for _, u := range replicaURLs {
			if err := waitServing(ctx, u.String()+"/", stack.errc); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	} else {
		why := "no traefik binary found"
		if f.front == "devhost" {
			why = "-front devhost"
		}
		replicaWhat = "dev host: authlayer interpreted by Yaegi v0.16.1, " + why
		start := time.Now()
		for i := range replicaURLs {
			// One interpreter each, so the replicas share nothing but
			// Redis: loader.Yaegi keeps one interpreter per source
			// directory (package-level state included), so each replica
			// interprets its own copy of the plugin, as each Traefik
			// process would.
			src := filepath.Join(dir, "replica-"+strconv.Itoa(i+1))
			if err := devstack.CopyPluginSource(f.pluginRoot, src); err != nil {
				return err
			}
			factory, err := loader.Yaegi(src)
			if err != nil {
				return fmt.Errorf("interpreting the plugin: %w", err)
			}
			host, err := devstack.NewDevHost(factory, setup.Options, appURL, log.New(os.Stderr, "replica-"+strconv.Itoa(i+1)+": ", log.LstdFlags))
			if err != nil {
				return fmt.Errorf("replica %d: %w", i+1, err)
			}
			ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			stack.serve(ln, host)
			replicaURLs[i] = &url.URL{Scheme: "http", Host: ln.Addr().String()}
		}
		logger.Printf("plugin interpreted twice in %s", time.Since(start).Round(time.Millisecond))
	}

	front, err := roundrobin.New(replicaURLs, log.New(os.Stderr, "front: ", log.LstdFlags))
	if err != nil {
		return err
	}
	stack.serve(frontLn, front) // the server closes it
	frontOpen = false
	info.Front = "http://" + frontLn.Addr().String()
	for _, u := range replicaURLs {
		info.Replicas = append(info.Replicas, u.String())
	}
	printClusterGuide(logger, f, info, setup, replicaWhat, redisVersion, rd, backendURL, appURL)
	if ready != nil {
		ready(info)
	}

	select {
	case <-ctx.Done():
		logger.Print("shutting down")
		return nil
	case err := <-stack.errc:
		return err
	}
}

// printClusterGuide says what runs where and what to try.
func printClusterGuide(logger *log.Logger, f flags, info clusterInfo, setup *devstack.Setup, replicaWhat, redisVersion string,
	rd devstack.RedisDirs, backendURL, appURL *url.URL,
) {
	front := browserURL(strings.TrimPrefix(info.Front, "http://"))
	direct := make([]string, len(info.Replicas))
	for i, r := range info.Replicas {
		direct[i] = browserURL(strings.TrimPrefix(r, "http://"))
	}
	if redisVersion != "" {
		redisVersion = " " + redisVersion
	}
	_, redisPort, _ := net.SplitHostPort(info.Redis)
	cli := fmt.Sprintf("REDISCLI_AUTH=$(cat %s) redis-cli -p %s --user %s --no-auth-warning", rd.Password, redisPort, info.RedisUser)
	var b strings.Builder
	fmt.Fprintf(&b, "cluster demo: %d authlayer replicas sharing one Redis (options from %s)\n", replicas, f.compose)
	fmt.Fprintf(&b, "  redis       %s  redis-server%s; ACL user %s, keys and channels %s* only, password made up for this run (in %s)\n",
		info.Redis, redisVersion, info.RedisUser, info.KeyPrefix, rd.Password)
	for i, d := range direct {
		fmt.Fprintf(&b, "  replica %d   %s  %s\n", i+1, d, replicaWhat)
	}
	fmt.Fprintf(&b, "  backend     %s  auth backend (EdDSA tokens, kid %s, access tokens live %s); app %s; both shared by the replicas\n",
		backendURL, authbackend.KeyID(setup.SigningKey.Public().(ed25519.PublicKey)), f.accessTTL, appURL)
	fmt.Fprintf(&b, "  front       %s  round robin: replica 1, 2, 1, ... per request; each answer says which in %s\n", front, roundrobin.Header)
	fmt.Fprintf(&b, "try it:\n")
	fmt.Fprintf(&b, "  open %s and sign in as alice/alice (or admin/admin); every page and refresh may land on either replica\n", front)
	fmt.Fprintf(&b, "  curl -sI %s/ | grep -i %s          # run it twice: 1, then 2\n", front, roundrobin.Header)
	fmt.Fprintf(&b, "  curl -s -c jar -H 'Origin: %s' -d username=alice -d password=alice -o /dev/null %s/auth/login\n", front, front)
	fmt.Fprintf(&b, "  cp jar jar.copy; curl -s -b jar %s/api/me; curl -s -b jar %s/api/me   # one login, valid on both replicas\n", direct[0], direct[1])
	fmt.Fprintf(&b, "  curl -s -b jar -H 'Origin: %s' -X POST -o /dev/null %s/auth/logout       # log out on replica 1\n", direct[0], direct[0])
	fmt.Fprintf(&b, "  curl -s -b jar.copy %s/api/me                # replica 2 refuses the copied cookies at once (401)\n", direct[1])
	fmt.Fprintf(&b, "  %s --scan   # keys: %s + kind + keyed hash, never a token\n", cli, info.KeyPrefix)
	fmt.Fprintf(&b, "Ctrl-C stops everything")
	for _, line := range strings.Split(b.String(), "\n") {
		logger.Print(line)
	}
}

// pickClusterFront returns the traefik binary the replicas run and where
// it was found, or "" for dev hosts: -traefik, else $TRAEFIK_BIN, else
// traefik on PATH, else the binary ../shared/tools/build-traefik left in
// its cache (traefikrun.FindBinary).
func pickClusterFront(f flags) (bin, source string, err error) {
	switch f.front {
	case "devhost":
		return "", "", nil
	case "auto", "traefik":
	default:
		return "", "", fmt.Errorf("-front %q: want auto, traefik or devhost", f.front)
	}
	if f.traefikBin != "" {
		return absPath(f.traefikBin), "-traefik", nil
	}
	p, source, why := traefikrun.FindBinary()
	if p == "" {
		if f.front == "traefik" {
			return "", "", errors.New("-front traefik: " + why)
		}
		return "", "", nil
	}
	return absPath(p), source, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address nobody listens on right
// now, for a process that binds it itself (Redis, Traefik).
func freeLoopbackAddr(ctx context.Context) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

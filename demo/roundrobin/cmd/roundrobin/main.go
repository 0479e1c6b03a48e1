// Command roundrobin runs the cluster demo's front (package roundrobin):
// each request goes to the next replica in turn, and the answer says which
// in X-Demo-Replica. docker-compose.cluster.yml runs it in front of its two
// Traefik replicas.
//
//	roundrobin -addr :8080 -replicas http://traefik-1:8080,http://traefik-2:8080
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/authlayer/authlayer/demo/roundrobin"
)

func main() {
	addr := flag.String("addr", envOr("FRONT_ADDR", ":8080"), "listen address [FRONT_ADDR]")
	list := flag.String("replicas", os.Getenv("FRONT_REPLICAS"), "comma-separated replica base URLs, in order [FRONT_REPLICAS]")
	flag.Parse()
	logger := log.New(os.Stderr, "front: ", log.LstdFlags)
	replicas, err := roundrobin.ParseReplicas(*list)
	if err != nil {
		logger.Fatalf("-replicas: %v", err)
	}
	handler, err := roundrobin.New(replicas, logger)
	if err != nil {
		logger.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Printf("listening on %s, round robin over %d replicas (%s says which answered)", *addr, len(replicas), roundrobin.Header)
	select {
	case err := <-errc:
		logger.Fatal(err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

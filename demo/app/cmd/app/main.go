// Command app runs the demo web app. Put it behind authlayer: on its own
// it sees no identity headers and treats everyone as anonymous.
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

	"github.com/authlayer/authlayer/demo/app"
)

func main() {
	addr := flag.String("addr", envOr("APP_ADDR", ":9002"), "listen address [APP_ADDR]")
	flag.Parse()
	logger := log.New(os.Stderr, "app: ", log.LstdFlags)
	handler, err := app.New(app.Options{Logger: logger})
	if err != nil {
		logger.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	logger.Printf("listening on %s", *addr)
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

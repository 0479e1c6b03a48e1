// Package emptyplugin is the smallest Traefik middleware plugin: it passes
// every request on. Loaded by Traefik next to authlayer, it measures the
// floor any interpreted (Yaegi) plugin pays.
package emptyplugin

import (
	"context"
	"net/http"
)

// Config is empty.
type Config struct{}

// CreateConfig returns the empty configuration.
func CreateConfig() *Config { return &Config{} }

type passThrough struct{ next http.Handler }

// New returns a handler that calls next.
func New(_ context.Context, next http.Handler, _ *Config, _ string) (http.Handler, error) {
	return &passThrough{next: next}, nil
}

func (p *passThrough) ServeHTTP(rw http.ResponseWriter, req *http.Request) { p.next.ServeHTTP(rw, req) }

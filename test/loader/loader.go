// Package loader builds authlayer middlewares the way Traefik v3 does:
// options decoded by mapstructure (Traefik's pinned version and settings)
// into CreateConfig's result, then New. Compiled uses the compiled package;
// Yaegi interprets the plugin's source with Yaegi v0.16.1, as Traefik does.
package loader

import (
	"context"
	"fmt"
	"net/http"

	"github.com/authlayer/authlayer"
	"github.com/mitchellh/mapstructure"
)

// Factory builds one middleware instance from a raw option map (the shape
// Traefik hands a plugin), the next handler and the middleware name.
type Factory func(options map[string]interface{}, next http.Handler, name string) (http.Handler, error)

// Compiled returns a Factory that uses the compiled plugin package.
func Compiled() Factory {
	return func(options map[string]interface{}, next http.Handler, name string) (http.Handler, error) {
		cfg := authlayer.CreateConfig()
		if err := Decode(options, cfg); err != nil {
			return nil, err
		}
		return authlayer.New(context.Background(), next, cfg, name)
	}
}

// Decode decodes a raw option map into target exactly as Traefik decodes a
// plugin's configuration. An empty map leaves target untouched, as in Traefik.
func Decode(options map[string]interface{}, target interface{}) error {
	if len(options) == 0 {
		return nil
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           target,
	})
	if err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	return dec.Decode(options)
}

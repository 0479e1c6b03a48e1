package contract

import (
	"sync"

	"github.com/authlayer/authlayer/test/loader"
)

var (
	yaegiOnce sync.Once
	yaegiF    loader.Factory
	yaegiErr  error
)

// yaegiFactory interprets the plugin (the repository root) with Yaegi,
// as Traefik does, once per test process.
func yaegiFactory() (loader.Factory, error) {
	yaegiOnce.Do(func() { yaegiF, yaegiErr = loader.Yaegi("../..") })
	return yaegiF, yaegiErr
}

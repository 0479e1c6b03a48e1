// Command traefikbin prints the Traefik binary `make e2e` would use, found
// exactly as the e2e tests find it (traefikrun.FindBinary: $TRAEFIK_BIN,
// else traefik on PATH, else the build-traefik cache), and where it was
// found. Without one it prints why on stderr and exits 1: the e2e tests
// would skip. .ci/run asks it before saying whether they run.
//
//	cd test && go run ./cmd/traefikbin
package main

import (
	"fmt"
	"os"

	"github.com/authlayer/authlayer/test/traefikrun"
)

func main() {
	path, source, why := traefikrun.FindBinary()
	if path == "" {
		fmt.Fprintln(os.Stderr, why)
		os.Exit(1)
	}
	fmt.Printf("%s\t%s\n", path, source)
}

#!/usr/bin/env bash
# Runs the plugin package's own tests (the *_test.go files at the
# repository root) inside the Yaegi interpreter, version v0.16.1 — the
# version Traefik v2.11+ and v3 embed — so that code Yaegi mis-runs fails
# here instead of in Traefik.
#
# Usage: scripts/yaegi-test.sh [yaegi test flags]   (default: -v)
#   e.g. scripts/yaegi-test.sh -run 'TestRoutes' -v
#        scripts/yaegi-test.sh -bench . -run '^$'
#
# How: the yaegi CLI is built from the nested test module (test/go.mod pins
# github.com/traefik/yaegi at v0.16.1; the script checks it), a temporary
# GOPATH gets src/<module path> as a symlink to the repository root, and
# `yaegi test <module path>` runs with that GOPATH. Yaegi reads only the
# root directory's .go files (sub-directories such as test/ and demo/ are
# not part of the package).
#
# Caveat (checked on Yaegi v0.16.1): `package <pkg>_test` files do run,
# but Yaegi merges them into the package under test: they see unexported
# names, a top-level name declared in both silently overrides the other,
# and their import of the package loads a second copy with its own
# package-level state. Keep root tests in the package itself.
set -euo pipefail

want_version=v0.16.1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module=$(awk '$1 == "module" { print $2; exit }' "$repo/go.mod")
if [[ -z "$module" ]]; then
	echo "yaegi-test: no module line in $repo/go.mod" >&2
	exit 2
fi

pinned=$(cd "$repo/test" && go list -m -f '{{.Version}}' github.com/traefik/yaegi)
if [[ "$pinned" != "$want_version" ]]; then
	echo "yaegi-test: test/go.mod pins yaegi $pinned, want $want_version" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$repo/test" && go build -o "$tmp/yaegi" github.com/traefik/yaegi/cmd/yaegi)

mkdir -p "$tmp/gopath/src/$(dirname "$module")"
ln -s "$repo" "$tmp/gopath/src/$module"

if [[ $# -eq 0 ]]; then
	set -- -v
fi

cd "$tmp"
echo "yaegi-test: yaegi $want_version test $* $module" >&2
GOPATH="$tmp/gopath" GO111MODULE=off "$tmp/yaegi" test "$@" "$module"

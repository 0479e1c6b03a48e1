#!/usr/bin/env bash
# Runs the plugin's own tests — the root package's and those of every
# package under it (internal/...), the packages `go list ./...` lists at
# the repository root — inside the Yaegi interpreter, version v0.16.1 (the
# version Traefik v2.11+ and v3 embed), so that code Yaegi mis-runs fails
# here instead of in Traefik. Each package runs in its own `yaegi test`;
# the script fails if any of them fails, and names them.
#
# Usage: scripts/yaegi-test.sh [./pkg ...] [yaegi test flags]   (default: -v)
#   e.g. scripts/yaegi-test.sh -run 'TestRoutes' -v
#        scripts/yaegi-test.sh ./internal/jsonpath -run TestParse
#        scripts/yaegi-test.sh . -bench . -run '^$'
# Arguments starting with "./" (or a lone ".") are package patterns for
# `go list` (./internal/..., ./internal/jsonpath, .); without one every
# package with test files runs. The other arguments go to each `yaegi test`.
#
# How: the yaegi CLI is built from the nested test module (test/go.mod pins
# github.com/traefik/yaegi at v0.16.1; the script checks it), a temporary
# GOPATH gets src/<module path> as a symlink to the repository root, and
# `yaegi test <import path>` runs with that GOPATH for each package. Nested
# modules (test/, demo/, ...) are not packages of the root module and are
# not run.
#
# Caveat (checked on Yaegi v0.16.1): `package <pkg>_test` files do run,
# but Yaegi merges them into the package under test: they see unexported
# names, a top-level name declared in both silently overrides the other,
# and their import of the package loads a second copy with its own
# package-level state. Keep tests in the package itself (CONTRIBUTING.md).
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

patterns=()
flags=()
for a in "$@"; do
	if [[ "$a" == . || "$a" == ./* ]]; then
		patterns+=("$a")
	else
		flags+=("$a")
	fi
done
if [[ ${#patterns[@]} -eq 0 ]]; then
	patterns=(./...)
fi
if [[ ${#flags[@]} -eq 0 ]]; then
	flags=(-v)
fi

# The packages with test files, in `go list` order (the root first). -e:
# a package that does not compile is still listed, and fails its run.
mapfile -t pkgs < <(cd "$repo" && go list -e -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${patterns[@]}" | sed '/^$/d')
if [[ ${#pkgs[@]} -eq 0 ]]; then
	echo "yaegi-test: no package with test files in ${patterns[*]}" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$repo/test" && go build -o "$tmp/yaegi" github.com/traefik/yaegi/cmd/yaegi)

mkdir -p "$tmp/gopath/src/$(dirname "$module")"
ln -s "$repo" "$tmp/gopath/src/$module"

cd "$tmp"
failed=()
for pkg in "${pkgs[@]}"; do
	echo "yaegi-test: yaegi $want_version test ${flags[*]} $pkg" >&2
	if ! GOPATH="$tmp/gopath" GO111MODULE=off "$tmp/yaegi" test "${flags[@]}" "$pkg"; then
		failed+=("$pkg")
	fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "yaegi-test: FAIL under Yaegi $want_version: ${failed[*]}" >&2
	exit 1
fi
echo "yaegi-test: ok under Yaegi $want_version: ${pkgs[*]}" >&2

#!/bin/sh
# layout.sh lays out peer JWT plugins, fetched by whoever runs the bench,
# as Traefik's plugins-local, for `make bench-traefik` with BENCH_PEERS
# (BENCHMARKS.md, "Peer plugins"). It holds none of their code.
#
# usage: layout.sh DEST SRC[@REV]...
#
#   DEST  the directory to pass as BENCH_PEERS: each peer goes to
#         DEST/src/<module path>/ (the module path its go.mod names), and a
#         line "<module path> <revision> <commit>" to DEST/peers.txt.
#   SRC   a git directory (a bare repository, a clone's .git, or a clone)
#         or a directory holding the plugin's sources (go.mod at its top).
#   REV   the tag or commit to lay out from a git SRC; by default the
#         version the bench's options were written for (peerPlugins in
#         peers_test.go), known for the four peers below.
#
# Example, with clones of the four repositories:
#   test/benchtraefik/peers/layout.sh /tmp/peers ~/src/jwt-validation-middleware \
#     ~/src/traefik-jwt-plugin ~/src/agilezebra-jwt-middleware ~/src/23deg-jwt-middleware
set -eu

# pinned prints the revisions to try, in order, for a module path.
pinned() {
	case "$1" in
	github.com/legege/jwt-validation-middleware) echo v0.2.1 ;;
	github.com/traefik-plugins/traefik-jwt-plugin) echo v0.10.0 ;;
	# The catalog's v1.4.1-1; a snapshot may only hold the tag v1.4.1
	# (whose plugin sources are those of the later commits too).
	github.com/agilezebra/jwt-middleware) echo v1.4.1-1 v1.4.1 ;;
	github.com/23deg/jwt-middleware) echo v0.1.3 ;;
	*) echo HEAD ;;
	esac
}

die() {
	echo "layout.sh: $*" >&2
	exit 1
}

# modulepath prints the module path of a go.mod read on stdin.
modulepath() {
	sed -n 's/^module[[:space:]][[:space:]]*\([^[:space:]]*\).*/\1/p' | head -n 1
}

[ $# -ge 2 ] || die "usage: layout.sh DEST SRC[@REV]..."
dest=$1
shift
mkdir -p "$dest/src"
touch "$dest/peers.txt"

for arg in "$@"; do
	src=${arg%@*}
	rev=
	[ "$src" = "$arg" ] || rev=${arg##*@}
	gitdir=
	if [ -d "$src/.git" ]; then
		gitdir=$src/.git
	elif git --git-dir="$src" rev-parse --git-dir >/dev/null 2>&1; then
		gitdir=$src
	fi
	if [ -n "$gitdir" ]; then
		if [ -z "$rev" ]; then
			# The module path at HEAD names the pinned revisions.
			mod=$(git --git-dir="$gitdir" show HEAD:go.mod | modulepath)
			for c in $(pinned "$mod"); do
				if git --git-dir="$gitdir" rev-parse -q --verify "$c^{commit}" >/dev/null; then
					rev=$c
					break
				fi
			done
			[ -n "$rev" ] || die "$src: none of $(pinned "$mod") is there"
		fi
		mod=$(git --git-dir="$gitdir" show "$rev:go.mod" | modulepath)
		commit=$(git --git-dir="$gitdir" rev-parse "$rev^{commit}")
	else
		[ -f "$src/go.mod" ] || die "$src: neither a git directory nor a directory with a go.mod"
		mod=$(modulepath <"$src/go.mod")
		commit=-
		[ -n "$rev" ] || rev=unknown
	fi
	case "$mod" in
	"" | *..* | /* | *[!A-Za-z0-9._/~-]*) die "$src: bad module path '$mod'" ;;
	esac
	out=$dest/src/$mod
	rm -rf "$out"
	mkdir -p "$out"
	if [ -n "$gitdir" ]; then
		git --git-dir="$gitdir" archive "$rev" | tar -x -C "$out"
	else
		cp -R "$src/." "$out/"
		rm -rf "$out/.git"
	fi
	[ -f "$out/.traefik.yml" ] || die "$src: no .traefik.yml at $rev: not a Traefik plugin"
	grep -v "^$mod " "$dest/peers.txt" >"$dest/peers.txt.new" || true
	echo "$mod $rev $commit" >>"$dest/peers.txt.new"
	mv "$dest/peers.txt.new" "$dest/peers.txt"
	echo "$mod $rev ($commit) -> $out"
done

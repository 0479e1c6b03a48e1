#!/usr/bin/env bash
# Downloads Traefik's official linux/amd64 release $TRAEFIK_VERSION from
# GitHub, checks it against the release's checksums file when that lists
# the archive (Traefik builds each platform separately), and exports
# TRAEFIK_BIN for the following steps (GitHub Actions' $GITHUB_ENV).
set -euo pipefail
: "${TRAEFIK_VERSION:?set TRAEFIK_VERSION, e.g. v3.7.13}"
dir="${RUNNER_TEMP:-/tmp}/traefik-$TRAEFIK_VERSION"
base="https://github.com/traefik/traefik/releases/download/$TRAEFIK_VERSION"
archive="traefik_${TRAEFIK_VERSION}_linux_amd64.tar.gz"
mkdir -p "$dir"
cd "$dir"
curl -fsSL --retry 3 -o "$archive" "$base/$archive"
sha256sum "$archive"
if curl -fsSL --retry 3 -o checksums.txt "$base/traefik_${TRAEFIK_VERSION}_checksums.txt" &&
	grep -q " $archive\$" checksums.txt; then
	grep " $archive\$" checksums.txt | sha256sum -c -
else
	echo "get-traefik: the release's checksums file does not list $archive; not verified" >&2
fi
tar -xzf "$archive" traefik
./traefik version
echo "TRAEFIK_BIN=$dir/traefik" >>"${GITHUB_ENV:-/dev/null}"

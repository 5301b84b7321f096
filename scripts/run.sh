#!/usr/bin/env bash
# README "run" command: PostgreSQL, the NATS server of live dashboards, then the service.
#   scripts/run.sh [--demo] [extra args for `raptscallions serve`]
#   scripts/run.sh stop   # stops the project-local servers (same as `bash scripts/services.sh stop`)
#
# It builds the release binary, makes sure PostgreSQL runs (scripts/services.sh), starts the
# project-local NATS server of live dashboards (rapt_realtime_nats_up in scripts/services.sh:
# JWT authentication, websocket listener, JetStream; ports RAPT_NATS_REALTIME_PORT, default
# 4232, and RAPT_NATS_WEBSOCKET_PORT, default 4233) and execs `raptscallions serve`, which
# applies the migrations at start-up. With --demo (or RAPT_DEMO=1), `raptscallions demo` adds
# the sample school once the service listens, and prints its accounts.
# If NATS_URL is set, that server is used instead, as it is (live dashboards then need its own
# nats-setup configuration, its seeds and NATS_WEBSOCKET_URL in the environment).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = stop ]; then
  exec bash scripts/services.sh stop
fi

demo=${RAPT_DEMO:-0}
serve_args=()
for arg in "$@"; do
  case $arg in
    --demo) demo=1 ;;
    *) serve_args+=("$arg") ;;
  esac
done

# PostgreSQL only: the service's NATS is the secured server started below.
RAPT_SERVICES=postgres
# shellcheck source=scripts/services.sh
. scripts/services.sh

export BIND_ADDR="${BIND_ADDR:-127.0.0.1:8080}"
# Served over plain HTTP: browsers would not send a `Secure` cookie back.
export COOKIE_SECURE="${COOKIE_SECURE:-false}"

echo "[run] cargo build --release --bin raptscallions" >&2
cargo build --release --bin raptscallions
bin=${CARGO_TARGET_DIR:-target}/release/raptscallions

if [ -n "${NATS_URL:-}" ]; then
  echo "[run] using NATS_URL from the environment: $NATS_URL" >&2
else
  rapt_realtime_nats_up "$bin"
fi

# The key that signs the audit chain's checkpoints (README "The audit chain"): made once,
# kept in .local (mode 0600), unless one is configured.
if [ -z "${AUDIT_SIGNING_KEY:-}" ] && [ -z "${AUDIT_SIGNING_KEY_FILE:-}" ]; then
  key=.local/audit-signing-key.pem
  if [ ! -s "$key" ]; then
    if command -v openssl >/dev/null 2>&1; then
      mkdir -p .local
      (umask 077 && openssl genpkey -algorithm ed25519 -out "$key")
      echo "[run] created the audit signing key $key" >&2
    else
      echo "[run] openssl not found: audit checkpoints will not be signed" >&2
    fi
  fi
  if [ -s "$key" ]; then
    export AUDIT_SIGNING_KEY_FILE="$PWD/$key"
  fi
fi

case $demo in 1 | true | yes) demo=1 ;; *) demo=0 ;; esac
if [ "$demo" = 1 ]; then
  # After the exec below, this shell's pid ($$) is the service's.
  (
    host=${BIND_ADDR%:*}
    port=${BIND_ADDR##*:}
    host=${host#[}
    host=${host%]}
    case $host in 0.0.0.0 | '') host=127.0.0.1 ;; ::) host=::1 ;; esac
    if [ "$port" != 0 ]; then
      for _ in $(seq 1 300); do
        kill -0 $$ 2>/dev/null || exit 0
        _rapt_tcp_open "$host" "$port" && break
        sleep 1
      done
    fi
    RUST_LOG=warn "$bin" demo || echo "[run] ERROR: raptscallions demo failed" >&2
  ) &
fi

echo "[run] DATABASE_URL=$DATABASE_URL NATS_URL=$NATS_URL NATS_WEBSOCKET_URL=${NATS_WEBSOCKET_URL:-} BIND_ADDR=$BIND_ADDR" >&2
exec "$bin" serve "${serve_args[@]}"

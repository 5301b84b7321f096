#!/usr/bin/env bash
# README "run" command: start PostgreSQL + NATS (JetStream) if needed, then the server.
# The server applies the database migrations at start-up.
#   scripts/run.sh [extra args for `raptscallions serve`]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/services.sh
. scripts/services.sh

export BIND_ADDR="${BIND_ADDR:-127.0.0.1:8080}"
echo "[run] DATABASE_URL=$DATABASE_URL NATS_URL=$NATS_URL BIND_ADDR=$BIND_ADDR" >&2
exec cargo run --release --bin raptscallions -- serve "$@"

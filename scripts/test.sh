#!/usr/bin/env bash
# README "test" command: formatting, architecture check, clippy, build, tests.
#   scripts/test.sh [extra args for `cargo test --workspace`]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=scripts/services.sh
. scripts/services.sh

# The integration-test harness creates and drops one database per test through this
# admin connection (same server and credentials as DATABASE_URL, database `postgres`).
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$(rapt_admin_url "$DATABASE_URL")}"
export RUST_BACKTRACE=1
if [ "${CI:-}" = true ]; then
  export CARGO_TERM_COLOR=never
fi

step() { printf '\n[test] === %s\n' "$*" >&2; }

# The tests run a real SMTP server: Python's aiosmtpd (tests/support/smtp_sink.py).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  step "installing aiosmtpd (test SMTP server)"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null ||
    { if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q python3-aiosmtpd; else sudo apt-get update -q && sudo apt-get install -y -q python3-aiosmtpd; fi; }
  python3 -c 'import aiosmtpd' || { echo "[test] ERROR: could not install aiosmtpd" >&2; exit 1; }
fi

# The audit test checks a checkpoint's signature the way docs/audit.md tells an auditor to:
# with openssl (3.0 or later, for `pkeyutl -rawin`).
if ! command -v openssl >/dev/null 2>&1; then
  step "installing openssl (audit checkpoint test)"
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q openssl; else sudo apt-get update -q && sudo apt-get install -y -q openssl; fi
fi

# The contract test runs schemathesis against the served OpenAPI document
# (tests/integration/contract.rs). Pinned: its checks and generation change between versions.
SCHEMATHESIS=4.32.5
schemathesis_version() {
  python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}
if [ "$(schemathesis_version)" != "$SCHEMATHESIS" ]; then
  step "installing schemathesis $SCHEMATHESIS (OpenAPI contract test)"
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS" ||
    python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS"
  [ "$(schemathesis_version)" = "$SCHEMATHESIS" ] ||
    { echo "[test] ERROR: could not install schemathesis $SCHEMATHESIS" >&2; exit 1; }
fi

# The tests run a real OpenID provider: node-oidc-provider (tests/support/oidc).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  step "installing Node.js (test OpenID provider)"
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q nodejs npm; else sudo apt-get update -q && sudo apt-get install -y -q nodejs npm; fi
fi
if [ ! -d tests/support/oidc/node_modules/oidc-provider ]; then
  step "installing oidc-provider (test OpenID provider)"
  npm ci --prefix tests/support/oidc --no-audit --no-fund --loglevel=error
fi

# The OpenAPI linter that a test runs on the served document (tests/integration/openapi.rs):
# spectral, pinned in tests/support/spectral; npm ci again when its lockfile changed.
spectral_dir=tests/support/spectral
if [ ! -f "$spectral_dir/node_modules/.package-lock.json" ] || [ "$spectral_dir/package-lock.json" -nt "$spectral_dir/node_modules/.package-lock.json" ]; then
  step "installing spectral (OpenAPI linter)"
  npm ci --prefix "$spectral_dir" --no-audit --no-fund --loglevel=error
fi

# The dashboard page (web/dashboard, served at /dashboard): its browser test
# (tests/integration/dashboard_page.rs) drives Debian's Chromium with playwright-core, and the
# committed bundle in api/assets/dashboard must be what its sources build.
dashboard_page_checks() {
  if ! command -v chromium >/dev/null 2>&1; then
    step "installing chromium (dashboard page browser test)"
    if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi
  fi
  local dir
  for dir in tests/browser web/dashboard; do
    # npm ci again when the lockfile changed since the last install.
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      step "npm ci in $dir"
      npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    fi
  done
  step "dashboard page: unit tests, and the committed bundle against a fresh build"
  npm --prefix web/dashboard test --silent
  npm --prefix web/dashboard run check --silent
}
dashboard_page_checks

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "domain crate must not depend on infrastructure crates"
forbidden='sqlx poem async-nats tokio reqwest lettre'
tree=$(cargo tree -p domain -e normal --prefix none)
found=()
while read -r name _; do
  for f in $forbidden; do
    # the crate itself or one of its sub-crates (sqlx-core, poem-openapi, tokio-util, ...)
    case $name in
      "$f" | "$f"-*) found+=("$name") ;;
    esac
  done
done <<<"$tree"
if [ "${#found[@]}" -gt 0 ]; then
  found_list=$(printf '%s\n' "${found[@]}" | sort -u | tr '\n' ' ')
  echo "[test] ERROR: the domain crate depends (directly or transitively) on infrastructure crate(s): $found_list" >&2
  echo "[test] see: cargo tree -p domain -e normal -i <crate>" >&2
  exit 1
fi
echo "[test] ok: domain is free of ${forbidden// /, }" >&2

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --bin raptscallions"
cargo build --bin raptscallions

step "cargo test --workspace $*"
echo "[test] DATABASE_URL=$DATABASE_URL TEST_DATABASE_URL=$TEST_DATABASE_URL NATS_URL=$NATS_URL" >&2
log=$(mktemp)
set +e
if [ $# -eq 0 ]; then
  # The browser test checks that a detection reaches the page within a second: it runs after
  # the rest, on its own, so the other tests' load is not in its measurement.
  browser_test=dashboard_page::a_teacher_and_a_counselor_watch_a_class_live_in_a_browser
  cargo test --workspace -- --skip "$browser_test" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  step "cargo test -p tests --test integration -- $browser_test (on its own)"
  cargo test -p tests --test integration -- "$browser_test" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
else
  cargo test --workspace "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
fi
set -e
# One closing line for the whole suite (cargo's own last line is the last crate's doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"

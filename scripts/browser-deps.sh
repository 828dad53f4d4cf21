#!/usr/bin/env bash
# Make sure the browser end-to-end test (tests/e2e) can run:
#   1. Debian's Chromium at /usr/bin/chromium (browsers are never downloaded: no
#      `npx playwright install`). Installed with apt-get when we are root; otherwise the
#      script says what to install and exits 1.
#   2. Node.js (>= 20) with web/node_modules/playwright-core (`npm ci` in web/ when missing).
#
# Idempotent, and silent when everything is already present. Exit status 0 = ready.
# Called by the session fixture of tests/e2e/test_browser.py; also fine to run by hand.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHROMIUM=/usr/bin/chromium

log() { printf 'browser-deps.sh: %s\n' "$*" >&2; }
die() { printf 'browser-deps.sh: error: %s\n' "$*" >&2; exit 1; }

# Two runs at once (two pytest processes) must not both run apt-get or `npm ci` (which deletes
# node_modules first): the second waits for the first, then finds everything present.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/codeinterview-browser-deps-$(id -u).lock"
    flock 9
fi

# ---------------------------------------------------------------- Chromium

if [[ ! -x $CHROMIUM ]]; then
    if [[ $(id -u) != 0 ]]; then
        die "$CHROMIUM is missing and this is not root, so it cannot be installed here.
  Install Debian's Chromium as root, then run the tests again:
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium"
    fi
    command -v apt-get >/dev/null 2>&1 \
        || die "$CHROMIUM is missing and there is no apt-get; install a Chromium that provides $CHROMIUM"
    log "installing chromium with apt-get (once)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
    [[ -x $CHROMIUM ]] || die "apt-get installed chromium but $CHROMIUM is still missing"
    log "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
fi

# ---------------------------------------------------------------- Node.js + playwright-core

command -v node >/dev/null 2>&1 || die "node is not on PATH; install Node.js >= 20 (e.g. apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js >= 20 is needed (web/package.json engines); found $(node --version)"

if [[ ! -f $ROOT/web/node_modules/playwright-core/package.json ]]; then
    command -v npm >/dev/null 2>&1 || die "npm is not on PATH; it is needed to install web/node_modules"
    log "installing web/node_modules (npm ci)"
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci in web/ failed"
    [[ -f $ROOT/web/node_modules/playwright-core/package.json ]] \
        || die "npm ci finished but web/node_modules/playwright-core is still missing"
fi

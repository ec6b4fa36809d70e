#!/usr/bin/env bash
# Build the pinned Toxiproxy server with Go into <repo>/.tools/bin/toxiproxy-server.
# Idempotent: does nothing if the binary there already is the pinned version.
# Usage: bash scripts/install-toxiproxy.sh [DEST_DIR]   (works before the venv exists)
# Same as `edgeproof install-toxiproxy` / testbeds.toxiproxy.server.install_toxiproxy().
set -euo pipefail

VERSION="v2.12.0"                       # keep in step with testbeds/toxiproxy/server.py
MODULE="github.com/Shopify/toxiproxy/v2"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$REPO/.tools/bin}"
TARGET="$DEST/toxiproxy-server"

is_pinned() {
    # A build stamped via -ldflags reports "toxiproxy-server version 2.12.0"; a plain
    # `go install` build reports "git", so fall back to the Go build info in the binary.
    [ -x "$1" ] || return 1
    local reported
    reported="$("$1" -version 2>/dev/null | awk '{print $NF}')"
    [ "$reported" = "${VERSION#v}" ] || [ "$reported" = "$VERSION" ] && return 0
    command -v go >/dev/null 2>&1 &&
        go version -m "$1" 2>/dev/null |
        awk -v m="$MODULE" -v v="$VERSION" '$1 == "mod" && $2 == m && $3 == v {f = 1} END {exit !f}'
}

if is_pinned "$TARGET"; then
    echo "toxiproxy-server $VERSION already installed at $TARGET"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "error: Go (\`go\`) is not on PATH; it is needed to build toxiproxy-server $VERSION." >&2
    echo "fix: sudo apt-get install golang-go (or https://go.dev/dl), then rerun $0;" >&2
    echo "     or set EDGEPROOF_TOXIPROXY=/path/to/an/existing/toxiproxy-server" >&2
    exit 1
fi

GOBIN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/edgeproof-gobin-XXXXXX")"
trap 'rm -rf "$GOBIN_TMP"' EXIT

echo "building toxiproxy-server $VERSION with $(go version) ..."
GOBIN="$GOBIN_TMP" go install -ldflags "-X $MODULE.Version=${VERSION#v}" \
    "$MODULE/cmd/server@$VERSION"

mkdir -p "$DEST"
STAGING="$DEST/.toxiproxy-server.$$.tmp"
install -m 0755 "$GOBIN_TMP/server" "$STAGING"
mv -f "$STAGING" "$TARGET"             # atomic replace
echo "installed $("$TARGET" -version) at $TARGET"

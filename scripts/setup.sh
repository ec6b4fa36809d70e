#!/usr/bin/env bash
# One-time, idempotent set-up on Debian/Ubuntu: system packages, the virtualenv with edgeproof
# and its test tools, and the pinned Toxiproxy server (built with Go into .tools/bin).
# Re-running it does only what is missing. Needs root or sudo for apt-get the first time.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: libfaketime for clock skew; Go to build Toxiproxy; venv support;
# iproute2, iptables, nftables (partitions) and util-linux (nsenter) for the namespaced
# network; redis-server, etcd-server
# and mosquitto (with its clients), real third-party systems the tests put under faults;
# chromium, to check that reports render.
need=()
for pkg in libfaketime python3-venv ca-certificates iproute2 iptables nftables util-linux \
           redis-server redis-tools etcd-server etcd-client mosquitto mosquitto-clients \
           chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
command -v go >/dev/null 2>&1 || need+=(golang-go)
# The docker backend (opt in with EDGEPROOF_WITH_DOCKER=1; CI does): the engine, and debootstrap
# to build the local base image without a registry.
if [ "${EDGEPROOF_WITH_DOCKER:-0}" = "1" ]; then
    command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
fi
# gcc and the C library headers build the linearizability checker's compiled core.
command -v gcc >/dev/null 2>&1 || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The Python headers build the recorder's compiled hot path (workloads/_native/recorder.c).
HDR='import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'
if ! "${EDGEPROOF_PYTHON:-python3}" -c "$HDR" 2>/dev/null; then need+=(python3-dev); fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's mosquitto package enables a system broker on port 1883. The tests start brokers of
# their own on the harness's addresses and ports, so the system one is not needed: keep it
# stopped and disabled (systemd), or stopped (an init script's daemon, known by its pid file;
# the brokers edgeproof starts write none). The `mosquitto` binary is all the tests use.
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet mosquitto 2>/dev/null; then
    echo "setup: disabling the system mosquitto broker (edgeproof starts its own)"
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
elif [ -f /run/mosquitto/mosquitto.pid ] && [ -x /etc/init.d/mosquitto ]; then
    echo "setup: stopping the system mosquitto broker (edgeproof starts its own)"
    $SUDO /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
fi

PY="${EDGEPROOF_PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: error: edgeproof needs Python >= 3.11 ($PY is $("$PY" -V 2>&1));" \
         "install a newer python3 or set EDGEPROOF_PYTHON=/path/to/python3.11" >&2
    exit 2
fi

# The virtualenv and the package (editable), reinstalled only when pyproject.toml changes.
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
STAMP=.venv/.edgeproof-installed
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! .venv/bin/python -c 'import harness' 2>/dev/null; then
    echo "setup: installing edgeproof and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$WANT" > "$STAMP"
fi

# The linearizability checker's compiled core (harness/checks/lin/_native, C), rebuilt only
# when its source is newer; without it the checker runs in pure Python, same verdicts.
if ! .venv/bin/python -c 'import sys; from harness.checks.lin.native import main
sys.exit(main(["build", "--if-stale"]))'; then
    echo "setup: warning: the checker's compiled core did not build; checks run in pure Python" >&2
fi

# The recorder's compiled hot path (workloads/_native/recorder.c), rebuilt only when its
# source is newer; without it the recorder runs in pure Python, same events, same bytes.
if ! .venv/bin/python -m workloads.native build --if-stale; then
    echo "setup: warning: the recorder's compiled hot path did not build; it runs in pure Python" >&2
fi

# Toxiproxy: the real server, pinned, unless one is named or on PATH already.
if [ -n "${EDGEPROOF_TOXIPROXY:-}" ]; then
    echo "setup: using EDGEPROOF_TOXIPROXY=$EDGEPROOF_TOXIPROXY"
elif command -v toxiproxy-server >/dev/null 2>&1; then
    echo "setup: using toxiproxy-server on PATH: $(command -v toxiproxy-server)"
else
    bash scripts/install-toxiproxy.sh
fi
echo "setup: ready (.venv/bin/edgeproof)"

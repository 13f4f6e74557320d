#!/usr/bin/env bash
# Idempotently install SimGrid (SMPI: smpicc, smpirun) from Debian's packages.
# Debian bookworm ships SimGrid 3.32 (libsimgrid-dev 3.32-2).
set -euo pipefail
if command -v smpirun >/dev/null 2>&1 && command -v smpicc >/dev/null 2>&1; then
  echo "install_simgrid: smpirun already present: $(command -v smpirun)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends libsimgrid-dev gcc make libc6-dev
command -v smpirun && command -v smpicc
echo "install_simgrid: done"

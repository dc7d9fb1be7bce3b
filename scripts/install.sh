#!/usr/bin/env bash
# Installs tf_smvae on a fresh machine: the Debian Fashion-MNIST package where apt exists,
# then the package itself (with the test tools when given --test).
#   bash scripts/install.sh          # library + binaries
#   bash scripts/install.sh --test   # ... plus pytest, pytest-xdist, ruff, sphinx, scikit-learn
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "install.sh: not root and no sudo; skipping dataset-fashion-mnist (tfds is the fallback)" >&2
      SUDO="skip"
    fi
  fi
  if [ "$SUDO" != "skip" ]; then
    $SUDO apt-get update -qq || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
      || echo "install.sh: dataset-fashion-mnist not installed; tfds is the fallback" >&2
  fi
fi

if [ "${1:-}" = "--test" ]; then
  python3 -m pip install -q -e ".[test]"
else
  python3 -m pip install -q -e .
fi

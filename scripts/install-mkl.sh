#!/usr/bin/env bash
# Installs Debian's Intel MKL (libmkl-dev, non-free) and the OpenMP runtime it links against
# (libomp-dev provides libiomp5) for the `mkl` build. Nothing is downloaded outside Debian's
# archive: the intel-mkl-src crate finds this MKL through pkg-config (mkl-static-lp64-iomp).
# Idempotent; needs root (as in CI and the Docker build).
set -euo pipefail
if pkg-config --exists mkl-static-lp64-iomp 2>/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libiomp5.so ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-mkl.sh: run as root (or install libmkl-dev and libomp-dev yourself)" >&2
    exit 1
fi
"$(dirname "$0")/enable-non-free.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends libmkl-dev libomp-dev pkg-config >/dev/null
pkg-config --exists mkl-static-lp64-iomp
echo "install-mkl.sh: MKL ready"

#!/usr/bin/env bash
# Adds Debian's `contrib non-free` components (same mirror and release as `main`) to apt's
# sources, for libmkl-dev and nvidia-cuda-toolkit. Idempotent; needs root.
set -euo pipefail
if grep -rqsE '^(Components:|deb ).*non-free( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ ; then
    exit 0
fi
. /etc/os-release
# The first URIs line that is not the security archive.
mirror=$( (awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true) | grep -v security | head -n1 || true)
cat > /etc/apt/sources.list.d/embeddings-non-free.sources <<SRC
Types: deb
URIs: ${mirror:-http://deb.debian.org/debian}
Suites: ${VERSION_CODENAME}
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt-get update -qq

#!/usr/bin/env bash
# Installs the pinned js-libp2p packages that JsLibp2pInteropTest runs as a peer (versions fixed by package-lock.json).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund

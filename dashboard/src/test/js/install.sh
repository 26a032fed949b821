#!/usr/bin/env bash
# Installs playwright-core (pinned by package-lock.json) for DashboardBrowserTest. It drives Debian's chromium,
# which .ci/run installs with apt; playwright's own browser download is never used.
set -euo pipefail
cd "$(dirname "$0")"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

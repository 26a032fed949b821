#!/usr/bin/env bash
# Installs what the test suite needs beyond a JDK 25, on Debian/Ubuntu as root:
#   - mesa-vulkan-drivers, libvulkan1: Mesa's lavapipe CPU driver, on which the kernels-vulkan tests run;
#   - chromium: the headless browser of the dashboard end-to-end test;
#   - nodejs/npm (when missing) and the pinned npm packages of the js-libp2p interop peer and of playwright-core.
# .ci/run and `./dev setup` call it.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(mesa-vulkan-drivers libvulkan1 chromium)
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

bash p2p/src/test/js/install.sh
bash dashboard/src/test/js/install.sh

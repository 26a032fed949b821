#!/usr/bin/env bash
# Decode and prefill throughput of the Vulkan backend on an NVIDIA (or any Vulkan) GPU, against the GPU's memory
# bandwidth ceiling, on synthetic llama-3.2-1b and qwen3-8b shapes with random BF16 weights. Fits in a few minutes.
#
# The GPU machine has a JDK 25 and a Vulkan driver but no Maven Central, so the classpath is prepared here first:
#   kernels-vulkan/gpu-bench.sh prepare      # on the dev machine: builds, copies every jar to kernels-vulkan/target/gpu-bench
#   kernels-vulkan/gpu-bench.sh run [peakGBs] # on the GPU machine (carry kernels-vulkan/target/gpu-bench)
# peakGBs is the card's memory bandwidth in GB/s; without it, nvidia-smi's name picks it from the table below.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=kernels-vulkan/target/gpu-bench

case "${1:-run}" in
  prepare)
    ./dev mvn -q -B -pl kernels-vulkan -am package -DskipTests \
      dependency:copy-dependencies -DincludeScope=test -DoutputDirectory=target/gpu-bench-lib
    rm -rf "$dir" && mkdir -p "$dir/lib"
    cp kernels-vulkan/target/gpu-bench-lib/*.jar "$dir/lib/"
    cp kernels-vulkan/target/parallax-kernels-vulkan-*.jar "$dir/lib/"
    cp -r kernels-vulkan/target/test-classes "$dir/test-classes"
    # Only the Linux x86-64 natives are needed there.
    rm -f "$dir"/lib/*natives-macos* "$dir"/lib/*natives-windows* "$dir"/lib/junit-* "$dir"/lib/assertj-* \
      "$dir"/lib/jmh-* "$dir"/lib/tokenizers-*
    du -sh "$dir"
    ;;
  run)
    peak=${2:-}
    java_home=$(./dev java-home 2>/dev/null || true)
    java=${java_home:+$java_home/bin/}java
    "$java" -version 2>&1 | head -1
    ldconfig -p | grep -q 'libvulkan.so.1' || { echo "libvulkan.so.1 (the Vulkan loader) is missing on this machine" >&2; exit 2; }
    gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
    echo "GPU: ${gpu:-unknown}"
    if [ -z "$peak" ]; then
      case "$gpu" in
        *H200*) peak=4800 ;;
        *H100*HBM3*|*H100\ SXM*) peak=3350 ;;
        *H100*PCIe*|*H100*) peak=2000 ;;
        *A100*80GB*) peak=2039 ;;
        *A100*) peak=1555 ;;
        *L40S*|*L40*) peak=864 ;;
        *4090*) peak=1008 ;;
        *) peak=0 ;;
      esac
    fi
    cp="$dir/test-classes:$(ls "$dir"/lib/*.jar | tr '\n' ':')"
    run() { "$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
              --add-modules jdk.incubator.vector -Xmx8g -cp "$cp" ai.parallax.kernels.vulkan.DecodeBenchmark "$@"; }
    run matmul 4096 4096 2>&1 | grep -v 'incubator'
    run llama-3.2-1b 128 512 "$peak" 2>&1 | grep -v 'incubator'
    run qwen3-8b 64 256 "$peak" 2>&1 | grep -v 'incubator'
    ;;
  *)
    sed -n 2,9p "$0"
    exit 1
    ;;
esac

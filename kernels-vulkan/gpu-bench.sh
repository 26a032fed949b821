#!/usr/bin/env bash
# Decode and prefill throughput of the Vulkan backend on an NVIDIA (or any Vulkan) GPU: `parallax bench --device
# vulkan` on synthetic llama-3.2-1b and qwen3-8b checkpoints with random BF16 weights, decode tokens/s against the
# GPU's memory-bandwidth ceiling (the issue's target: >= 60% at batch 1) and prefill tokens/s. A few minutes in all.
#
# The GPU machine has no JDK, no Maven Central and perhaps no Vulkan loader, so everything it needs is prepared here
# into one ignored folder of about 55 MB (the device tool carries at most 64 MiB with the working tree):
#   kernels-vulkan/gpu-bench.sh prepare          # here: parallax.jar, a jlink'd Java runtime, the two tokenizers
#                                                # and the libvulkan1 package, into kernels-vulkan/target/gpu-bench
#   kernels-vulkan/gpu-bench.sh run [GB/s TF/s]  # there (carry kernels-vulkan/target/gpu-bench): the benchmark
# GB/s and TF/s are the card's memory bandwidth and FP32 peak; without them nvidia-smi's name picks them from the
# table below (datasheet figures). The copy bandwidth the device itself reaches is printed beside them.
# GPU_BENCH_SHAPES="tiny" runs the same steps on a tiny synthetic model (a check of the script on lavapipe).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=kernels-vulkan/target/gpu-bench

case "${1:-run}" in
  prepare)
    ./dev mvn -q -B -pl server -am package -DskipTests
    java_home=$(./dev java-home)
    rm -rf "$dir" && mkdir -p "$dir"
    cp server/target/parallax.jar "$dir/"
    # The modules parallax.jar needs (jdeps --print-module-deps), plus TLS's elliptic curves and HTTP for the server.
    "$java_home/bin/jlink" --add-modules java.base,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,jdk.crypto.ec,jdk.incubator.vector,jdk.jfr,jdk.management,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --output "$dir/jre" 2>&1 | grep -v 'incubator' || true
    tar -C "$dir" -I 'xz -T0 -6' -cf "$dir/jre.tar.xz" jre && rm -rf "$dir/jre"
    tar -C ../shared/models -I 'xz -T0 -6' -cf "$dir/tokenizers.tar.xz" \
      tokenizer-llama3_1/tokenizer.json tokenizer-llama3_1/tokenizer_config.json \
      tokenizer-qwen3/tokenizer.json tokenizer-qwen3/tokenizer_config.json
    (cd "$dir" && apt-get download libvulkan1 >/dev/null 2>&1) || echo "note: libvulkan1 not downloaded; the GPU machine must have a Vulkan loader" >&2
    du -sh "$dir"
    ;;
  run)
    peak_gbs=${2:-}
    peak_tflops=${3:-}
    work=${GPU_BENCH_WORK:-/tmp/parallax-gpu-bench}
    mkdir -p "$work"
    if [ -f "$dir/jre.tar.xz" ]; then
      [ -x "$work/jre/bin/java" ] || tar -C "$work" -xJf "$dir/jre.tar.xz"
      java="$work/jre/bin/java"
    else
      java=${JAVA_HOME:+$JAVA_HOME/bin/}java
    fi
    "$java" -version 2>&1 | head -1
    if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
      for f in "$dir"/libvulkan1*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
      ldconfig
      ldconfig -p | grep -q 'libvulkan.so.1' || { echo "libvulkan.so.1 (the Vulkan loader) is missing on this machine" >&2; exit 2; }
    fi
    # NVIDIA's container images put the driver's Vulkan manifest here, outside the loader's search path.
    nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ]; then
      export VK_DRIVER_FILES=$nvidia_icd
    fi
    gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1 || true)
    echo "GPU: ${gpu:-unknown}"
    if [ -z "$peak_gbs" ]; then
      # name: HBM/GDDR bandwidth (GB/s) and FP32 peak (TFLOP/s, what the shaders' FMAs run on), from datasheets.
      case "$gpu" in
        *H200*) peak_gbs=4800; peak_tflops=67 ;;
        *H100*NVL*) peak_gbs=3900; peak_tflops=60 ;;
        *H100*PCIe*) peak_gbs=2000; peak_tflops=51 ;;
        *H100*) peak_gbs=3350; peak_tflops=67 ;;
        *A100*80GB*) peak_gbs=2039; peak_tflops=19.5 ;;
        *A100*) peak_gbs=1555; peak_tflops=19.5 ;;
        *L40S*) peak_gbs=864; peak_tflops=91.6 ;;
        *4090*) peak_gbs=1008; peak_tflops=82.6 ;;
        *) peak_gbs=; peak_tflops= ;;
      esac
    fi
    ceilings=()
    [ -n "$peak_gbs" ] && ceilings+=(--bandwidth "$peak_gbs")
    [ -n "$peak_tflops" ] && ceilings+=(--tflops "$peak_tflops")
    parallax() { "$java" -jar "$dir/parallax.jar" "$@" 2> >(grep -v 'incubator' >&2); }
    parallax devices
    [ -d "$work/tokenizer-qwen3" ] || tar -C "$work" -xJf "$dir/tokenizers.tar.xz"
    for shape in ${GPU_BENCH_SHAPES:-llama-3.2-1b qwen3-8b}; do
      tokenizer=$work/tokenizer-qwen3
      [[ $shape == llama* ]] && tokenizer=$work/tokenizer-llama3_1
      start=$(date +%s)
      [ -f "$work/$shape/config.json" ] || parallax synth --shape "$shape" --dtype bf16 --out "$work/$shape" --tokenizer "$tokenizer"
      echo "synthesised $shape in $(( $(date +%s) - start )) s"
      prompt=512; decode=128
      [[ $shape == qwen3-8b ]] && { prompt=256; decode=64; }
      start=$(date +%s)
      parallax bench -m "$work/$shape" --device vulkan "${ceilings[@]}" --prompt $prompt --decode $decode \
        --batch 8 --batch-steps 8
      echo "benchmarked $shape in $(( $(date +%s) - start )) s"
    done
    ;;
  *)
    sed -n 2,12p "$0"
    exit 1
    ;;
esac

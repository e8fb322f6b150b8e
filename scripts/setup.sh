#!/usr/bin/env bash
# One-shot set-up for a fresh Debian (bookworm) machine: the Debian packages that
# qmpmodel's later features need, then the Python package itself with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null 2>&1; then
    need=()
    command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
    command -v dot >/dev/null 2>&1 || need+=(graphviz)
    # headless browser for tests/test_report.py's rendering test (tools/screenshot_report.py)
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    # the native engine compiles its search kernel at run time; SPIN is the second opinion
    command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    command -v spin >/dev/null 2>&1 || need+=(spin)
    if [ ${#need[@]} -gt 0 ]; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
fi
python3 -m pip install -q --upgrade pip
python3 -m pip install -q -e '.[dev]'

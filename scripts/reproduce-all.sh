#!/bin/sh
# Regenerate reports/reproductions.json, then the report that reads it.
#
# Every counterexample that `qmpmodel check specs/ --out DIR` writes is handed to
# `qmpmodel reproduce --results reports/reproductions.json`, which runs the ones a
# client can drive against the installed QEMU (qemu-system-x86_64, 7.2.22 on
# Debian bookworm) and records a verdict for every one (reproduced, not
# reproduced and why, or not drivable from outside). `qmpmodel report` then
# marks the reproduced counterexamples "reproduced on QEMU 7.2.22"; it only
# reads the committed file, so the report stays deterministic.
#
# Usage: scripts/reproduce-all.sh [TRIES]   (default 10; about 3 minutes)
set -u
tries="${1:-10}"
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python3 -m qmpmodel check specs/ --out "$out" >/dev/null
rm -f reports/reproductions.json
for f in "$out"/*.itf.json; do
    python3 -m qmpmodel reproduce "$f" --tries "$tries" --results reports/reproductions.json >"$out/last.log" 2>&1
    printf '%s  %s\n' "$?" "$(tail -n 1 "$out/last.log" | cut -c1-150)"
done
python3 -m qmpmodel report specs/ --out reports/

#!/usr/bin/env bash
# Memcheck of the edgedepth C runtime: the example on one image, the C self-test (every error path, bad sidecars
# included, and two runners on two threads) and the sidecar JSON reader's test. Fails on any leak (definite,
# indirect or possible) and any invalid access or use of uninitialised memory, except the OpenVINO/glibc cases
# listed and explained in capi_valgrind.supp.
#
# usage: benchmarks/capi_valgrind.sh MODEL IMAGE.ppm [BUILD_DIR]
#   MODEL      an OpenVINO IR .xml or its folder (edgedepth build --backend openvino)
#   IMAGE.ppm  a binary PPM (P6) image
#   BUILD_DIR  where `edgedepth capi-build` builds the library (default build/capi)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 2 ]; then
    sed -n '7,10p' "$0" >&2
    exit 2
fi
model=$1 image=$2 build=${3:-build/capi}
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind" >&2; exit 2; }
# Build the sources of the checkout this script is in (an installed `edgedepth` command may be another one's).
PYTHONPATH="$here/..${PYTHONPATH:+:$PYTHONPATH}" python3 -c 'import sys; from edgedepth.capi import build; build(sys.argv[1])' \
    "$build" >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

memcheck() {
    valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
        --suppressions="$here/capi_valgrind.supp" "$@"
}
memcheck "$build/edgedepth_cli" "$model" "$image" "$scratch/depth.pfm"
memcheck "$build/ed_selftest" "$model" "$scratch" >"$scratch/selftest.log" || { cat "$scratch/selftest.log"; exit 1; }
memcheck "$build/ed_json_test" >"$scratch/json.log" || { cat "$scratch/json.log"; exit 1; }
echo "memcheck: no leaks, no invalid accesses (example, self-test and JSON reader test)"

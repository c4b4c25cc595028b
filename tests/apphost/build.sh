#!/usr/bin/env bash
# The test host's AppBridge for a browser (host.js), from the pinned npm packages here.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --silent --no-audit --no-fund
npx esbuild entry.js --bundle --format=iife --global-name=ExtAppsHost --outfile=host.js --log-level=warning

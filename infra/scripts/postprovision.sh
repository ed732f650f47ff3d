#!/bin/sh
# azd postprovision hook: local.settings.json from the azd environment (no keys).
set -eu
cd "$(dirname "$0")/../.."
node infra/scripts/write-local-settings.mjs

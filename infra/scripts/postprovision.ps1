# azd postprovision hook: local.settings.json from the azd environment (no keys).
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '../..')
node infra/scripts/write-local-settings.mjs
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

# azd postdeploy hook: Event Grid subscriptions from each watched subscription's system topic to the
# deployed `vmEvents` function (infra/eventgrid.bicep). Runs after deploy because Event Grid validates
# the endpoint when the subscription is created. Needs the Azure CLI signed in (`az login`).
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '../..')
foreach ($name in 'AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_RESOURCE_ID',
  'AZURE_MANAGED_IDENTITY_RESOURCE_ID', 'AZURE_STORAGE_ACCOUNT_RESOURCE_ID', 'SUBSCRIPTION_IDS', 'EVENTGRID_SYSTEM_TOPIC_NAME') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { throw "postdeploy: $name is not set (run azd provision)" }
}
if ($env:AZURE_SUBSCRIPTION_ID) { az account set --subscription $env:AZURE_SUBSCRIPTION_ID }
$deadLetter = if ($env:EVENTGRID_DEAD_LETTER_CONTAINER) { $env:EVENTGRID_DEAD_LETTER_CONTAINER } else { 'eventgrid-deadletters' }

for ($attempt = 1; ; $attempt++) {
  az deployment sub create `
    --name "vmtimeline-eventgrid-$($env:AZURE_ENV_NAME)" `
    --location $env:AZURE_LOCATION `
    --template-file infra/eventgrid.bicep `
    --parameters `
      "watchedSubscriptionIdsCsv=$($env:SUBSCRIPTION_IDS)" `
      "resourceGroupName=$($env:AZURE_RESOURCE_GROUP)" `
      "systemTopicName=$($env:EVENTGRID_SYSTEM_TOPIC_NAME)" `
      "functionAppResourceId=$($env:AZURE_FUNCTION_APP_RESOURCE_ID)" `
      "identityResourceId=$($env:AZURE_MANAGED_IDENTITY_RESOURCE_ID)" `
      "storageAccountResourceId=$($env:AZURE_STORAGE_ACCOUNT_RESOURCE_ID)" `
      "deadLetterContainerName=$deadLetter" `
    --output none
  if ($LASTEXITCODE -eq 0) { break }
  if ($attempt -ge 5) { throw "postdeploy: Event Grid subscriptions failed after $attempt attempts" }
  Write-Warning "postdeploy: attempt $attempt failed (function not indexed yet?); retrying in 30 s"
  Start-Sleep -Seconds 30
}
Write-Host "postdeploy: Event Grid subscriptions to vmEvents created for: $($env:SUBSCRIPTION_IDS)"

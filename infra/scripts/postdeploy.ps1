# azd postdeploy hook: Event Grid subscriptions from each watched subscription's system topic to the
# deployed `vmEvents` function (infra/eventgrid.bicep). Runs after deploy because Event Grid validates
# the endpoint when the subscription is created. Needs the Azure CLI signed in (`az login`).
# Management-group mode (WATCH_MANAGEMENT_GROUP set): deploys infra/management-group.bicep at the group
# instead (read role at the group, the event-wiring policy, its remediation).
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '../..')
foreach ($name in 'AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_RESOURCE_ID',
  'AZURE_MANAGED_IDENTITY_RESOURCE_ID', 'AZURE_STORAGE_ACCOUNT_RESOURCE_ID', 'EVENTGRID_SYSTEM_TOPIC_NAME') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { throw "postdeploy: $name is not set (run azd provision)" }
}
if ($env:AZURE_SUBSCRIPTION_ID) { az account set --subscription $env:AZURE_SUBSCRIPTION_ID }
$deadLetter = if ($env:EVENTGRID_DEAD_LETTER_CONTAINER) { $env:EVENTGRID_DEAD_LETTER_CONTAINER } else { 'eventgrid-deadletters' }

if ($env:WATCH_MANAGEMENT_GROUP) {
  foreach ($name in 'AZURE_MANAGED_IDENTITY_PRINCIPAL_ID', 'ROLE_NAME_SUFFIX', 'EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME') {
    if (-not [Environment]::GetEnvironmentVariable($name)) { throw "postdeploy: $name is not set (run azd provision)" }
  }
  $readRole = if ($env:WATCHED_READ_ROLE) { $env:WATCHED_READ_ROLE } else { 'VmReader' }
  $customRead = if ($readRole -eq 'VmReader') { 'true' } else { 'false' }
  $deallocate = if ([int]"0$($env:AUTO_DEALLOCATE_AFTER_MINUTES)" -gt 0) { 'true' } else { 'false' }
  for ($attempt = 1; ; $attempt++) {
    az deployment mg create `
      --name "vmtimeline-mg-$($env:AZURE_ENV_NAME)" `
      --management-group-id $env:WATCH_MANAGEMENT_GROUP `
      --location $env:AZURE_LOCATION `
      --template-file infra/management-group.bicep `
      --parameters `
        "location=$($env:AZURE_LOCATION)" `
        "identityPrincipalId=$($env:AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)" `
        "identityResourceId=$($env:AZURE_MANAGED_IDENTITY_RESOURCE_ID)" `
        "functionAppResourceId=$($env:AZURE_FUNCTION_APP_RESOURCE_ID)" `
        "storageAccountResourceId=$($env:AZURE_STORAGE_ACCOUNT_RESOURCE_ID)" `
        "deadLetterContainerName=$deadLetter" `
        "resourceGroupName=$($env:AZURE_RESOURCE_GROUP)" `
        "systemTopicName=$($env:EVENTGRID_SYSTEM_TOPIC_NAME)" `
        "healthSystemTopicName=$($env:EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME)" `
        "useCustomReadRole=$customRead" `
        "grantVirtualMachineDeallocate=$deallocate" `
        "nameSuffix=$($env:ROLE_NAME_SUFFIX)" `
      --output none
    if ($LASTEXITCODE -eq 0) { break }
    if ($attempt -ge 5) { throw "postdeploy: management group deployment failed after $attempt attempts" }
    Write-Warning "postdeploy: attempt $attempt failed; retrying in 30 s"
    Start-Sleep -Seconds 30
  }
  Write-Host "postdeploy: management group $($env:WATCH_MANAGEMENT_GROUP): read role, event-wiring policies (resource and Resource Health events) and remediations deployed"
  exit 0
}
if (-not $env:SUBSCRIPTION_IDS) { throw "postdeploy: SUBSCRIPTION_IDS is not set (run azd provision)" }
if (-not $env:EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME) { throw "postdeploy: EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME is not set (run azd provision)" }

for ($attempt = 1; ; $attempt++) {
  az deployment sub create `
    --name "vmtimeline-eventgrid-$($env:AZURE_ENV_NAME)" `
    --location $env:AZURE_LOCATION `
    --template-file infra/eventgrid.bicep `
    --parameters `
      "watchedSubscriptionIdsCsv=$($env:SUBSCRIPTION_IDS)" `
      "resourceGroupName=$($env:AZURE_RESOURCE_GROUP)" `
      "systemTopicName=$($env:EVENTGRID_SYSTEM_TOPIC_NAME)" `
      "healthSystemTopicName=$($env:EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME)" `
      "existingSystemTopicsCsv=$($env:EXISTING_SYSTEM_TOPICS)" `
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

# azd preprovision hook: Azure allows one Event Grid system topic per source and topic type in a
# subscription. For each watched subscription, finds the Microsoft.Resources.Subscriptions and
# Microsoft.ResourceNotifications.HealthResources topics that already exist (ours, named
# evgst-vmtimeline-*, are left to the Bicep) and records them in the azd env as EXISTING_SYSTEM_TOPICS
# ("<topicType>|<resource id>", comma-separated), so main.bicep reuses them instead of failing.
$ErrorActionPreference = 'Stop'
$subscriptions = if ($env:WATCHED_SUBSCRIPTION_IDS) { $env:WATCHED_SUBSCRIPTION_IDS } else { $env:AZURE_SUBSCRIPTION_ID }
$found = @()
foreach ($sub in ($subscriptions -split '[,;\s]+' | Where-Object { $_ })) {
  $query = "[?(topicType=='Microsoft.Resources.Subscriptions' || topicType=='Microsoft.ResourceNotifications.HealthResources') && !starts_with(name, 'evgst-vmtimeline-')].join('|', [topicType, id])"
  $topics = az eventgrid system-topic list --subscription $sub --query $query --output tsv
  if ($LASTEXITCODE -ne 0) { throw "preprovision: could not list the system topics of $sub" }
  $found += @($topics | Where-Object { $_ })
}
azd env set EXISTING_SYSTEM_TOPICS ($found -join ',')
if ($found.Count -gt 0) { Write-Host "preprovision: reusing existing system topics: $($found -join ',')" }

#!/bin/sh
# azd preprovision hook: Azure allows one Event Grid system topic per source and topic type in a
# subscription. For each watched subscription, finds the Microsoft.Resources.Subscriptions and
# Microsoft.ResourceNotifications.HealthResources topics that already exist (a customer's, a vendor's;
# ours, named evgst-vmtimeline-*, are left to the Bicep) and records them in the azd env as
# EXISTING_SYSTEM_TOPICS ("<topicType>|<resource id>", comma-separated): main.bicep then creates no topic of
# that type there and eventgrid.bicep adds our event subscription to the existing one. Needs the Azure CLI
# signed in (`az login`) with read access to the watched subscriptions.
set -eu
subscriptions="${WATCHED_SUBSCRIPTION_IDS:-${AZURE_SUBSCRIPTION_ID:-}}"
found=""
for sub in $(printf '%s' "$subscriptions" | tr ',;' '  '); do
  topics=$(az eventgrid system-topic list --subscription "$sub" \
    --query "[?(topicType=='Microsoft.Resources.Subscriptions' || topicType=='Microsoft.ResourceNotifications.HealthResources') && !starts_with(name, 'evgst-vmtimeline-')].join('|', [topicType, id])" \
    --output tsv)
  for topic in $topics; do
    found="${found:+$found,}$topic"
  done
done
azd env set EXISTING_SYSTEM_TOPICS "$found"
if [ -n "$found" ]; then echo "preprovision: reusing existing system topics: $found"; fi

#!/bin/sh
# azd postdeploy hook: Event Grid subscriptions from each watched subscription's system topic to the
# deployed `vmEvents` function (infra/eventgrid.bicep). Runs after deploy because Event Grid validates
# the endpoint when the subscription is created. Needs the Azure CLI signed in (`az login`) with the
# rights azd used. Retries while the new function is being indexed.
# Management-group mode (WATCH_MANAGEMENT_GROUP set): deploys infra/management-group.bicep at the group
# instead (read role at the group, the event-wiring policy, its remediation); needs the right to define
# roles and policies and assign them at the group (Owner, or User Access Administrator + Resource Policy
# Contributor).
set -eu
cd "$(dirname "$0")/../.."
: "${AZURE_ENV_NAME:?}" "${AZURE_LOCATION:?}" "${AZURE_RESOURCE_GROUP:?}" "${AZURE_FUNCTION_APP_RESOURCE_ID:?}"
: "${AZURE_MANAGED_IDENTITY_RESOURCE_ID:?}" "${AZURE_STORAGE_ACCOUNT_RESOURCE_ID:?}"
: "${EVENTGRID_SYSTEM_TOPIC_NAME:?}"

if [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then az account set --subscription "$AZURE_SUBSCRIPTION_ID"; fi

# retry WHAT HINT COMMAND...: runs COMMAND up to 5 times, 30 s apart (the new function may still be indexing).
retry() {
  what=$1 hint=$2 attempt=1
  shift 2
  until "$@"; do
    if [ "$attempt" -ge 5 ]; then
      echo "postdeploy: $what failed after $attempt attempts" >&2
      exit 1
    fi
    echo "postdeploy: attempt $attempt failed$hint; retrying in 30 s" >&2
    attempt=$((attempt + 1))
    sleep 30
  done
}

if [ -n "${WATCH_MANAGEMENT_GROUP:-}" ]; then
  : "${AZURE_MANAGED_IDENTITY_PRINCIPAL_ID:?}" "${ROLE_NAME_SUFFIX:?}" "${EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME:?}"
  custom_read=true
  [ "${WATCHED_READ_ROLE:-VmReader}" = VmReader ] || custom_read=false
  deallocate=false
  [ "${AUTO_DEALLOCATE_AFTER_MINUTES:-0}" -gt 0 ] && deallocate=true
  retry 'management group deployment' '' az deployment mg create \
    --name "vmtimeline-mg-${AZURE_ENV_NAME}" \
    --management-group-id "$WATCH_MANAGEMENT_GROUP" \
    --location "$AZURE_LOCATION" \
    --template-file infra/management-group.bicep \
    --parameters \
      location="$AZURE_LOCATION" \
      identityPrincipalId="$AZURE_MANAGED_IDENTITY_PRINCIPAL_ID" \
      identityResourceId="$AZURE_MANAGED_IDENTITY_RESOURCE_ID" \
      functionAppResourceId="$AZURE_FUNCTION_APP_RESOURCE_ID" \
      storageAccountResourceId="$AZURE_STORAGE_ACCOUNT_RESOURCE_ID" \
      deadLetterContainerName="${EVENTGRID_DEAD_LETTER_CONTAINER:-eventgrid-deadletters}" \
      resourceGroupName="$AZURE_RESOURCE_GROUP" \
      systemTopicName="$EVENTGRID_SYSTEM_TOPIC_NAME" \
      healthSystemTopicName="$EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME" \
      useCustomReadRole="$custom_read" \
      grantVirtualMachineDeallocate="$deallocate" \
      nameSuffix="$ROLE_NAME_SUFFIX" \
    --output none
  echo "postdeploy: management group $WATCH_MANAGEMENT_GROUP: read role, event-wiring policies (resource and Resource Health events) and remediations deployed"
  exit 0
fi
: "${SUBSCRIPTION_IDS:?}" "${EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME:?}"

retry 'Event Grid subscriptions' ' (function not indexed yet?)' az deployment sub create \
  --name "vmtimeline-eventgrid-${AZURE_ENV_NAME}" \
  --location "$AZURE_LOCATION" \
  --template-file infra/eventgrid.bicep \
  --parameters \
    watchedSubscriptionIdsCsv="$SUBSCRIPTION_IDS" \
    resourceGroupName="$AZURE_RESOURCE_GROUP" \
    systemTopicName="$EVENTGRID_SYSTEM_TOPIC_NAME" \
    healthSystemTopicName="$EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME" \
    existingSystemTopicsCsv="${EXISTING_SYSTEM_TOPICS:-}" \
    functionAppResourceId="$AZURE_FUNCTION_APP_RESOURCE_ID" \
    identityResourceId="$AZURE_MANAGED_IDENTITY_RESOURCE_ID" \
    storageAccountResourceId="$AZURE_STORAGE_ACCOUNT_RESOURCE_ID" \
    deadLetterContainerName="${EVENTGRID_DEAD_LETTER_CONTAINER:-eventgrid-deadletters}" \
  --output none
echo "postdeploy: Event Grid subscriptions to vmEvents created for: $SUBSCRIPTION_IDS"

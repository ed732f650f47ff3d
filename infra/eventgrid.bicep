// Second deployment, run by azd's postdeploy hook (infra/scripts/postdeploy.sh|ps1) once the code is
// deployed: an Event Grid subscription validates its endpoint when created, so the `vmEvents` function
// must exist first. One event subscription per watched subscription's system topic (created by
// main.bicep). Deploy: az deployment sub create --template-file infra/eventgrid.bicep ...
targetScope = 'subscription'

@description('Comma-separated watched subscription ids (main.bicep output SUBSCRIPTION_IDS).')
param watchedSubscriptionIdsCsv string
@description('Resource group of the system topic in each watched subscription (main.bicep output AZURE_RESOURCE_GROUP).')
param resourceGroupName string
@description('System topic name (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string
param functionAppResourceId string
param identityResourceId string
param storageAccountResourceId string
param deadLetterContainerName string = 'eventgrid-deadletters'
param eventSubscriptionName string = 'vm-power-events'

var watchedSubscriptionIds = filter(map(split(watchedSubscriptionIdsCsv, ','), id => trim(id)), id => !empty(id))

module eventSubscriptions 'app/event-subscription.bicep' = [
  for subscriptionId in watchedSubscriptionIds: {
    name: 'vmtimeline-events-${take(uniqueString(subscriptionId, systemTopicName), 8)}'
    scope: resourceGroup(subscriptionId, resourceGroupName)
    params: {
      systemTopicName: systemTopicName
      eventSubscriptionName: eventSubscriptionName
      functionAppResourceId: functionAppResourceId
      identityResourceId: identityResourceId
      storageAccountResourceId: storageAccountResourceId
      deadLetterContainerName: deadLetterContainerName
    }
  }
]

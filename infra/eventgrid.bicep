// Second deployment, run by azd's postdeploy hook (infra/scripts/postdeploy.sh|ps1) once the code is
// deployed: an Event Grid subscription validates its endpoint when created, so the `vmEvents` function
// must exist first. Per watched subscription, two event subscriptions to `vmEvents`: one on the resource
// events' system topic (Microsoft.Resources.Subscriptions) and one on the Resource Health system topic
// (Microsoft.ResourceNotifications.HealthResources). Each topic is ours (created by main.bicep) or, when
// one of that source and type already existed (Azure allows only one), that existing topic, reused.
// Deploy: az deployment sub create --template-file infra/eventgrid.bicep ...
targetScope = 'subscription'

@description('Comma-separated watched subscription ids (main.bicep output SUBSCRIPTION_IDS).')
param watchedSubscriptionIdsCsv string
@description('Resource group of the system topic in each watched subscription (main.bicep output AZURE_RESOURCE_GROUP).')
param resourceGroupName string
@description('System topic name (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string
@description('Resource Health system topic name (main.bicep output EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME).')
param healthSystemTopicName string
@description('Existing system topics reused instead of ours (azd env EXISTING_SYSTEM_TOPICS: "<topicType>|<resource id>", comma-separated).')
param existingSystemTopicsCsv string = ''
param functionAppResourceId string
param identityResourceId string
param storageAccountResourceId string
param deadLetterContainerName string = 'eventgrid-deadletters'
param eventSubscriptionName string = 'vm-power-events'
param healthEventSubscriptionName string = 'vm-health-events'

var watchedSubscriptionIds = filter(map(split(watchedSubscriptionIdsCsv, ','), id => trim(id)), id => !empty(id))
var existingTopics = filter(map(split(existingSystemTopicsCsv, ','), entry => trim(entry)), entry => contains(entry, '|'))

// Existing topics by "<topic type>|<subscription id>" (lower-cased) → resource id (no lambda sees a loop variable).
var existingByTypeAndSubscription = toObject(
  existingTopics,
  entry => toLower('${split(entry, '|')[0]}|${split(split(entry, '|')[1], '/')[2]}'),
  entry => split(entry, '|')[1]
)

// Per watched subscription and topic type: the existing topic's id, or '' for ours.
var targets = [
  for subscriptionId in watchedSubscriptionIds: {
    subscriptionId: subscriptionId
    resources: contains(existingByTypeAndSubscription, toLower('microsoft.resources.subscriptions|${subscriptionId}'))
      ? existingByTypeAndSubscription[toLower('microsoft.resources.subscriptions|${subscriptionId}')]
      : ''
    health: contains(existingByTypeAndSubscription, toLower('microsoft.resourcenotifications.healthresources|${subscriptionId}'))
      ? existingByTypeAndSubscription[toLower('microsoft.resourcenotifications.healthresources|${subscriptionId}')]
      : ''
  }
]

module eventSubscriptions 'app/event-subscription.bicep' = [
  for target in targets: {
    name: 'vmtimeline-events-${take(uniqueString(target.subscriptionId, systemTopicName), 8)}'
    scope: resourceGroup(target.subscriptionId, empty(target.resources) ? resourceGroupName : split(target.resources, '/')[4])
    params: {
      systemTopicName: empty(target.resources) ? systemTopicName : last(split(target.resources, '/'))
      eventSubscriptionName: eventSubscriptionName
      functionAppResourceId: functionAppResourceId
      identityResourceId: identityResourceId
      storageAccountResourceId: storageAccountResourceId
      deadLetterContainerName: deadLetterContainerName
      deadLetterWithAppIdentity: empty(target.resources)
    }
  }
]

module healthEventSubscriptions 'app/health-event-subscription.bicep' = [
  for target in targets: {
    name: 'vmtimeline-health-${take(uniqueString(target.subscriptionId, healthSystemTopicName), 8)}'
    scope: resourceGroup(target.subscriptionId, empty(target.health) ? resourceGroupName : split(target.health, '/')[4])
    params: {
      systemTopicName: empty(target.health) ? healthSystemTopicName : last(split(target.health, '/'))
      eventSubscriptionName: healthEventSubscriptionName
      functionAppResourceId: functionAppResourceId
      identityResourceId: identityResourceId
      storageAccountResourceId: storageAccountResourceId
      deadLetterContainerName: deadLetterContainerName
      deadLetterWithAppIdentity: empty(target.health)
    }
  }
]

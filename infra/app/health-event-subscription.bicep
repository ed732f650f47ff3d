// The event subscription from one watched subscription's Resource Health system topic
// (Microsoft.ResourceNotifications.HealthResources) to the `vmEvents` function: annotations (a guest
// shutdown, a host crash, a Spot eviction) and availability changes of VMs and scale-set VMs; the app skips
// other resource types (src/domain/health.ts). Event Grid schema; 30 attempts over 24 hours, then dead
// letters to blob storage with the app's identity, which our own topics carry. A reused topic (one that
// existed before, see README "Resource Health") may not carry it: its event subscription dead-letters only
// when `deadLetterWithAppIdentity` is true.
// Creating it needs Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action.
param systemTopicName string
param eventSubscriptionName string
@description('Resource id of the Function App (any subscription of the tenant).')
param functionAppResourceId string
param identityResourceId string
param storageAccountResourceId string
param deadLetterContainerName string
@description('The topic carries the app\'s user-assigned identity (our own topic).')
param deadLetterWithAppIdentity bool = true

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource healthEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: eventSubscriptionName
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppResourceId}/functions/vmEvents'
        maxEventsPerBatch: 10
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated'
        'Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: deadLetterWithAppIdentity
      ? {
          identity: {
            type: 'UserAssigned'
            userAssignedIdentity: identityResourceId
          }
          deadLetterDestination: {
            endpointType: 'StorageBlob'
            properties: {
              resourceId: storageAccountResourceId
              blobContainerName: deadLetterContainerName
            }
          }
        }
      : null
  }
}

output resourceId string = healthEvents.id

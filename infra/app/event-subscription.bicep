// The event subscription from one watched subscription's system topic to the `vmEvents` function.
// - Event types: the nine resource events; success moves the timeline, failure / cancel record the
//   provisioning outcome (src/domain/events.ts).
// - Advanced filter: data.operationName begins with one of the two Compute providers the app maps
//   (VMs; scale sets and their instances). Event Grid's StringBeginsWith is case-insensitive. The
//   contract test (test/unit/infra-contract.test.ts) checks these against `mappedOperations`.
// - Event Grid schema (the app parses both it and CloudEvents 1.0).
// - Retries: 30 attempts over 24 hours, then dead letters to blob storage with the topic's identity.
param systemTopicName string
param eventSubscriptionName string
@description('Resource id of the Function App (any subscription of the tenant).')
param functionAppResourceId string
param identityResourceId string
param storageAccountResourceId string
param deadLetterContainerName string
@description('The topic carries the app\'s user-assigned identity (our own topic; a reused one may not).')
param deadLetterWithAppIdentity bool = true

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource vmEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
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
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceWriteFailure'
        'Microsoft.Resources.ResourceWriteCancel'
        'Microsoft.Resources.ResourceDeleteSuccess'
        'Microsoft.Resources.ResourceDeleteFailure'
        'Microsoft.Resources.ResourceDeleteCancel'
        'Microsoft.Resources.ResourceActionSuccess'
        'Microsoft.Resources.ResourceActionFailure'
        'Microsoft.Resources.ResourceActionCancel'
      ]
      enableAdvancedFilteringOnArrays: false
      advancedFilters: [
        {
          operatorType: 'StringBeginsWith'
          key: 'data.operationName'
          values: [
            'Microsoft.Compute/virtualMachines/'
            'Microsoft.Compute/virtualMachineScaleSets/'
          ]
        }
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

output resourceId string = vmEvents.id

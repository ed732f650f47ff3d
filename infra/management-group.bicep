// Management-group mode (WATCH_MANAGEMENT_GROUP): deployed at the management group by azd's postdeploy
// hook (infra/scripts/postdeploy.sh|ps1: az deployment mg create), after the code, because the event
// subscriptions it creates point at the `vmEvents` function, which Event Grid validates.
//
// - The app's identity reads every subscription under the group through the VM reader custom role (or
//   Reader), defined here with the group as its assignable scope and assigned once at the group; plus
//   the VM deallocator custom role when auto-deallocate is on. No Contributor or Owner anywhere.
// - An Azure Policy definition + assignment (DeployIfNotExists) creates, in every subscription under the
//   group (present and future), the `Microsoft.Resources.Subscriptions` system topic and the same event
//   subscription as app/event-subscription.bicep (same event types, filter, schema, retries, dead
//   letters; test/unit/infra-contract.test.ts checks it). The assignment has its own system-assigned
//   identity holding one custom role: what that deployment needs (deployments, resource groups, Event Grid
//   system topics and event subscriptions, assigning the app's identity to the topic), nothing else.
// - With `wireHealthEvents` (on by default, as the per-subscription infra always wires Resource Health): a
//   second DeployIfNotExists policy creates the `Microsoft.ResourceNotifications.HealthResources` system
//   topic and the same event subscription as app/health-event-subscription.bicep. Its assignment has its
//   own identity and role: the first one's actions plus
//   `Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action`, nothing else. A
//   separate policy (not a second resource in the first template) so that each has its own existence
//   check: turning health on later wires the subscriptions already compliant for resource events.
// - One system topic per source and type (Azure's rule): each of these policies is compliant when the
//   subscription has a topic of its type under any name (existence check on topicType and source, no
//   name), so it never tries a second one. A reuse policy per topic type (DeployIfNotExists on
//   `Microsoft.EventGrid/systemTopics` of that type) adds our event subscription to a topic that exists
//   already (a customer's or a vendor's), as the per-subscription infra does with EXISTING_SYSTEM_TOPICS.
//   Its assignment has its own identity holding the same deployer role as the policy of that type.
// - A remediation task per policy deploys it to the subscriptions (and topics) that exist today.
targetScope = 'managementGroup'

@description('Region of the policy assignment identity and of the DeployIfNotExists deployments.')
param location string
@description('Principal id of the app\'s user-assigned identity (main.bicep output).')
param identityPrincipalId string
@description('Resource id of the app\'s user-assigned identity: the system topics carry it to dead-letter with it.')
param identityResourceId string
@description('Resource id of the Function App (its `vmEvents` function receives the events).')
param functionAppResourceId string
@description('Storage account of the dead-letter container.')
param storageAccountResourceId string
param deadLetterContainerName string = 'eventgrid-deadletters'
@description('Resource group created in each subscription for its system topic (main.bicep output AZURE_RESOURCE_GROUP).')
param resourceGroupName string
@description('System topic name (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME) where a subscription has none; a subscription that has one under another name gets our event subscription on it (the reuse policy).')
param systemTopicName string
param eventSubscriptionName string = 'vm-power-events'
@description('Resource Health system topic name (main.bicep output EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME).')
param healthSystemTopicName string
param healthEventSubscriptionName string = 'vm-health-events'
@description('Also wire Resource Health events (HealthResources system topic and event subscription) in every subscription.')
param wireHealthEvents bool = true
@description('Read with the VM reader custom role (true) or the built-in Reader (false).')
param useCustomReadRole bool = true
@description('Assign the VM deallocator custom role at the group (auto-deallocate on).')
param grantVirtualMachineDeallocate bool = false
@description('Makes the custom role and policy names unique in the tenant (environment name and resource token).')
param nameSuffix string
@description('Start a remediation task for the subscriptions that exist today.')
param remediateExisting bool = true

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader: read everything (WATCHED_READ_ROLE=Reader only)

// As in app/watched-subscription.bicep, plus the management group descendants listing the reconcile timer
// makes (src/adapters/arm.ts listManagementGroupSubscriptions).
var vmReaderActions = [
  'Microsoft.Compute/*/read'
  'Microsoft.Resources/subscriptions/read'
  'Microsoft.Management/managementGroups/read'
  'Microsoft.Management/managementGroups/descendants/read'
  'Microsoft.Insights/eventtypes/values/read'
  'Microsoft.Insights/metrics/read'
  'Microsoft.Insights/metricDefinitions/read'
  'Microsoft.ResourceHealth/availabilityStatuses/read'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
]
var vmDeallocatorActions = [
  'Microsoft.Compute/virtualMachines/read'
  'Microsoft.Compute/virtualMachines/instanceView/read'
  'Microsoft.Compute/virtualMachines/deallocate/action'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action'
  'Microsoft.Compute/locations/operations/read'
]
// What the policy's deployment does in a subscription: a subscription-scope deployment that creates the
// resource group, and in it a nested deployment of the system topic (carrying the app's identity) and
// its event subscription to the function, dead-lettering to the app's storage account.
var eventWiringDeployerActions = [
  'Microsoft.Resources/deployments/read'
  'Microsoft.Resources/deployments/write'
  'Microsoft.Resources/deployments/validate/action'
  'Microsoft.Resources/deployments/operationStatuses/read'
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.Resources/subscriptions/resourceGroups/write'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/write'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/write'
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
  'Microsoft.Web/sites/read'
  'Microsoft.Web/sites/functions/read'
  'Microsoft.Storage/storageAccounts/read'
]
// The health policy's deployment: the same, plus subscribing to HealthResources (which Event Grid checks
// when the event subscription on a HealthResources topic is created).
var healthWiringDeployerActions = [
  'Microsoft.Resources/deployments/read'
  'Microsoft.Resources/deployments/write'
  'Microsoft.Resources/deployments/validate/action'
  'Microsoft.Resources/deployments/operationStatuses/read'
  'Microsoft.Resources/subscriptions/resourceGroups/read'
  'Microsoft.Resources/subscriptions/resourceGroups/write'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/write'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/write'
  'Microsoft.ResourceNotifications/systemTopics/subscribeToHealthResources/action'
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action'
  'Microsoft.Web/sites/read'
  'Microsoft.Web/sites/functions/read'
  'Microsoft.Storage/storageAccounts/read'
]

resource vmReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomReadRole) {
  name: guid(managementGroup().id, nameSuffix, 'vm-reader')
  properties: {
    roleName: 'VM Billing Timeline VM Reader (${nameSuffix}, ${managementGroup().name})'
    description: 'vm-billing-timeline: list the group\'s subscriptions; read VMs, scale sets and their instances, instance views, the Activity Log, metrics and Resource Health; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: vmReaderActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id // assignable at the group and everything under it
    ]
  }
}

resource vmDeallocatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (grantVirtualMachineDeallocate) {
  name: guid(managementGroup().id, nameSuffix, 'vm-deallocator')
  properties: {
    roleName: 'VM Billing Timeline VM Deallocator (${nameSuffix}, ${managementGroup().name})'
    description: 'vm-billing-timeline auto-deallocate: read and deallocate VMs and scale-set VMs; no start, write, delete, extensions or Run Command.'
    type: 'CustomRole'
    permissions: [
      {
        actions: vmDeallocatorActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource eventWiringDeployerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, nameSuffix, 'event-wiring-deployer')
  properties: {
    roleName: 'VM Billing Timeline Event Wiring Deployer (${nameSuffix}, ${managementGroup().name})'
    description: 'vm-billing-timeline policy remediation: create the subscription Event Grid system topic and its event subscription to the app; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: eventWiringDeployerActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource healthWiringDeployerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (wireHealthEvents) {
  name: guid(managementGroup().id, nameSuffix, 'health-wiring-deployer')
  properties: {
    roleName: 'VM Billing Timeline Health Wiring Deployer (${nameSuffix}, ${managementGroup().name})'
    description: 'vm-billing-timeline policy remediation: create the subscription Resource Health system topic and its event subscription to the app; nothing else.'
    type: 'CustomRole'
    permissions: [
      {
        actions: healthWiringDeployerActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      managementGroup().id
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useCustomReadRole) {
  name: guid(managementGroup().id, identityPrincipalId, reader)
  properties: {
    roleDefinitionId: tenantResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useCustomReadRole) {
  name: guid(managementGroup().id, identityPrincipalId, vmReaderRole.id)
  properties: {
    roleDefinitionId: vmReaderRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmDeallocatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantVirtualMachineDeallocate) {
  name: guid(managementGroup().id, identityPrincipalId, vmDeallocatorRole.id)
  properties: {
    roleDefinitionId: vmDeallocatorRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The template the policy deploys in each subscription (ARM JSON; `[...]` strings are ARM expressions
// evaluated when the policy deploys; Bicep escapes them as `[[` in this definition).
var eventWiringTemplate = {
  '$schema': 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#'
  contentVersion: '1.0.0.0'
  parameters: {
    location: { type: 'string' }
    resourceGroupName: { type: 'string' }
    systemTopicName: { type: 'string' }
    eventSubscriptionName: { type: 'string' }
    functionAppResourceId: { type: 'string' }
    identityResourceId: { type: 'string' }
    storageAccountResourceId: { type: 'string' }
    deadLetterContainerName: { type: 'string' }
  }
  resources: [
    {
      type: 'Microsoft.Resources/resourceGroups'
      apiVersion: '2021-04-01'
      name: '[parameters(\'resourceGroupName\')]'
      location: '[parameters(\'location\')]'
    }
    {
      type: 'Microsoft.Resources/deployments'
      apiVersion: '2021-04-01'
      name: 'vmtimeline-event-wiring'
      resourceGroup: '[parameters(\'resourceGroupName\')]'
      dependsOn: [
        '[resourceId(\'Microsoft.Resources/resourceGroups\', parameters(\'resourceGroupName\'))]'
      ]
      properties: {
        mode: 'Incremental'
        expressionEvaluationOptions: { scope: 'inner' }
        parameters: {
          systemTopicName: { value: '[parameters(\'systemTopicName\')]' }
          eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
          functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
          identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
          storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
          deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
        }
        template: {
          '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
          contentVersion: '1.0.0.0'
          parameters: {
            systemTopicName: { type: 'string' }
            eventSubscriptionName: { type: 'string' }
            functionAppResourceId: { type: 'string' }
            identityResourceId: { type: 'string' }
            storageAccountResourceId: { type: 'string' }
            deadLetterContainerName: { type: 'string' }
          }
          resources: [
            {
              // As app/system-topic.bicep.
              type: 'Microsoft.EventGrid/systemTopics'
              apiVersion: '2022-06-15'
              name: '[parameters(\'systemTopicName\')]'
              location: 'global'
              identity: {
                type: 'UserAssigned'
                userAssignedIdentities: {
                  '[parameters(\'identityResourceId\')]': {}
                }
              }
              properties: {
                source: '[subscription().id]'
                topicType: 'Microsoft.Resources.Subscriptions'
              }
            }
            {
              // As app/event-subscription.bicep (the contract test compares the two).
              type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
              apiVersion: '2022-06-15'
              name: '[format(\'{0}/{1}\', parameters(\'systemTopicName\'), parameters(\'eventSubscriptionName\'))]'
              dependsOn: [
                '[resourceId(\'Microsoft.EventGrid/systemTopics\', parameters(\'systemTopicName\'))]'
              ]
              properties: {
                destination: {
                  endpointType: 'AzureFunction'
                  properties: {
                    resourceId: '[format(\'{0}/functions/vmEvents\', parameters(\'functionAppResourceId\'))]'
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
                deadLetterWithResourceIdentity: {
                  identity: {
                    type: 'UserAssigned'
                    userAssignedIdentity: '[parameters(\'identityResourceId\')]'
                  }
                  deadLetterDestination: {
                    endpointType: 'StorageBlob'
                    properties: {
                      resourceId: '[parameters(\'storageAccountResourceId\')]'
                      blobContainerName: '[parameters(\'deadLetterContainerName\')]'
                    }
                  }
                }
              }
            }
          ]
        }
      }
    }
  ]
}

var healthWiringTemplate = {
  '$schema': 'https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#'
  contentVersion: '1.0.0.0'
  parameters: {
    location: { type: 'string' }
    resourceGroupName: { type: 'string' }
    systemTopicName: { type: 'string' }
    eventSubscriptionName: { type: 'string' }
    functionAppResourceId: { type: 'string' }
    identityResourceId: { type: 'string' }
    storageAccountResourceId: { type: 'string' }
    deadLetterContainerName: { type: 'string' }
  }
  resources: [
    {
      type: 'Microsoft.Resources/resourceGroups'
      apiVersion: '2021-04-01'
      name: '[parameters(\'resourceGroupName\')]'
      location: '[parameters(\'location\')]'
    }
    {
      type: 'Microsoft.Resources/deployments'
      apiVersion: '2021-04-01'
      name: 'vmtimeline-health-wiring'
      resourceGroup: '[parameters(\'resourceGroupName\')]'
      dependsOn: [
        '[resourceId(\'Microsoft.Resources/resourceGroups\', parameters(\'resourceGroupName\'))]'
      ]
      properties: {
        mode: 'Incremental'
        expressionEvaluationOptions: { scope: 'inner' }
        parameters: {
          systemTopicName: { value: '[parameters(\'systemTopicName\')]' }
          eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
          functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
          identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
          storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
          deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
        }
        template: {
          '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
          contentVersion: '1.0.0.0'
          parameters: {
            systemTopicName: { type: 'string' }
            eventSubscriptionName: { type: 'string' }
            functionAppResourceId: { type: 'string' }
            identityResourceId: { type: 'string' }
            storageAccountResourceId: { type: 'string' }
            deadLetterContainerName: { type: 'string' }
          }
          resources: [
            {
              // As app/system-topic.bicep with topicType HealthResources.
              type: 'Microsoft.EventGrid/systemTopics'
              apiVersion: '2022-06-15'
              name: '[parameters(\'systemTopicName\')]'
              location: 'global'
              identity: {
                type: 'UserAssigned'
                userAssignedIdentities: {
                  '[parameters(\'identityResourceId\')]': {}
                }
              }
              properties: {
                source: '[subscription().id]'
                topicType: 'Microsoft.ResourceNotifications.HealthResources'
              }
            }
            {
              // As app/health-event-subscription.bicep (the contract test compares the two).
              type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
              apiVersion: '2022-06-15'
              name: '[format(\'{0}/{1}\', parameters(\'systemTopicName\'), parameters(\'eventSubscriptionName\'))]'
              dependsOn: [
                '[resourceId(\'Microsoft.EventGrid/systemTopics\', parameters(\'systemTopicName\'))]'
              ]
              properties: {
                destination: {
                  endpointType: 'AzureFunction'
                  properties: {
                    resourceId: '[format(\'{0}/functions/vmEvents\', parameters(\'functionAppResourceId\'))]'
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
                deadLetterWithResourceIdentity: {
                  identity: {
                    type: 'UserAssigned'
                    userAssignedIdentity: '[parameters(\'identityResourceId\')]'
                  }
                  deadLetterDestination: {
                    endpointType: 'StorageBlob'
                    properties: {
                      resourceId: '[parameters(\'storageAccountResourceId\')]'
                      blobContainerName: '[parameters(\'deadLetterContainerName\')]'
                    }
                  }
                }
              }
            }
          ]
        }
      }
    }
  ]
}

// The reuse policy's template for a Microsoft.Resources.Subscriptions topic.
// Deployed into the resource group of a system topic that already exists (of any name: a customer's or a
// vendor's; Azure allows one per source and type), it adds our event subscription to that topic. The
// event subscription is the per-subscription one (app/event-subscription.bicep with its
// `deadLetterWithAppIdentity`): a topic not carrying the app's identity gets no dead-lettering.
var eventReuseWiringTemplate = {
  '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
  contentVersion: '1.0.0.0'
  parameters: {
    systemTopicName: { type: 'string' }
    eventSubscriptionName: { type: 'string' }
    functionAppResourceId: { type: 'string' }
    identityResourceId: { type: 'string' }
    storageAccountResourceId: { type: 'string' }
    deadLetterContainerName: { type: 'string' }
    deadLetterWithAppIdentity: { type: 'bool' }
  }
  variables: {
    deadLetterWithAppIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: '[parameters(\'identityResourceId\')]'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: '[parameters(\'storageAccountResourceId\')]'
          blobContainerName: '[parameters(\'deadLetterContainerName\')]'
        }
      }
    }
  }
  resources: [
    {
      type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
      apiVersion: '2022-06-15'
      name: '[format(\'{0}/{1}\', parameters(\'systemTopicName\'), parameters(\'eventSubscriptionName\'))]'
      properties: {
        destination: {
          endpointType: 'AzureFunction'
          properties: {
            resourceId: '[format(\'{0}/functions/vmEvents\', parameters(\'functionAppResourceId\'))]'
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
        deadLetterWithResourceIdentity: '[if(parameters(\'deadLetterWithAppIdentity\'), variables(\'deadLetterWithAppIdentity\'), null())]'
      }
    }
  ]
}

// The reuse policy's template for a Microsoft.ResourceNotifications.HealthResources topic.
// Deployed into the resource group of a system topic that already exists (of any name: a customer's or a
// vendor's; Azure allows one per source and type), it adds our event subscription to that topic. The
// event subscription is the per-subscription one (app/health-event-subscription.bicep with its
// `deadLetterWithAppIdentity`): a topic not carrying the app's identity gets no dead-lettering.
var healthReuseWiringTemplate = {
  '$schema': 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'
  contentVersion: '1.0.0.0'
  parameters: {
    systemTopicName: { type: 'string' }
    eventSubscriptionName: { type: 'string' }
    functionAppResourceId: { type: 'string' }
    identityResourceId: { type: 'string' }
    storageAccountResourceId: { type: 'string' }
    deadLetterContainerName: { type: 'string' }
    deadLetterWithAppIdentity: { type: 'bool' }
  }
  variables: {
    deadLetterWithAppIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: '[parameters(\'identityResourceId\')]'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: '[parameters(\'storageAccountResourceId\')]'
          blobContainerName: '[parameters(\'deadLetterContainerName\')]'
        }
      }
    }
  }
  resources: [
    {
      type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
      apiVersion: '2022-06-15'
      name: '[format(\'{0}/{1}\', parameters(\'systemTopicName\'), parameters(\'eventSubscriptionName\'))]'
      properties: {
        destination: {
          endpointType: 'AzureFunction'
          properties: {
            resourceId: '[format(\'{0}/functions/vmEvents\', parameters(\'functionAppResourceId\'))]'
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
        deadLetterWithResourceIdentity: '[if(parameters(\'deadLetterWithAppIdentity\'), variables(\'deadLetterWithAppIdentity\'), null())]'
      }
    }
  ]
}

resource eventWiringPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: guid(managementGroup().id, nameSuffix, 'event-wiring')
  properties: {
    displayName: 'VM Billing Timeline: subscription events to the app (${nameSuffix})'
    description: 'Creates in each subscription the Microsoft.Resources.Subscriptions Event Grid system topic and the event subscription that sends VM power events to the vm-billing-timeline vmEvents function.'
    policyType: 'Custom'
    mode: 'All'
    parameters: {
      location: { type: 'String' }
      resourceGroupName: { type: 'String' }
      systemTopicName: { type: 'String' }
      eventSubscriptionName: { type: 'String' }
      functionAppResourceId: { type: 'String' }
      identityResourceId: { type: 'String' }
      storageAccountResourceId: { type: 'String' }
      deadLetterContainerName: { type: 'String' }
    }
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          // Compliant when the subscription has a system topic of this type, whatever its name and
          // resource group (one per source and type): ours, or one the reuse policy below wires.
          type: 'Microsoft.EventGrid/systemTopics'
          existenceScope: 'subscription'
          existenceCondition: {
            allOf: [
              {
                field: 'Microsoft.EventGrid/systemTopics/topicType'
                equals: 'Microsoft.Resources.Subscriptions'
              }
              {
                field: 'Microsoft.EventGrid/systemTopics/source'
                equals: '[subscription().id]'
              }
            ]
          }
          deploymentScope: 'subscription'
          roleDefinitionIds: [
            eventWiringDeployerRole.id
          ]
          deployment: {
            location: '[parameters(\'location\')]'
            properties: {
              mode: 'incremental'
              template: eventWiringTemplate
              parameters: {
                location: { value: '[parameters(\'location\')]' }
                resourceGroupName: { value: '[parameters(\'resourceGroupName\')]' }
                systemTopicName: { value: '[parameters(\'systemTopicName\')]' }
                eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
                functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
                identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
                storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
                deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
              }
            }
          }
        }
      }
    }
  }
}

resource eventWiringAssignment 'Microsoft.Authorization/policyAssignments@2023-04-01' = {
  name: take(guid(managementGroup().id, nameSuffix, 'event-wiring'), 24) // at most 24 characters at this scope
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'VM Billing Timeline: subscription events to the app (${nameSuffix})'
    policyDefinitionId: eventWiringPolicy.id
    parameters: {
      location: { value: location }
      resourceGroupName: { value: resourceGroupName }
      systemTopicName: { value: systemTopicName }
      eventSubscriptionName: { value: eventSubscriptionName }
      functionAppResourceId: { value: functionAppResourceId }
      identityResourceId: { value: identityResourceId }
      storageAccountResourceId: { value: storageAccountResourceId }
      deadLetterContainerName: { value: deadLetterContainerName }
    }
  }
}

resource healthWiringPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = if (wireHealthEvents) {
  name: guid(managementGroup().id, nameSuffix, 'health-wiring')
  properties: {
    displayName: 'VM Billing Timeline: Resource Health events to the app (${nameSuffix})'
    description: 'Creates in each subscription the Microsoft.ResourceNotifications.HealthResources Event Grid system topic and the event subscription that sends Resource Health events to the vm-billing-timeline vmEvents function.'
    policyType: 'Custom'
    mode: 'All'
    parameters: {
      location: { type: 'String' }
      resourceGroupName: { type: 'String' }
      systemTopicName: { type: 'String' }
      eventSubscriptionName: { type: 'String' }
      functionAppResourceId: { type: 'String' }
      identityResourceId: { type: 'String' }
      storageAccountResourceId: { type: 'String' }
      deadLetterContainerName: { type: 'String' }
    }
    policyRule: {
      if: {
        field: 'type'
        equals: 'Microsoft.Resources/subscriptions'
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          // Compliant when the subscription has a system topic of this type, whatever its name and
          // resource group (one per source and type): ours, or one the reuse policy below wires.
          type: 'Microsoft.EventGrid/systemTopics'
          existenceScope: 'subscription'
          existenceCondition: {
            allOf: [
              {
                field: 'Microsoft.EventGrid/systemTopics/topicType'
                equals: 'Microsoft.ResourceNotifications.HealthResources'
              }
              {
                field: 'Microsoft.EventGrid/systemTopics/source'
                equals: '[subscription().id]'
              }
            ]
          }
          deploymentScope: 'subscription'
          roleDefinitionIds: [
            healthWiringDeployerRole.id
          ]
          deployment: {
            location: '[parameters(\'location\')]'
            properties: {
              mode: 'incremental'
              template: healthWiringTemplate
              parameters: {
                location: { value: '[parameters(\'location\')]' }
                resourceGroupName: { value: '[parameters(\'resourceGroupName\')]' }
                systemTopicName: { value: '[parameters(\'systemTopicName\')]' }
                eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
                functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
                identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
                storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
                deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
              }
            }
          }
        }
      }
    }
  }
}

resource healthWiringAssignment 'Microsoft.Authorization/policyAssignments@2023-04-01' = if (wireHealthEvents) {
  name: take(guid(managementGroup().id, nameSuffix, 'health-wiring'), 24) // at most 24 characters at this scope
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'VM Billing Timeline: Resource Health events to the app (${nameSuffix})'
    policyDefinitionId: healthWiringPolicy.id
    parameters: {
      location: { value: location }
      resourceGroupName: { value: resourceGroupName }
      systemTopicName: { value: healthSystemTopicName }
      eventSubscriptionName: { value: healthEventSubscriptionName }
      functionAppResourceId: { value: functionAppResourceId }
      identityResourceId: { value: identityResourceId }
      storageAccountResourceId: { value: storageAccountResourceId }
      deadLetterContainerName: { value: deadLetterContainerName }
    }
  }
}

// The assignment's own identity: only the event wiring deployer role, at the group.
resource eventWiringDeployerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, eventWiringAssignment.id, eventWiringDeployerRole.id)
  properties: {
    roleDefinitionId: eventWiringDeployerRole.id
    principalId: eventWiringAssignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// The health assignment's own identity: only the health wiring deployer role, at the group.
resource healthWiringDeployerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (wireHealthEvents) {
  name: guid(managementGroup().id, healthWiringAssignment.id, healthWiringDeployerRole.id)
  properties: {
    roleDefinitionId: healthWiringDeployerRole.id
    principalId: healthWiringAssignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Deploys the wiring to the subscriptions already under the group. At management group scope a
// remediation remediates resources already evaluated non-compliant (ExistingNonCompliant): right after
// the first deployment the compliance scan may not have run yet; re-run the postdeploy hook later (or
// `az policy remediation create`) to cover them. New subscriptions are deployed to as they are created.
resource remediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (remediateExisting) {
  name: 'vmtimeline-event-wiring-${uniqueString(deployment().name)}'
  dependsOn: [
    eventWiringDeployerAssignment
  ]
  properties: {
    policyAssignmentId: eventWiringAssignment.id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
}

resource healthRemediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (remediateExisting && wireHealthEvents) {
  name: 'vmtimeline-health-wiring-${uniqueString(deployment().name)}'
  dependsOn: [
    healthWiringDeployerAssignment
  ]
  properties: {
    policyAssignmentId: healthWiringAssignment.id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
}

// The reuse policy (subscription events): a Microsoft.Resources.Subscriptions system topic that already exists under any name (a
// customer's or a vendor's; Azure allows one per source and type, so the policy above finds it and creates
// none) gets our event subscription. Its existence check is our event subscription on that topic; the
// deployment goes to the topic's resource group. Our own topic (created above with our event subscription)
// is compliant; should our event subscription be deleted, this re-creates it, dead-lettering with the
// app's identity only on our own topic (the one named like ours carries that identity).
resource eventReuseWiringPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = {
  name: guid(managementGroup().id, nameSuffix, 'event-wiring-reuse')
  properties: {
    displayName: 'VM Billing Timeline: subscription events from an existing system topic to the app (${nameSuffix})'
    description: 'Adds to each existing Microsoft.Resources.Subscriptions Event Grid system topic, whatever its name, the event subscription that sends subscription events to the vm-billing-timeline vmEvents function.'
    policyType: 'Custom'
    mode: 'All'
    parameters: {
      systemTopicName: { type: 'String' }
      eventSubscriptionName: { type: 'String' }
      functionAppResourceId: { type: 'String' }
      identityResourceId: { type: 'String' }
      storageAccountResourceId: { type: 'String' }
      deadLetterContainerName: { type: 'String' }
    }
    policyRule: {
      if: {
        allOf: [
          {
            field: 'type'
            equals: 'Microsoft.EventGrid/systemTopics'
          }
          {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: 'Microsoft.Resources.Subscriptions'
          }
        ]
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          // A child of the evaluated topic: looked up under it by its name.
          type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
          name: '[parameters(\'eventSubscriptionName\')]'
          roleDefinitionIds: [
            eventWiringDeployerRole.id
          ]
          deployment: {
            properties: {
              mode: 'incremental'
              template: eventReuseWiringTemplate
              parameters: {
                systemTopicName: { value: '[field(\'name\')]' }
                eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
                functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
                identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
                storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
                deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
                deadLetterWithAppIdentity: { value: '[equals(toLower(field(\'name\')), toLower(parameters(\'systemTopicName\')))]' }
              }
            }
          }
        }
      }
    }
  }
}

resource eventReuseWiringAssignment 'Microsoft.Authorization/policyAssignments@2023-04-01' = {
  name: take(guid(managementGroup().id, nameSuffix, 'event-wiring-reuse'), 24) // at most 24 characters at this scope
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'VM Billing Timeline: subscription events from an existing system topic to the app (${nameSuffix})'
    policyDefinitionId: eventReuseWiringPolicy.id
    parameters: {
      systemTopicName: { value: systemTopicName }
      eventSubscriptionName: { value: eventSubscriptionName }
      functionAppResourceId: { value: functionAppResourceId }
      identityResourceId: { value: identityResourceId }
      storageAccountResourceId: { value: storageAccountResourceId }
      deadLetterContainerName: { value: deadLetterContainerName }
    }
  }
}

// The reuse assignment's own identity: the same deployer role, at the group.
resource eventReuseWiringDeployerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, eventReuseWiringAssignment.id, eventWiringDeployerRole.id)
  properties: {
    roleDefinitionId: eventWiringDeployerRole.id
    principalId: eventReuseWiringAssignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource eventReuseRemediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (remediateExisting) {
  name: 'vmtimeline-event-wiring-reuse-${uniqueString(deployment().name)}'
  dependsOn: [
    eventReuseWiringDeployerAssignment
  ]
  properties: {
    policyAssignmentId: eventReuseWiringAssignment.id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
}

// The reuse policy (Resource Health events): a Microsoft.ResourceNotifications.HealthResources system topic that already exists under any name (a
// customer's or a vendor's; Azure allows one per source and type, so the policy above finds it and creates
// none) gets our event subscription. Its existence check is our event subscription on that topic; the
// deployment goes to the topic's resource group. Our own topic (created above with our event subscription)
// is compliant; should our event subscription be deleted, this re-creates it, dead-lettering with the
// app's identity only on our own topic (the one named like ours carries that identity).
resource healthReuseWiringPolicy 'Microsoft.Authorization/policyDefinitions@2023-04-01' = if (wireHealthEvents) {
  name: guid(managementGroup().id, nameSuffix, 'health-wiring-reuse')
  properties: {
    displayName: 'VM Billing Timeline: Resource Health events from an existing system topic to the app (${nameSuffix})'
    description: 'Adds to each existing Microsoft.ResourceNotifications.HealthResources Event Grid system topic, whatever its name, the event subscription that sends Resource Health events to the vm-billing-timeline vmEvents function.'
    policyType: 'Custom'
    mode: 'All'
    parameters: {
      systemTopicName: { type: 'String' }
      eventSubscriptionName: { type: 'String' }
      functionAppResourceId: { type: 'String' }
      identityResourceId: { type: 'String' }
      storageAccountResourceId: { type: 'String' }
      deadLetterContainerName: { type: 'String' }
    }
    policyRule: {
      if: {
        allOf: [
          {
            field: 'type'
            equals: 'Microsoft.EventGrid/systemTopics'
          }
          {
            field: 'Microsoft.EventGrid/systemTopics/topicType'
            equals: 'Microsoft.ResourceNotifications.HealthResources'
          }
        ]
      }
      then: {
        effect: 'deployIfNotExists'
        details: {
          // A child of the evaluated topic: looked up under it by its name.
          type: 'Microsoft.EventGrid/systemTopics/eventSubscriptions'
          name: '[parameters(\'eventSubscriptionName\')]'
          roleDefinitionIds: [
            healthWiringDeployerRole.id
          ]
          deployment: {
            properties: {
              mode: 'incremental'
              template: healthReuseWiringTemplate
              parameters: {
                systemTopicName: { value: '[field(\'name\')]' }
                eventSubscriptionName: { value: '[parameters(\'eventSubscriptionName\')]' }
                functionAppResourceId: { value: '[parameters(\'functionAppResourceId\')]' }
                identityResourceId: { value: '[parameters(\'identityResourceId\')]' }
                storageAccountResourceId: { value: '[parameters(\'storageAccountResourceId\')]' }
                deadLetterContainerName: { value: '[parameters(\'deadLetterContainerName\')]' }
                deadLetterWithAppIdentity: { value: '[equals(toLower(field(\'name\')), toLower(parameters(\'systemTopicName\')))]' }
              }
            }
          }
        }
      }
    }
  }
}

resource healthReuseWiringAssignment 'Microsoft.Authorization/policyAssignments@2023-04-01' = if (wireHealthEvents) {
  name: take(guid(managementGroup().id, nameSuffix, 'health-wiring-reuse'), 24) // at most 24 characters at this scope
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    displayName: 'VM Billing Timeline: Resource Health events from an existing system topic to the app (${nameSuffix})'
    policyDefinitionId: healthReuseWiringPolicy.id
    parameters: {
      systemTopicName: { value: healthSystemTopicName }
      eventSubscriptionName: { value: healthEventSubscriptionName }
      functionAppResourceId: { value: functionAppResourceId }
      identityResourceId: { value: identityResourceId }
      storageAccountResourceId: { value: storageAccountResourceId }
      deadLetterContainerName: { value: deadLetterContainerName }
    }
  }
}

// The reuse assignment's own identity: the same deployer role, at the group.
resource healthReuseWiringDeployerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (wireHealthEvents) {
  name: guid(managementGroup().id, healthReuseWiringAssignment.id, healthWiringDeployerRole.id)
  properties: {
    roleDefinitionId: healthWiringDeployerRole.id
    principalId: healthReuseWiringAssignment.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource healthReuseRemediation 'Microsoft.PolicyInsights/remediations@2021-10-01' = if (remediateExisting && wireHealthEvents) {
  name: 'vmtimeline-health-wiring-reuse-${uniqueString(deployment().name)}'
  dependsOn: [
    healthReuseWiringDeployerAssignment
  ]
  properties: {
    policyAssignmentId: healthReuseWiringAssignment.id
    resourceDiscoveryMode: 'ExistingNonCompliant'
  }
}

output policyAssignmentId string = eventWiringAssignment.id
output policyAssignmentPrincipalId string = eventWiringAssignment.identity.principalId
output healthPolicyAssignmentId string = wireHealthEvents ? healthWiringAssignment.id : ''
output reusePolicyAssignmentId string = eventReuseWiringAssignment.id
output healthReusePolicyAssignmentId string = wireHealthEvents ? healthReuseWiringAssignment.id : ''

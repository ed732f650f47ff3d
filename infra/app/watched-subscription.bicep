// One watched subscription: the app's identity may read it, and may deallocate its VMs only when
// auto-deallocate is switched on. Both through custom roles defined here, assignable in this
// subscription and its resource groups (README "Security"):
// - the VM reader role (default; useCustomReadRole) instead of Reader: Compute reads, the subscription,
//   the Activity Log, metrics and Resource Health, and nothing of other resource providers;
// - the VM deallocator role instead of Virtual Machine Contributor (which includes Run Command, i.e.
//   code execution on every VM, and create / delete / extensions): VM and scale-set VM read and
//   deallocate, plus the Compute operation status the SDK polls while a deallocation runs.
// Its Event Grid system topic (Microsoft.Resources.Subscriptions) is created here; the event subscription
// to the function is created after deployment by eventgrid.bicep.
targetScope = 'subscription'

param identityPrincipalId string
param identityResourceId string
@description('Assign the VM deallocator custom role (auto-deallocate on).')
param grantVirtualMachineDeallocate bool = false
@description('Read with the VM reader custom role (true) or the built-in Reader (false).')
param useCustomReadRole bool = true
@description('Makes the custom role names unique in the tenant (environment name and resource token).')
param roleNameSuffix string
@description('Resource group of the system topic in this subscription.')
param resourceGroupName string
@description('Create the resource group (a watched subscription other than the deployment\'s).')
param createResourceGroup bool = false
param location string
param tags object = {}
param systemTopicName string
@description('Name of our Resource Health system topic (Microsoft.ResourceNotifications.HealthResources).')
param healthSystemTopicName string
@description('System topics that already exist (EXISTING_SYSTEM_TOPICS: "<topicType>|<resource id>", comma-separated); a type with one for this subscription is reused, not created.')
param existingSystemTopicsCsv string = ''

var sourcePrefix = toLower('${subscription().id}/')
var existingTopics = filter(
  map(split(existingSystemTopicsCsv, ','), entry => trim(entry)),
  entry => contains(entry, '|') && startsWith(toLower(split(entry, '|')[1]), sourcePrefix)
)
var hasResourcesTopic = length(filter(existingTopics, e => toLower(split(e, '|')[0]) == 'microsoft.resources.subscriptions')) > 0
var hasHealthTopic = length(filter(existingTopics, e => toLower(split(e, '|')[0]) == 'microsoft.resourcenotifications.healthresources')) > 0

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader: read everything in the subscription (WATCHED_READ_ROLE=Reader only)

// Action names as in "Azure permissions" (learn.microsoft.com/azure/role-based-access-control/permissions/
// compute, monitor, management-and-governance). Reads the app makes (src/adapters/arm.ts): VM list with
// statusOnly and full, instance views, scale sets, their instances and instance views, the subscription
// list; the Activity Log (eventtypes/management/values), metrics (metrics:getBatch); the Event Grid
// system topics and their event subscriptions (coverage's daily read of the event wiring; reads only).
var vmReaderActions = [
  'Microsoft.Compute/*/read'
  'Microsoft.Resources/subscriptions/read'
  'Microsoft.Insights/eventtypes/values/read'
  'Microsoft.Insights/metrics/read'
  'Microsoft.Insights/metricDefinitions/read'
  'Microsoft.ResourceHealth/availabilityStatuses/read'
  'Microsoft.EventGrid/systemTopics/read'
  'Microsoft.EventGrid/systemTopics/eventSubscriptions/read'
]
// Auto-deallocate (src/adapters/arm.ts deallocate): read the VM, deallocate it, poll the operation.
var vmDeallocatorActions = [
  'Microsoft.Compute/virtualMachines/read'
  'Microsoft.Compute/virtualMachines/instanceView/read'
  'Microsoft.Compute/virtualMachines/deallocate/action'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/instanceView/read'
  'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/deallocate/action'
  'Microsoft.Compute/locations/operations/read'
]

resource vmReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomReadRole) {
  name: guid(subscription().id, roleNameSuffix, 'vm-reader')
  properties: {
    roleName: 'VM Billing Timeline VM Reader (${roleNameSuffix}, ${subscription().subscriptionId})'
    description: 'vm-billing-timeline: read VMs, scale sets and their instances, instance views, the Activity Log, metrics and Resource Health; nothing else.'
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
      subscription().id // assignable at the subscription or any of its resource groups
    ]
  }
}

resource vmDeallocatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (grantVirtualMachineDeallocate) {
  name: guid(subscription().id, roleNameSuffix, 'vm-deallocator')
  properties: {
    roleName: 'VM Billing Timeline VM Deallocator (${roleNameSuffix}, ${subscription().subscriptionId})'
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
      subscription().id // assignable at the subscription or any of its resource groups
    ]
  }
}

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useCustomReadRole) {
  name: guid(subscription().id, identityPrincipalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useCustomReadRole) {
  name: guid(subscription().id, identityPrincipalId, vmReaderRole.id)
  properties: {
    roleDefinitionId: vmReaderRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmDeallocatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantVirtualMachineDeallocate) {
  name: guid(subscription().id, identityPrincipalId, vmDeallocatorRole.id)
  properties: {
    roleDefinitionId: vmDeallocatorRole.id
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource eventsGroup 'Microsoft.Resources/resourceGroups@2021-04-01' = if (createResourceGroup) {
  name: resourceGroupName
  location: location
  tags: tags
}

module systemTopic 'system-topic.bicep' = if (!hasResourcesTopic) {
  name: 'vmtimeline-system-topic'
  scope: resourceGroup(resourceGroupName)
  dependsOn: [
    eventsGroup
  ]
  params: {
    name: systemTopicName
    identityResourceId: identityResourceId
    tags: tags
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

// Resource Health events (guest shutdowns, platform stops: README "Resource Health").
module healthSystemTopic 'system-topic.bicep' = if (!hasHealthTopic) {
  name: 'vmtimeline-health-system-topic'
  scope: resourceGroup(resourceGroupName)
  dependsOn: [
    eventsGroup
  ]
  params: {
    name: healthSystemTopicName
    identityResourceId: identityResourceId
    tags: tags
    topicType: 'Microsoft.ResourceNotifications.HealthResources'
  }
}

output reusedResourcesTopic bool = hasResourcesTopic
output reusedHealthTopic bool = hasHealthTopic

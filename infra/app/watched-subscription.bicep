// One watched subscription: the app's identity may read it (Reader: VM lists and instance views), and
// may deallocate its VMs only when auto-deallocate is switched on (Virtual Machine Contributor). Its
// Event Grid system topic (Microsoft.Resources.Subscriptions) is created here; the event subscription to
// the function is created after deployment by eventgrid.bicep.
targetScope = 'subscription'

param identityPrincipalId string
param identityResourceId string
param grantVirtualMachineContributor bool = false
@description('Resource group of the system topic in this subscription.')
param resourceGroupName string
@description('Create the resource group (a watched subscription other than the deployment\'s).')
param createResourceGroup bool = false
param location string
param tags object = {}
param systemTopicName string

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader: list VMs (statusOnly), instance views, scale-set instances
var virtualMachineContributor = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c' // Virtual Machine Contributor: deallocate VMs (auto-deallocate only)

resource readerAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, identityPrincipalId, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource vmContributorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantVirtualMachineContributor) {
  name: guid(subscription().id, identityPrincipalId, virtualMachineContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', virtualMachineContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource eventsGroup 'Microsoft.Resources/resourceGroups@2021-04-01' = if (createResourceGroup) {
  name: resourceGroupName
  location: location
  tags: tags
}

module systemTopic 'system-topic.bicep' = {
  name: 'vmtimeline-system-topic'
  scope: resourceGroup(resourceGroupName)
  dependsOn: [
    eventsGroup
  ]
  params: {
    name: systemTopicName
    identityResourceId: identityResourceId
    tags: tags
  }
}

output systemTopicResourceId string = systemTopic.outputs.resourceId

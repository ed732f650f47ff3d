// The cost export's identity may write its files into the export container (nothing else). The app's
// identity reads them through the Storage Blob Data Owner role it holds on the account (rbac.bicep).
param storageAccountName string
param containerName string
param exportPrincipalId string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor: the cost export writes its files

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: containerName
}

resource exportWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, exportPrincipalId, storageBlobDataContributor)
  scope: container
  properties: {
    principalId: exportPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// Role assignments inside the app's resource group. Least privilege: data roles on the one storage
// account, metric publishing on the one App Insights component, sending on the one alert topic; the
// deploying user reads (tables, queue, dead letters) unless grantUserDataWrite asks for writers.
// Assignment names are guid(scope id, principal id, role id): deterministic and idempotent.
param storageAccountName string
param applicationInsightsName string
param alertTopicName string
@description('Principal id of the app\'s user-assigned identity.')
param identityPrincipalId string
@description('Object id of the deploying user; empty: no user assignments.')
param userPrincipalId string = ''
param userPrincipalType string = 'User'
@description('Give the deploying user the data writer roles (CLI ingest / reconcile against Azure) instead of the readers.')
param grantUserDataWrite bool = false

// Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor: timeline tables; host state
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor: reconcile-subscriptions queue trigger and output
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner: host storage (leases), deployment package, dead letters
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher: telemetry to App Insights with Entra ID (local auth off)
var eventGridDataSender = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender: publish alert CloudEvents to the custom topic
var storageTableDataReader = '76199698-9eea-4c19-bc75-cec21354c6b6' // Storage Table Data Reader: the user queries the tables (CLI timeline, usage, stopped)
var storageQueueDataReader = '19e7f393-937e-4f77-808e-94535e297925' // Storage Queue Data Reader: the user peeks the reconcile queue and its poison queue
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader: the user reads Event Grid dead letters
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor: the user writes blobs (grantUserDataWrite only)

var identityStorageRoles = [
  storageTableDataContributor
  storageQueueDataContributor
  storageBlobDataOwner
]
// The deploying user (`az login`): by default reads the tables, the queue and the dead letters (the CLI's
// timeline, usage and stopped; Storage Explorer). Writers (CLI ingest and reconcile against the deployed
// tables) only when grantUserDataWrite is true, instead of the readers.
var userReadRoles = [
  storageTableDataReader
  storageQueueDataReader
  storageBlobDataReader
]
var userWriteRoles = [
  storageTableDataContributor
  storageQueueDataContributor
  storageBlobDataContributor
]

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource alertTopic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: alertTopicName
}

resource identityStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in identityStorageRoles: {
    name: guid(storageAccount.id, identityPrincipalId, roleId)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource userStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in (empty(userPrincipalId) ? [] : (grantUserDataWrite ? userWriteRoles : userReadRoles)): {
    name: guid(storageAccount.id, userPrincipalId, roleId)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: userPrincipalId
      principalType: userPrincipalType
    }
  }
]

resource identityMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource identityAlertSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(alertTopic.id, identityPrincipalId, eventGridDataSender)
  scope: alertTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSender)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

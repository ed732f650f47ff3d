// Optional (ENABLE_COST_EXPORT): a daily FOCUS 1.0 cost export of one watched subscription, month to date,
// into a container of the app's storage account (README "Checking the timeline against the invoice").
// The `invoiceCheck` timer reads it (COST_EXPORT_CONTAINER). The export writes with its own
// system-assigned identity (the account allows no shared keys), granted Storage Blob Data Contributor on
// that container by cost-export-access.bicep.
targetScope = 'subscription'

@description('Export name (unique per subscription).')
param exportName string
@description('Resource id of the app\'s storage account.')
param storageAccountId string
param containerName string
param location string
@description('First day of the schedule (yyyy-MM-ddT00:00:00Z, in the future).')
param scheduleFrom string

// api-version 2023-07-01-preview: the first with the FocusCost dataset and identity-based delivery.
resource export 'Microsoft.CostManagement/exports@2023-07-01-preview' = {
  name: exportName
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    exportDescription: 'vm-billing-timeline: daily FOCUS cost export for the invoice check'
    format: 'Csv'
    compressionMode: 'gzip'
    dataOverwriteBehavior: 'OverwritePreviousReport'
    partitionData: true
    definition: {
      type: 'FocusCost'
      timeframe: 'MonthToDate'
      dataSet: {
        granularity: 'Daily'
        configuration: { dataVersion: '1.0' }
      }
    }
    deliveryInfo: {
      destination: {
        type: 'AzureBlob'
        resourceId: storageAccountId
        container: containerName
        rootFolderPath: subscription().subscriptionId
      }
    }
    schedule: {
      status: 'Active'
      recurrence: 'Daily'
      recurrencePeriod: { from: scheduleFrom, to: dateTimeAdd(scheduleFrom, 'P10Y') }
    }
  }
}

output principalId string = export.identity.principalId

// vm-billing-timeline: everything `azd provision` creates. Subscription scope, so that it can create the
// resource group and define and assign the read (and deallocate) roles on every watched subscription.
//
// Azure Verified Modules used (versions pinned; see README "Deployment"):
//   br/public:avm/res/managed-identity/user-assigned-identity:0.4.1
//   br/public:avm/res/storage/storage-account:0.8.3
//   br/public:avm/res/operational-insights/workspace:0.11.1
//   br/public:avm/res/insights/component:0.6.0
//   br/public:avm/res/web/serverfarm:0.1.1
//   br/public:avm/res/web/site:0.9.0 (in app/api.bicep)
// Event Grid, the alert rule, the custom role definitions and the role assignments are plain resources
// (app/*.bicep): they are small and their properties are the documented resource schema.
//
// The Event Grid event subscriptions to the `vmEvents` function are NOT created here: the function must
// exist first. azd's postdeploy hook deploys `eventgrid.bicep` with the outputs below.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to name the resource group and derive a unique token.')
param environmentName string

@minLength(1)
@description('Region of the resource group, the Function App (Flex Consumption) and the storage account.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID): gets the table, queue and blob data reader roles so the CLI can query with `az login` (writers with grantUserDataWrite). Empty: no user roles.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
@description('Principal type of principalId.')
param principalType string = 'User'

@description('Give the deploying user the table, queue and blob data writer roles instead of the readers (GRANT_USER_DATA_WRITE): needed for `vm-timeline ingest` / `reconcile` against the deployed tables.')
param grantUserDataWrite bool = false

@description('Comma-separated subscription ids to watch (azd env WATCHED_SUBSCRIPTION_IDS). Empty: the deployment subscription.')
param watchedSubscriptionIdsCsv string = ''
@description('System topics that already exist for the watched subscriptions (azd env EXISTING_SYSTEM_TOPICS, written by the preprovision hook: "<topicType>|<resource id>", comma-separated). Azure allows one per source and type: these are reused, not created.')
param existingSystemTopicsCsv string = ''

@description('Management group to watch (azd env WATCH_MANAGEMENT_GROUP): every subscription under it, present and future, is reconciled and gets the event wiring (Azure Policy). Exclusive with WATCHED_SUBSCRIPTION_IDS. Empty: subscription mode.')
param watchManagementGroup string = ''

var managementGroupMode = !empty(trim(watchManagementGroup))

// WATCH_MANAGEMENT_GROUP and WATCHED_SUBSCRIPTION_IDS together: the deployment fails on this expression, with
// the message as the value it cannot convert.
#disable-next-line no-unused-vars
var exclusiveWatchSettings = managementGroupMode && !empty(trim(watchedSubscriptionIdsCsv))
  ? int('WATCH_MANAGEMENT_GROUP and WATCHED_SUBSCRIPTION_IDS are exclusive: unset one (azd env set WATCHED_SUBSCRIPTION_IDS "")')
  : 0

@description('Subscriptions whose VMs are recorded: the read role and a subscription Event Grid system topic in each. In management-group mode: none (the group-scope module and the policy cover them).')
param watchedSubscriptionIds array = managementGroupMode
  ? []
  : empty(trim(watchedSubscriptionIdsCsv))
      ? [subscription().subscriptionId]
      : filter(map(split(watchedSubscriptionIdsCsv, ','), id => trim(id)), id => !empty(id))

@allowed(['VmReader', 'Reader'])
@description('Role of the app\'s identity on each watched subscription (WATCHED_READ_ROLE): VmReader, a custom role with Compute, Activity Log, metrics and Resource Health reads only; or the built-in Reader (everything readable).')
param watchedSubscriptionReadRole string = 'VmReader'

@description('Email address of the alert action group. Empty: the action group has no receiver.')
param alertEmail string = ''

@description('NCRONTAB schedule of the reconciler (RECONCILE_SCHEDULE).')
param reconcileSchedule string = '0 */5 * * * *'

@minValue(0)
@description('Minutes a VM may sit in Stopped (allocated) before it is alerted on (STOPPED_ALERT_GRACE_MINUTES).')
param stoppedAlertGraceMinutes int = 15

@minValue(0)
@description('Deallocate a VM left Stopped (allocated) this many minutes; 0 = off (AUTO_DEALLOCATE_AFTER_MINUTES). When > 0 the identity gets the VM deallocator custom role (VM read and deallocate only) on the watched subscriptions.')
param autoDeallocateAfterMinutes int = 0

@description('Auto-deallocate only logs what it would do (AUTO_DEALLOCATE_DRY_RUN).')
param autoDeallocateDryRun bool = true

@description('Comma-separated patterns of VMs expected to sit stopped: no alert, no auto-deallocate (EXPECTED_STOPPED_PATTERNS). A pattern with / is a resource-id scope (subscription, resource group or VM id); one without matches the VM name; * is a wildcard; case-insensitive.')
param expectedStoppedPatterns string = ''

@minValue(1)
@description('Minutes between refreshes of a VM\'s size, tags and location by the reconciler (DETAILS_REFRESH_MINUTES).')
param detailsRefreshMinutes int = 60

@minValue(10)
@description('Time budget of one reconcileSubscription run, in seconds (RECONCILE_BUDGET_SECONDS).')
param reconcileBudgetSeconds int = 240

@minValue(1)
@maxValue(89)
@description('Days of Activity Log history read when a subscription is first watched (BACKFILL_DAYS; the log keeps 90).')
param backfillDays int = 89

@description('NCRONTAB schedule of the recurring read of the recent Activity Log (ACTIVITY_LOG_SCHEDULE).')
param activityLogSchedule string = '0 */5 * * * *'

@description('Create a daily FOCUS cost export of each watched subscription into the app\'s storage, checked by the invoiceCheck timer (ENABLE_COST_EXPORT).')
param enableCostExport bool = false

@description('NCRONTAB schedule of the daily invoice check (INVOICE_CHECK_SCHEDULE).')
param invoiceCheckSchedule string = '0 30 6 * * *'

@minValue(0)
@maxValue(100)
@description('Alert when the share of VM-days agreeing with the invoice falls below this percent; 0 = never (INVOICE_AGREEMENT_ALERT_PERCENT).')
param invoiceAgreementAlertPercent int = 90

@description('First day of the cost export schedule (defaults to tomorrow).')
param costExportScheduleFrom string = '${substring(dateTimeAdd(utcNow(), 'P1D'), 0, 10)}T00:00:00Z'

@description('Prefix of the table names (TABLE_NAME_PREFIX): letters and digits, starting with a letter, or empty.')
param tableNamePrefix string = ''

@description('Log level of the app (LOG_LEVEL).')
@allowed(['debug', 'info', 'warn', 'error'])
param logLevel string = 'info'

// Network and authentication (README "Security"). Comma-separated lists of IPv4 addresses or CIDR ranges.
@description('Addresses allowed to reach the Function App (dashboard, API, azd deploy through the SCM site) and, when appSubnetResourceId is set, the storage account (ALLOWED_IP_RANGES). Event Grid stays allowed (service tag AzureEventGrid). Empty: no restriction.')
param allowedIpRangesCsv string = ''

@description('Subnet (delegated to Microsoft.App/environments, service endpoint Microsoft.Storage) for the Function App\'s virtual network integration (APP_SUBNET_RESOURCE_ID). Set: the storage account denies every network but this subnet, allowedIpRangesCsv and trusted Azure services (Event Grid dead letters). Empty: storage open to all networks (Entra ID still required).')
param appSubnetResourceId string = ''

@description('Addresses allowed to publish to the alert topic (ALERT_TOPIC_ALLOWED_IP_RANGES): the app\'s egress address (the NAT gateway of appSubnetResourceId). Empty: any address (Entra ID still required).')
param alertTopicAllowedIpRangesCsv string = ''

@description('Client id of an Entra ID app registration (AUTH_CLIENT_ID): App Service Authentication in front of the dashboard and the API. Empty: off (function keys only).')
param authClientId string = ''

param resourceGroupName string = ''
param storageAccountName string = ''
param functionAppName string = ''
param appServicePlanName string = ''
param identityName string = ''
param logAnalyticsName string = ''
param applicationInsightsName string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
// App Service access restrictions want CIDR; the storage firewall wants a plain address for a single one.
var allowedIpItems = filter(map(split(allowedIpRangesCsv, ','), item => trim(item)), item => !empty(item))
var allowedIpRanges = map(allowedIpItems, item => contains(item, '/') ? item : '${item}/32')
var storageAllowedIps = map(allowedIpRanges, item => endsWith(item, '/32') ? replace(item, '/32', '') : item)
var alertTopicAllowedIpRanges = filter(map(split(alertTopicAllowedIpRangesCsv, ','), item => trim(item)), item => !empty(item))
var lockStorageNetwork = !empty(appSubnetResourceId)
var rgName = !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
var appName = !empty(functionAppName) ? functionAppName : '${abbrs.webSitesFunctions}vmtimeline-${resourceToken}'
var deploymentContainerName = 'app-package-${take(toLower(uniqueString(appName, resourceToken)), 7)}'
var deadLetterContainerName = 'eventgrid-deadletters'
var costExportContainerName = 'cost-exports'
var reconcileQueueName = 'reconcile-subscriptions'
var backfillQueueName = 'backfill-slices'
var systemTopicName = '${abbrs.eventGridSystemTopics}vmtimeline-${environmentName}'
var healthSystemTopicName = '${abbrs.eventGridSystemTopics}vmtimeline-health-${environmentName}'
// The documented table names (src/adapters/table-names.ts). Created up front so that nothing waits on
// the app's first run; the app also creates them if missing.
var tableNames = [
  'VmTimeline'
  'VmCurrent'
  'VmDailyUsage'
  'VmDailyDigest'
  'VmRejectedEvents'
  'VmAlerts'
  'VmReconcileRuns'
  'VmBackfill'
  'VmCoverage'
  'VmInvoiceCheck'
]

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: rgName
  location: location
  tags: tags
}

// One user-assigned identity: the Function App (storage, ARM, Event Grid publishing, App Insights) and
// the Event Grid system topics (dead-lettering to blob storage) use it.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(identityName) ? identityName : '${abbrs.managedIdentityUserAssignedIdentities}vmtimeline-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    skuName: 'Standard_LRS'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity only: no account keys, no SAS, no connection strings
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled' // the network rules below apply to public access
    networkAcls: {
      // Locked when the app reaches storage through its subnet; else open (the Flex Consumption app has no
      // fixed egress address without virtual network integration).
      defaultAction: lockStorageNetwork ? 'Deny' : 'Allow'
      // Trusted Azure services: Event Grid writes dead letters with the identity (deadLetterWithResourceIdentity).
      bypass: 'AzureServices'
      ipRules: [for ip in (lockStorageNetwork ? storageAllowedIps : []): { value: ip, action: 'Allow' }]
      virtualNetworkRules: lockStorageNetwork ? [{ id: appSubnetResourceId, action: 'Allow' }] : []
    }
    minimumTlsVersion: 'TLS1_2'
    blobServices: {
      containers: [
        { name: deploymentContainerName } // Flex Consumption deployment package
        { name: deadLetterContainerName } // Event Grid dead letters
        { name: costExportContainerName } // scheduled cost exports (ENABLE_COST_EXPORT); empty otherwise
      ]
    }
    queueServices: {
      queues: [
        { name: reconcileQueueName }
        { name: backfillQueueName } // Activity Log backfill: one message per subscription and day
      ]
    }
    tableServices: {
      tables: [for table in tableNames: { name: '${tableNamePrefix}${table}' }]
    }
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.11.1' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.6.0' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true // telemetry only with Entra ID (APPLICATIONINSIGHTS_AUTHENTICATION_STRING)
  }
}

module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appServicePlan'
  scope: rg
  params: {
    name: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
  }
}

// Event Grid custom topic for the app's alert events (CloudEvents 1.0, Entra ID only), action group and
// the Azure Monitor rule on the StoppedAllocatedVms metric.
module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    topicName: '${abbrs.eventGridDomainsTopics}vmtimeline-alerts-${resourceToken}'
    actionGroupName: '${abbrs.insightsActionGroups}vmtimeline-${resourceToken}'
    alertRuleName: '${abbrs.insightsScheduledQueryRules}vmtimeline-stopped-${resourceToken}'
    applicationInsightsResourceId: monitoring.outputs.resourceId
    alertEmail: alertEmail
    allowedIpRanges: alertTopicAllowedIpRanges
  }
}

var storageEndpoints = {
  blob: 'https://${storage.outputs.name}.blob.${environment().suffixes.storage}/'
  queue: 'https://${storage.outputs.name}.queue.${environment().suffixes.storage}/'
  table: 'https://${storage.outputs.name}.table.${environment().suffixes.storage}/'
}

// Every app setting, in one place (the contract test reads this block). Identity-based connections
// only: `<connection>__credential: managedidentity` + `__clientId` + service URIs; no keys.
// <app-settings>
var appSettings = {
  // Functions host storage (timer leases, deployment, host state).
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AzureWebJobsStorage__blobServiceUri: storageEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storageEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storageEndpoints.table
  // Timeline tables (loadConfig reads __tableServiceUri and __clientId) and the reconcile queue
  // (queue trigger / output binding connection TIMELINE_STORAGE).
  TIMELINE_STORAGE__credential: 'managedidentity'
  TIMELINE_STORAGE__clientId: identity.outputs.clientId
  TIMELINE_STORAGE__tableServiceUri: storageEndpoints.table
  TIMELINE_STORAGE__queueServiceUri: storageEndpoints.queue
  // Telemetry with Entra ID (App Insights has local auth off). The connection string comes from the
  // resource's own output, never written here.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity.
  AZURE_CLIENT_ID: identity.outputs.clientId
  ARM_ENDPOINT: environment().resourceManager
  SUBSCRIPTION_IDS: join(watchedSubscriptionIds, ',')
  WATCH_MANAGEMENT_GROUP: trim(watchManagementGroup)
  RECONCILE_SCHEDULE: reconcileSchedule
  ROLLUP_SCHEDULE: '0 */10 * * * *'
  ALERT_SCHEDULE: '0 * * * * *'
  TABLE_NAME_PREFIX: tableNamePrefix
  LOG_LEVEL: logLevel
  ALERT_TOPIC_ENDPOINT: alerts.outputs.topicEndpoint
  STOPPED_ALERT_GRACE_MINUTES: string(stoppedAlertGraceMinutes)
  AUTO_DEALLOCATE_AFTER_MINUTES: string(autoDeallocateAfterMinutes)
  AUTO_DEALLOCATE_DRY_RUN: autoDeallocateDryRun ? 'true' : 'false'
  EXPECTED_STOPPED_PATTERNS: expectedStoppedPatterns
  DETAILS_REFRESH_MINUTES: string(detailsRefreshMinutes)
  RECONCILE_BUDGET_SECONDS: string(reconcileBudgetSeconds)
  BACKFILL_DAYS: string(backfillDays)
  ACTIVITY_LOG_SCHEDULE: activityLogSchedule
  COST_EXPORT_CONTAINER: enableCostExport ? '${storageEndpoints.blob}${costExportContainerName}' : ''
  INVOICE_CHECK_SCHEDULE: invoiceCheckSchedule
  INVOICE_AGREEMENT_ALERT_PERCENT: string(invoiceAgreementAlertPercent)
}
// </app-settings>

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: appName
    location: location
    tags: tags
    serviceName: 'api'
    appServicePlanId: appServicePlan.outputs.resourceId
    runtimeName: 'node'
    runtimeVersion: '22'
    deploymentContainerUrl: '${storageEndpoints.blob}${deploymentContainerName}'
    identityId: identity.outputs.resourceId
    appSettings: appSettings
    allowedIpRanges: allowedIpRanges
    virtualNetworkSubnetId: appSubnetResourceId
    authClientId: authClientId
  }
}

// Data roles on the account, Monitoring Metrics Publisher on App Insights, EventGrid Data Sender on the
// alert topic, for the app's identity; data readers (writers with grantUserDataWrite) for the deploying user.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.name
    alertTopicName: alerts.outputs.topicName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    grantUserDataWrite: grantUserDataWrite
  }
}

// Per watched subscription: the VM reader custom role (or Reader), and the VM deallocator custom role when
// auto-deallocate is on, for the identity; and the subscription's Event Grid system topic. A role
// definition or assignment at subscription scope needs a deployment at that subscription's scope, hence
// one module instance per subscription.
module watched 'app/watched-subscription.bicep' = [
  for subscriptionId in watchedSubscriptionIds: {
    name: 'watched-${take(uniqueString(subscriptionId, environmentName), 8)}'
    scope: subscription(subscriptionId)
    params: {
      identityPrincipalId: identity.outputs.principalId
      identityResourceId: identity.outputs.resourceId
      grantVirtualMachineDeallocate: autoDeallocateAfterMinutes > 0
      useCustomReadRole: watchedSubscriptionReadRole == 'VmReader'
      roleNameSuffix: '${environmentName}-${resourceToken}'
      // The system topic lives in the app's resource group when the subscription is the deployment's,
      // else in a resource group of the same name created in the watched subscription.
      resourceGroupName: rg.name
      createResourceGroup: subscriptionId != subscription().subscriptionId
      location: location
      tags: tags
      systemTopicName: systemTopicName
      healthSystemTopicName: healthSystemTopicName
      existingSystemTopicsCsv: existingSystemTopicsCsv
    }
  }
]

// Optional: a daily FOCUS cost export per watched subscription into the app's storage (costExportContainerName),
// which the invoiceCheck timer reads; the export's own identity may write that container only.
module costExports 'app/cost-export.bicep' = [
  for subscriptionId in (enableCostExport ? watchedSubscriptionIds : []): {
    name: 'cost-export-${take(uniqueString(subscriptionId, environmentName), 8)}'
    scope: subscription(subscriptionId)
    params: {
      exportName: 'vm-timeline-${take(uniqueString(subscriptionId, environmentName), 8)}'
      storageAccountId: storage.outputs.resourceId
      containerName: costExportContainerName
      location: location
      scheduleFrom: costExportScheduleFrom
    }
  }
]

module costExportAccess 'app/cost-export-access.bicep' = [
  for (subscriptionId, i) in (enableCostExport ? watchedSubscriptionIds : []): {
    name: 'cost-export-access-${take(uniqueString(subscriptionId, environmentName), 8)}'
    scope: rg
    params: {
      storageAccountName: storage.outputs.name
      containerName: costExportContainerName
      exportPrincipalId: costExports[i].outputs.principalId
    }
  }
]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_RESOURCE_ID string = api.outputs.resourceId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_ACCOUNT_RESOURCE_ID string = storage.outputs.resourceId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_RESOURCE_ID string = identity.outputs.resourceId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output TIMELINE_TABLE_ENDPOINT string = storageEndpoints.table
output TIMELINE_QUEUE_ENDPOINT string = storageEndpoints.queue
output TABLE_NAME_PREFIX string = tableNamePrefix
output ARM_ENDPOINT string = environment().resourceManager
output SUBSCRIPTION_IDS string = join(watchedSubscriptionIds, ',')
output WATCH_MANAGEMENT_GROUP string = trim(watchManagementGroup)
output ROLE_NAME_SUFFIX string = '${environmentName}-${resourceToken}'
output WATCHED_READ_ROLE string = watchedSubscriptionReadRole
output RECONCILE_SCHEDULE string = reconcileSchedule
output ALERT_TOPIC_ENDPOINT string = alerts.outputs.topicEndpoint
output STOPPED_ALERT_GRACE_MINUTES string = string(stoppedAlertGraceMinutes)
output AUTO_DEALLOCATE_AFTER_MINUTES string = string(autoDeallocateAfterMinutes)
output AUTO_DEALLOCATE_DRY_RUN string = autoDeallocateDryRun ? 'true' : 'false'
output EXPECTED_STOPPED_PATTERNS string = expectedStoppedPatterns
output DETAILS_REFRESH_MINUTES string = string(detailsRefreshMinutes)
output RECONCILE_BUDGET_SECONDS string = string(reconcileBudgetSeconds)
output EVENTGRID_SYSTEM_TOPIC_NAME string = systemTopicName
output EVENTGRID_HEALTH_SYSTEM_TOPIC_NAME string = healthSystemTopicName
output EVENTGRID_DEAD_LETTER_CONTAINER string = deadLetterContainerName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString

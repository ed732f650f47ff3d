// Alert routing: the app publishes its alert events (a VM in Stopped (allocated) past the grace period)
// as CloudEvents 1.0 to this custom topic with its managed identity (EventGrid Data Sender, see
// rbac.bicep); subscribe Logic Apps, Teams, webhooks or queues to it. Independently, an Azure Monitor log
// alert on the app's custom metric StoppedAllocatedVms notifies the action group.
param location string = resourceGroup().location
param tags object = {}
param topicName string
param actionGroupName string
param alertRuleName string
param applicationInsightsResourceId string
@description('Email receiver of the action group; empty: no receiver.')
param alertEmail string = ''
@description('Addresses (IP or CIDR) allowed to publish to the topic; empty: any address (Entra ID is still required). The app publishes from its egress address: with virtual network integration, the NAT gateway\'s public IP.')
param allowedIpRanges array = []

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  name: topicName
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true // publish with Entra ID only: no topic access keys
    publicNetworkAccess: 'Enabled' // the inbound IP rules below apply to public access
    inboundIpRules: [
      for ipMask in allowedIpRanges: {
        ipMask: ipMask
        action: 'Allow'
      }
    ]
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'vmtimeline'
    enabled: true
    emailReceivers: empty(alertEmail)
      ? []
      : [
          {
            name: 'alert-email'
            emailAddress: alertEmail
            useCommonAlertSchema: true
          }
        ]
  }
}

// The app emits the custom metric StoppedAllocatedVms (VMs in Stopped (allocated) past the grace
// period) to Application Insights; alert when its latest value in the window is above 0.
resource stoppedAllocatedRule 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: alertRuleName
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'VMs in Stopped (allocated): powered off and still billed'
    description: 'StoppedAllocatedVms > 0: at least one VM has been Stopped (allocated) longer than STOPPED_ALERT_GRACE_MINUTES.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsightsResourceId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: 'customMetrics | where name == "StoppedAllocatedVms" | summarize StoppedAllocatedVms = max(value) by bin(timestamp, 5m)'
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'StoppedAllocatedVms'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output topicName string = topic.name
output topicResourceId string = topic.id
output topicEndpoint string = topic.properties.endpoint
output actionGroupResourceId string = actionGroup.id

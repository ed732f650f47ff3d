// One system topic of a watched subscription, location global: its resource events
// (Microsoft.Resources.Subscriptions) or its Resource Health events (Microsoft.ResourceNotifications.HealthResources).
// Azure allows one system topic per source and type in a subscription: watched-subscription.bicep creates
// this only when none exists (infra/scripts/preprovision.* find them), else our event subscription joins it.
// It carries the app's user-assigned identity so that its event subscription dead-letters to blob
// storage with that identity (deadLetterWithResourceIdentity).
param name string
param identityResourceId string
param tags object = {}
@allowed(['Microsoft.Resources.Subscriptions', 'Microsoft.ResourceNotifications.HealthResources'])
param topicType string = 'Microsoft.Resources.Subscriptions'

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: name
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: topicType
  }
}

output resourceId string = topic.id
output name string = topic.name

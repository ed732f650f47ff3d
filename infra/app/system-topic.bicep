// The subscription's resource events (Microsoft.Resources.Subscriptions system topic, location global).
// It carries the app's user-assigned identity so that its event subscription dead-letters to blob
// storage with that identity (deadLetterWithResourceIdentity).
param name string
param identityResourceId string
param tags object = {}

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
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output resourceId string = topic.id
output name string = topic.name

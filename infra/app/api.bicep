// The Function App: Flex Consumption, Node (runtime in functionAppConfig, not in app settings), the
// user-assigned identity for everything, deployment package in blob storage read with that identity.
// Module interface as used by Azure-Samples/functions-quickstart-javascript-azd (infra/app/api.bicep).
param name string
param location string = resourceGroup().location
param tags object = {}
@description('azd service name: the `azd-service-name` tag azd deploys to.')
param serviceName string = 'api'
param appServicePlanId string
@allowed(['node'])
param runtimeName string = 'node'
@description('Node major version; the project targets Node 22 LTS (package.json engines).')
param runtimeVersion string = '22'
@description('URL of the blob container holding the deployment package.')
param deploymentContainerUrl string
@description('Resource id of the user-assigned identity.')
param identityId string
@description('Every app setting (built in main.bicep).')
param appSettings object
param instanceMemoryMB int = 2048
param maximumInstanceCount int = 40

module site 'br/public:avm/res/web/site:0.9.0' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    httpsOnly: true
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [
        identityId
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
    siteConfig: {
      alwaysOn: false
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    appSettingsKeyValuePairs: appSettings
  }
}

output name string = site.outputs.name
output resourceId string = site.outputs.resourceId

// The Function App: Flex Consumption, Node (runtime in functionAppConfig, not in app settings), the
// user-assigned identity for everything, deployment package in blob storage read with that identity.
// Module interface as used by Azure-Samples/functions-quickstart-javascript-azd (infra/app/api.bicep).
//
// Inbound protection (README "Security"):
// - basic publishing credentials (FTP and SCM basic authentication) are off, always: azd deploys with Entra ID;
// - allowedIpRanges: access restrictions on the site and its SCM site (same rules); the Event Grid
//   service tag stays allowed so that the vmEvents delivery keeps working;
// - authClientId: App Service Authentication (Entra ID) in front of the dashboard and the API; the Event
//   Grid webhook path is excluded (Event Grid authenticates there with the extension's system key).
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
@description('CIDR ranges allowed to reach the app and its SCM site; empty: no access restrictions.')
param allowedIpRanges array = []
@description('Subnet (delegated to Microsoft.App/environments) for virtual network integration; empty: none.')
param virtualNetworkSubnetId string = ''
@description('Client id of the Entra ID app registration of App Service Authentication; empty: off.')
param authClientId string = ''
@description('Tenant of the app registration.')
param authTenantId string = tenant().tenantId

// The path Event Grid delivers `vmEvents` to (endpointType AzureFunction), as the local host serves it.
var eventGridWebhookPath = '/runtime/webhooks/eventgrid'

// Allow each range, and Event Grid (service tag AzureEventGrid) so that deliveries to vmEvents pass.
// Everything else is denied by ipSecurityRestrictionsDefaultAction.
var ipSecurityRestrictions = empty(allowedIpRanges)
  ? []
  : concat(
      [
        {
          name: 'allow-event-grid'
          description: 'Event Grid delivers vmEvents (endpointType AzureFunction)'
          action: 'Allow'
          tag: 'ServiceTag'
          ipAddress: 'AzureEventGrid'
          priority: 100
        }
      ],
      map(range(0, length(allowedIpRanges)), i => {
        name: 'allow-${i}'
        action: 'Allow'
        tag: 'Default'
        ipAddress: allowedIpRanges[i]
        priority: 200 + i
      })
    )

var authSettingV2Configuration = {
  platform: {
    enabled: true
  }
  globalValidation: {
    requireAuthentication: true
    unauthenticatedClientAction: 'RedirectToLoginPage'
    redirectToProvider: 'azureactivedirectory'
    excludedPaths: [
      eventGridWebhookPath
    ]
  }
  httpSettings: {
    requireHttps: true
  }
  identityProviders: {
    azureActiveDirectory: {
      enabled: true
      registration: {
        clientId: authClientId
        openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
      }
      validation: {
        allowedAudiences: [
          'api://${authClientId}'
          authClientId
        ]
      }
    }
  }
}

module site 'br/public:avm/res/web/site:0.9.0' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    httpsOnly: true
    publicNetworkAccess: 'Enabled' // Event Grid delivers over the public endpoint; see allowedIpRanges
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
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
      ipSecurityRestrictions: ipSecurityRestrictions
      ipSecurityRestrictionsDefaultAction: empty(allowedIpRanges) ? 'Allow' : 'Deny'
      scmIpSecurityRestrictionsUseMain: true // azd deploys through the SCM site: same allowed ranges
    }
    // No basic-auth deployment credentials: FTP and SCM basic authentication off (azd uses Entra ID).
    basicPublishingCredentialsPolicies: [
      { name: 'ftp', allow: false }
      { name: 'scm', allow: false }
    ]
    authSettingV2Configuration: empty(authClientId) ? null : authSettingV2Configuration
    appSettingsKeyValuePairs: appSettings
  }
}

output name string = site.outputs.name
output resourceId string = site.outputs.resourceId

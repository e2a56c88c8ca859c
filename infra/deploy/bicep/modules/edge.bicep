// The front doors: API Management (the ingest API imported from the command API's /openapi.json,
// rate-limited per device key, forwarding to the AKS internal ingress gateway) and the App Service
// that hosts the dashboard (web/dist, built with VITE_API_BASE = the gateway's URL).
param name string
param suffix string
param location string
param tags object
param apimSku string
param publisherEmail string
param publisherName string
param apimSubnetId string
param ingestOpenApi string
param ingestCallsPerMinute int
param logAnalyticsId string

@description('The AKS internal ingress gateway\'s address, as API Management reaches it in the VNet.')
param backendUrl string

resource apimIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = if (apimSku != 'StandardV2') {
  name: '${name}-apim-ip'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    dnsSettings: {
      domainNameLabel: '${name}-apim-${suffix}'
    }
  }
}

resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: '${name}-apim-${suffix}'
  location: location
  tags: tags
  sku: {
    name: apimSku
    capacity: 1
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
    virtualNetworkType: 'External'
    virtualNetworkConfiguration: {
      subnetResourceId: apimSubnetId
    }
    publicIpAddressId: apimSku != 'StandardV2' ? apimIp.id : null
    customProperties: {
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls10': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Tls11': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls10': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Tls11': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Backend.Protocols.Ssl30': 'false'
      'Microsoft.WindowsAzure.ApiManagement.Gateway.Security.Protocols.Ssl30': 'false'
    }
  }
}

// Devices authenticate with their own key (a bearer token the command API checks); the gateway
// needs no subscription key of its own, and counts calls per key.
resource ingest 'Microsoft.ApiManagement/service/apis@2024-05-01' = if (!empty(ingestOpenApi)) {
  parent: apim
  name: 'ingest'
  properties: {
    displayName: 'Watershed ingest'
    path: 'ingest'
    protocols: ['https']
    format: 'openapi+json'
    value: ingestOpenApi
    serviceUrl: backendUrl
    subscriptionRequired: false
  }
}

resource ingestPolicy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = if (!empty(ingestOpenApi)) {
  parent: ingest
  name: 'policy'
  properties: {
    format: 'rawxml'
    value: replace('''<policies>
  <inbound>
    <base />
    <!-- One budget per device key: the bearer token, hashed so the key itself is not a counter name. -->
    <rate-limit-by-key calls="__CALLS__" renewal-period="60"
        counter-key="@(Convert.ToBase64String(System.Security.Cryptography.SHA256.Create().ComputeHash(System.Text.Encoding.UTF8.GetBytes(context.Request.Headers.GetValueOrDefault(&quot;Authorization&quot;, &quot;anonymous&quot;)))))"
        increment-condition="@(context.Response.StatusCode != 401)" />
    <set-header name="x-watershed-api" exists-action="override">
      <value>ingest</value>
    </set-header>
  </inbound>
  <backend>
    <base />
  </backend>
  <outbound>
    <base />
  </outbound>
  <on-error>
    <base />
  </on-error>
</policies>''', '__CALLS__', string(ingestCallsPerMinute))
  }
}

resource apimDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: apim
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

// ---- the dashboard -------------------------------------------------------------------------------
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${name}-web-plan'
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: 'B1'
  }
  properties: {
    reserved: true
  }
}

// Static files only (web/dist, zip-deployed by the pipeline); served by the Node stack's pm2.
resource dashboard 'Microsoft.Web/sites@2024-04-01' = {
  name: '${name}-dashboard-${suffix}'
  location: location
  tags: tags
  kind: 'app,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    siteConfig: {
      linuxFxVersion: 'NODE|22-lts'
      appCommandLine: 'pm2 serve /home/site/wwwroot --no-daemon --spa'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      alwaysOn: true
      healthCheckPath: '/'
      httpLoggingEnabled: true
      detailedErrorLoggingEnabled: true
      requestTracingEnabled: true
    }
  }
}

output gatewayUrl string = apim.properties.gatewayUrl
output dashboardUrl string = 'https://${dashboard.properties.defaultHostName}'
output dashboardName string = dashboard.name

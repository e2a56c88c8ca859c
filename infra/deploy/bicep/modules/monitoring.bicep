// Logs (Container Insights, diagnostics) in Log Analytics; metrics in an Azure Monitor workspace
// (Managed Prometheus), which scrapes each pod's /metrics through its prometheus.io annotations.
param name string
param location string
param tags object

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${name}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource prometheus 'Microsoft.Monitor/accounts@2023-04-03' = {
  name: '${name}-prometheus'
  location: location
  tags: tags
}

output logAnalyticsId string = logs.id
output monitorWorkspaceId string = prometheus.id

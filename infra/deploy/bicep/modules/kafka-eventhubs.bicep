// Kafka through Event Hubs' Kafka endpoint (SASL_SSL on 9093, Entra ID). The binary's Kafka client
// has neither TLS nor SASL today, so this mode waits on that change (infra/README.md).
param name string
param suffix string
param location string
param tags object

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: '${name}-bus-${suffix}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    zoneRedundant: true
  }
}

resource topic 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: 'watershed'
  properties: {
    partitionCount: 12
    messageRetentionInDays: 7
  }
}

output bootstrapServers string = '${namespace.name}.servicebus.windows.net:9093'

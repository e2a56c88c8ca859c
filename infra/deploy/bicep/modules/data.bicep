// The stores: Cosmos DB (event store), Kafka (bus), PostgreSQL (read models), Redis (cache and live
// feed), and Key Vault for what the pods must not see in a manifest. Each is reached privately
// from the VNet; the workloads' identity gets data-plane roles, never keys.
param name string
param suffix string
param location string
param tags object
@allowed(['hdinsight', 'eventhubs'])
param kafkaMode string
param vnetId string
param endpointSubnetId string
param postgresSubnetId string
param kafkaSubnetId string
param postgresAdmin string
@secure()
param postgresPassword string
@secure()
param hdinsightPassword string
param workloadPrincipalId string
param deployerObjectId string
param logAnalyticsId string

@description('Autoscale ceiling of the events container, RU/s (billed per hour at the highest used, at least 10 % of this).')
param eventsMaxThroughput int = 4000

@description('TLS to PostgreSQL (sslmode=require) and Redis (rediss://, port 6380), as Azure requires by default. false opens the Redis non-TLS port and turns PostgreSQL require_secure_transport off (traffic inside the VNet only).')
param dataPlaneTls bool = true

// ---- Cosmos DB: the event store ------------------------------------------------------------------
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: '${name}-cosmos-${suffix}'
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    // Entra ID only: the pods use workload identity (auth=workload-identity), no account keys.
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    publicNetworkAccess: 'Disabled'
    // One write region: the store's per-stream optimistic concurrency wants a single writer.
    enableMultipleWriteLocations: false
    minimalTlsVersion: 'Tls12'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: true
      }
    ]
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: cosmos
  name: 'watershed'
  properties: {
    resource: {
      id: 'watershed'
    }
  }
}

// infra/src/cosmos/items.rs: container `events`, partition key /stream_id (one logical partition
// per device stream): event items, one `head` item per stream, idempotency items, told apart by
// `kind`. The only query (event_store.rs read_stream) filters kind, stream_seq and event_type
// within one partition and orders by stream_seq; everything else is a point read. Indexing only
// those three paths keeps a readings batch (up to 1000 readings in `payload`) from paying index
// writes for every sensor, value, unit and timestamp in it.
resource events 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'events'
  properties: {
    resource: {
      id: 'events'
      partitionKey: {
        paths: ['/stream_id']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          { path: '/kind/?' }
          { path: '/stream_seq/?' }
          { path: '/event_type/?' }
        ]
        excludedPaths: [
          { path: '/*' }
        ]
        compositeIndexes: [
          [
            { path: '/kind', order: 'ascending' }
            { path: '/stream_seq', order: 'ascending' }
          ]
        ]
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: eventsMaxThroughput
      }
    }
  }
}

// Change-feed cursors, one item per reader (partition key /id), only ever point-read: no index.
resource leases 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = {
  parent: database
  name: 'leases'
  properties: {
    resource: {
      id: 'leases'
      partitionKey: {
        paths: ['/id']
        kind: 'Hash'
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'none'
        automatic: false
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: 1000
      }
    }
  }
}

// Cosmos DB Built-in Data Contributor for the workloads: items only; databases and containers are
// created here, not by the pods (Entra ID tokens cannot create them through the data plane).
resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: cosmos
  name: guid(cosmos.id, workloadPrincipalId, 'data-contributor')
  properties: {
    principalId: workloadPrincipalId
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    scope: cosmos.id
  }
}

module cosmosEndpoint 'private-endpoint.bicep' = {
  name: 'cosmos-endpoint'
  params: {
    name: '${name}-cosmos'
    location: location
    tags: tags
    serviceId: cosmos.id
    groupId: 'Sql'
    zoneName: 'privatelink.documents.azure.com'
    vnetId: vnetId
    subnetId: endpointSubnetId
  }
}

// ---- Kafka: the bus ------------------------------------------------------------------------------
module hdinsight 'kafka-hdinsight.bicep' = if (kafkaMode == 'hdinsight') {
  name: 'kafka-hdinsight'
  params: {
    name: name
    suffix: suffix
    location: location
    tags: tags
    vnetId: vnetId
    kafkaSubnetId: kafkaSubnetId
    password: hdinsightPassword
  }
}

module eventHubs 'kafka-eventhubs.bicep' = if (kafkaMode == 'eventhubs') {
  name: 'kafka-eventhubs'
  params: {
    name: name
    suffix: suffix
    location: location
    tags: tags
  }
}

// ---- PostgreSQL: the read models -----------------------------------------------------------------
resource pgZone 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: '${name}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource pgZoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: pgZone
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${name}-pg-${suffix}'
  location: location
  tags: tags
  sku: {
    name: 'Standard_D2ds_v5'
    tier: 'GeneralPurpose'
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdmin
    administratorLoginPassword: postgresPassword
    storage: {
      storageSizeGB: 64
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 14
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: postgresSubnetId
      privateDnsZoneArmResourceId: pgZone.id
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [pgZoneLink]
}

resource readModels 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: 'watershed'
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource pgTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: dataPlaneTls ? 'on' : 'off'
    source: 'user-override'
  }
}

resource pgLogCheckpoints 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'log_checkpoints'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [pgTls]
}

// ---- Redis: the cache and live feed --------------------------------------------------------------
resource redis 'Microsoft.Cache/redis@2024-11-01' = {
  name: '${name}-redis-${suffix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'Standard'
      family: 'C'
      capacity: 1
    }
    enableNonSslPort: !dataPlaneTls
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    redisVersion: '6'
  }
}

module redisEndpoint 'private-endpoint.bicep' = {
  name: 'redis-endpoint'
  params: {
    name: '${name}-redis'
    location: location
    tags: tags
    serviceId: redis.id
    groupId: 'redisCache'
    zoneName: 'privatelink.redis.cache.windows.net'
    vnetId: vnetId
    subnetId: endpointSubnetId
  }
}

// ---- Key Vault: the pods' secrets ----------------------------------------------------------------
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${name}-kv-${suffix}', 24)
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
    }
  }
}

module vaultEndpoint 'private-endpoint.bicep' = {
  name: 'vault-endpoint'
  params: {
    name: '${name}-vault'
    location: location
    tags: tags
    serviceId: vault.id
    groupId: 'vault'
    zoneName: 'privatelink.vaultcore.azure.net'
    vnetId: vnetId
    subnetId: endpointSubnetId
  }
}

// The read-model and cache URLs carry credentials: whole secrets, synced by the CSI driver.
var pgHost = postgres.properties.fullyQualifiedDomainName
var redisScheme = dataPlaneTls ? 'rediss' : 'redis'
var redisPort = dataPlaneTls ? 6380 : 6379
var redisUrl = '${redisScheme}://:${redis.listKeys().primaryKey}@${redis.properties.hostName}:${redisPort}'

resource readModelUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'watershed-read-model-url'
  properties: {
    contentType: 'text/uri'
    value: 'postgres://${postgresAdmin}:${uriComponent(postgresPassword)}@${pgHost}/watershed?sslmode=${dataPlaneTls ? 'require' : 'disable'}'
  }
}

resource cacheUrl 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'watershed-cache-url'
  properties: {
    contentType: 'text/uri'
    value: redisUrl
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, workloadPrincipalId, 'secrets-user')
  scope: vault
  properties: {
    principalId: workloadPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, deployerObjectId, 'secrets-officer')
  scope: vault
  properties: {
    principalId: deployerObjectId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7')
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: vault
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output keyVaultName string = vault.name
output cosmosEventStoreUrl string = 'cosmos://${cosmos.name}.documents.azure.com/watershed?region=${uriComponent(cosmos.properties.locations[0].locationName)}&auth=workload-identity'
output kafkaBootstrapServers string = kafkaMode == 'hdinsight' ? hdinsight!.outputs.bootstrapHint : eventHubs!.outputs.bootstrapServers
output postgresHost string = pgHost
output redisHost string = redis.properties.hostName

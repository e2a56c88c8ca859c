// The VNet every part lives in. AKS nodes (Azure CNI overlay: pods get 10.244.0.0/16 behind the
// nodes), private endpoints (Cosmos DB, Redis, Key Vault, ACR), PostgreSQL (delegated subnet),
// Kafka (HDInsight brokers; overlays/aks ports.env lists their addresses) and API Management.
param name string
param location string
param tags object

var subnets = [
  { name: 'aks', prefix: '10.20.0.0/20', delegation: '' }
  { name: 'endpoints', prefix: '10.20.16.0/24', delegation: '' }
  { name: 'postgres', prefix: '10.20.17.0/24', delegation: 'Microsoft.DBforPostgreSQL/flexibleServers' }
  { name: 'apim', prefix: '10.20.18.0/24', delegation: '' }
  { name: 'kafka', prefix: '10.20.32.0/24', delegation: '' }
]

// API Management in a VNet (stv2) needs its management endpoint and the load balancer's probe.
resource apimNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-apim-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'management'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'ApiManagement'
          sourcePortRange: '*'
          destinationAddressPrefix: 'VirtualNetwork'
          destinationPortRange: '3443'
        }
      }
      {
        name: 'gateway-https'
        properties: {
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'Internet'
          sourcePortRange: '*'
          destinationAddressPrefix: 'VirtualNetwork'
          destinationPortRange: '443'
        }
      }
      {
        name: 'load-balancer'
        properties: {
          priority: 120
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'AzureLoadBalancer'
          sourcePortRange: '*'
          destinationAddressPrefix: 'VirtualNetwork'
          destinationPortRange: '6390'
        }
      }
    ]
  }
}

// Everything else: the platform's defaults (VNet-internal traffic allowed, Internet inbound denied).
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: '${name}-nsg'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: '${name}-vnet'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: ['10.20.0.0/16']
    }
    subnets: [for s in subnets: {
      name: s.name
      properties: {
        addressPrefix: s.prefix
        networkSecurityGroup: {
          id: s.name == 'apim' ? apimNsg.id : nsg.id
        }
        privateEndpointNetworkPolicies: 'Enabled'
        // HDInsight reaches its default storage account through the storage firewall's subnet rule.
        serviceEndpoints: s.name == 'kafka' ? [{ service: 'Microsoft.Storage' }] : []
        delegations: empty(s.delegation) ? [] : [
          {
            name: s.name
            properties: {
              serviceName: s.delegation
            }
          }
        ]
      }
    }]
  }
}

output vnetId string = vnet.id
output aksSubnetId string = '${vnet.id}/subnets/aks'
output endpointSubnetId string = '${vnet.id}/subnets/endpoints'
output postgresSubnetId string = '${vnet.id}/subnets/postgres'
output apimSubnetId string = '${vnet.id}/subnets/apim'
output kafkaSubnetId string = '${vnet.id}/subnets/kafka'

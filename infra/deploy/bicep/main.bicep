// Watershed's Azure resources in one resource group: network, AKS (Istio add-on, KEDA, Key Vault
// CSI, workload identity, Managed Prometheus), ACR, Cosmos DB, Kafka (HDInsight or Event Hubs),
// PostgreSQL flexible server, Azure Cache for Redis, Key Vault, API Management, the dashboard's
// App Service, and the Prometheus rule groups Managed Prometheus evaluates.
// Deploy: az deployment group create -g <rg> -f main.bicep -p main.bicepparam
targetScope = 'resourceGroup'

@description('Prefix of every resource name (3-11 lowercase letters and digits).')
@minLength(3)
@maxLength(11)
param name string = 'watershed'

param location string = resourceGroup().location

@description('Kafka for the bus: HDInsight Kafka in the VNet (plaintext 9092, what the binary speaks today), or the Event Hubs Kafka endpoint (SASL_SSL on 9093: needs TLS and SASL in the binary first).')
@allowed(['hdinsight', 'eventhubs'])
param kafkaMode string = 'hdinsight'

@description('AKS system+user node pool size and count.')
param aksVmSize string = 'Standard_D4ds_v5'
param aksNodeCount int = 3

@description('Istio add-on revision; keep equal to the istio.io/rev label in overlays/aks.')
param istioRevision string = 'asm-1-26'

@allowed(['Developer', 'StandardV2', 'Premium'])
param apimSku string = 'Developer'
param apimPublisherEmail string
param apimPublisherName string = 'Watershed operators'

@description('The ingest API\'s OpenAPI document (GET /openapi.json of `watershed command-api`), JSON text; empty skips the API import.')
param ingestOpenApi string = ''

@description('The Istio internal ingress gateway\'s URL in the VNet (kubectl -n aks-istio-ingress get svc aks-istio-ingressgateway-internal); the pipeline passes it once the cluster runs.')
param ingressGatewayUrl string = 'http://10.20.0.250'

@description('Ingest calls per device key per minute at the gateway.')
param ingestCallsPerMinute int = 120

@description('PostgreSQL administrator login; the password goes to Key Vault as part of the read-model URL.')
param postgresAdmin string = 'watershed'
@secure()
param postgresPassword string

@description('HDInsight cluster login and SSH user (kafkaMode hdinsight).')
@secure()
param hdinsightPassword string = ''

@description('Entra object id of whoever deploys the workloads: may write the Key Vault secrets.')
param deployerObjectId string

@description('Resource id of an existing action group that Watershed\'s alerts notify (Microsoft.Insights/actionGroups); empty: alerts fire in Azure Monitor and notify no one.')
param alertActionGroupId string = ''

var suffix = uniqueString(resourceGroup().id, name)
var tags = {
  application: 'watershed'
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    name: name
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: name
    location: location
    tags: tags
  }
}

module aks 'modules/aks.bicep' = {
  name: 'aks'
  params: {
    name: name
    suffix: suffix
    location: location
    tags: tags
    vmSize: aksVmSize
    nodeCount: aksNodeCount
    subnetId: network.outputs.aksSubnetId
    istioRevision: istioRevision
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    monitorWorkspaceId: monitoring.outputs.monitorWorkspaceId
  }
}

// The rules of observability/prometheus-rules.yaml, evaluated by Managed Prometheus on the cluster's metrics.
module prometheusRules 'modules/prometheus-rules.bicep' = {
  name: 'prometheus-rules'
  params: {
    name: name
    location: location
    tags: tags
    monitorWorkspaceId: monitoring.outputs.monitorWorkspaceId
    clusterId: aks.outputs.clusterId
    clusterName: aks.outputs.aksName
    actionGroupId: alertActionGroupId
  }
}

module data 'modules/data.bicep' = {
  name: 'data'
  params: {
    name: name
    suffix: suffix
    location: location
    tags: tags
    kafkaMode: kafkaMode
    vnetId: network.outputs.vnetId
    endpointSubnetId: network.outputs.endpointSubnetId
    postgresSubnetId: network.outputs.postgresSubnetId
    kafkaSubnetId: network.outputs.kafkaSubnetId
    postgresAdmin: postgresAdmin
    postgresPassword: postgresPassword
    hdinsightPassword: hdinsightPassword
    workloadPrincipalId: aks.outputs.workloadPrincipalId
    deployerObjectId: deployerObjectId
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

module edge 'modules/edge.bicep' = {
  name: 'edge'
  params: {
    name: name
    suffix: suffix
    location: location
    tags: tags
    apimSku: apimSku
    publisherEmail: apimPublisherEmail
    publisherName: apimPublisherName
    apimSubnetId: network.outputs.apimSubnetId
    ingestOpenApi: ingestOpenApi
    ingestCallsPerMinute: ingestCallsPerMinute
    backendUrl: ingressGatewayUrl
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

output aksName string = aks.outputs.aksName
output acrLoginServer string = aks.outputs.acrLoginServer
output workloadClientId string = aks.outputs.workloadClientId
output tenantId string = subscription().tenantId
output keyVaultName string = data.outputs.keyVaultName
output cosmosEventStoreUrl string = data.outputs.cosmosEventStoreUrl
output kafkaBootstrapServers string = data.outputs.kafkaBootstrapServers
output postgresHost string = data.outputs.postgresHost
output redisHost string = data.outputs.redisHost
output dashboardUrl string = edge.outputs.dashboardUrl
output dashboardName string = edge.outputs.dashboardName
output apimGatewayUrl string = edge.outputs.gatewayUrl

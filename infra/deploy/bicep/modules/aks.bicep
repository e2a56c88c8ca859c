// AKS with what the overlays/aks manifests rely on: the Istio add-on (internal ingress gateway),
// KEDA, the Key Vault Secrets Store CSI driver, the OIDC issuer + workload identity, Cilium network
// policy, Managed Prometheus; ACR for the image; and the workloads' managed identity, federated
// with each role's ServiceAccount in the `watershed` namespace.
param name string
param suffix string
param location string
param tags object
param vmSize string
param nodeCount int
param subnetId string
param istioRevision string
param logAnalyticsId string
param monitorWorkspaceId string

@description('CIDRs allowed to reach the API server (the pipeline agents\' egress); empty allows any, with Entra ID auth.')
param apiServerAuthorizedIpRanges array = []

var roles = ['command-api', 'relay', 'projectors', 'query-api']

resource acr 'Microsoft.ContainerRegistry/registries@2023-11-01-preview' = {
  name: '${name}acr${suffix}'
  location: location
  tags: tags
  sku: {
    name: 'Premium'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    zoneRedundancy: 'Enabled'
    dataEndpointEnabled: true
    policies: {
      retentionPolicy: {
        status: 'enabled'
        days: 30
      }
      trustPolicy: {
        status: 'disabled'
        type: 'Notary'
      }
    }
  }
}

resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' = {
  name: '${name}-aks'
  location: location
  tags: tags
  sku: {
    name: 'Base'
    tier: 'Standard'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    dnsPrefix: name
    enableRBAC: true
    disableLocalAccounts: true
    aadProfile: {
      managed: true
      enableAzureRBAC: true
    }
    apiServerAccessProfile: {
      authorizedIPRanges: apiServerAuthorizedIpRanges
    }
    autoUpgradeProfile: {
      upgradeChannel: 'patch'
      nodeOSUpgradeChannel: 'NodeImage'
    }
    agentPoolProfiles: [
      {
        name: 'system'
        mode: 'System'
        vmSize: vmSize
        count: nodeCount
        enableAutoScaling: true
        minCount: nodeCount
        maxCount: nodeCount * 2
        maxPods: 110
        osType: 'Linux'
        osSKU: 'AzureLinux'
        osDiskType: 'Ephemeral'
        osDiskSizeGB: 128
        enableEncryptionAtHost: true
        availabilityZones: ['1', '2', '3']
        vnetSubnetID: subnetId
      }
    ]
    networkProfile: {
      networkPlugin: 'azure'
      networkPluginMode: 'overlay'
      networkDataplane: 'cilium'
      networkPolicy: 'cilium'
      podCidr: '10.244.0.0/16'
      serviceCidr: '10.21.0.0/16'
      dnsServiceIP: '10.21.0.10'
    }
    oidcIssuerProfile: {
      enabled: true
    }
    securityProfile: {
      workloadIdentity: {
        enabled: true
      }
      defender: {
        logAnalyticsWorkspaceResourceId: logAnalyticsId
        securityMonitoring: {
          enabled: true
        }
      }
    }
    workloadAutoScalerProfile: {
      keda: {
        enabled: true
      }
    }
    serviceMeshProfile: {
      mode: 'Istio'
      istio: {
        revisions: [istioRevision]
        components: {
          ingressGateways: [
            {
              mode: 'Internal'
              enabled: true
            }
          ]
        }
      }
    }
    azureMonitorProfile: {
      metrics: {
        enabled: true
      }
    }
    addonProfiles: {
      azureKeyvaultSecretsProvider: {
        enabled: true
        config: {
          enableSecretRotation: 'true'
          rotationPollInterval: '2m'
        }
      }
      azurepolicy: {
        enabled: true
      }
      omsagent: {
        enabled: true
        config: {
          logAnalyticsWorkspaceResourceID: logAnalyticsId
        }
      }
    }
  }
}

// Managed Prometheus: the cluster's metrics go to the Azure Monitor workspace through a rule.
resource dce 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: '${name}-prometheus-dce'
  location: location
  tags: tags
  kind: 'Linux'
  properties: {}
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: '${name}-prometheus-dcr'
  location: location
  tags: tags
  kind: 'Linux'
  properties: {
    dataCollectionEndpointId: dce.id
    dataSources: {
      prometheusForwarder: [
        {
          name: 'prometheus'
          streams: ['Microsoft-PrometheusMetrics']
          labelIncludeFilter: {}
        }
      ]
    }
    destinations: {
      monitoringAccounts: [
        {
          name: 'workspace'
          accountResourceId: monitorWorkspaceId
        }
      ]
    }
    dataFlows: [
      {
        streams: ['Microsoft-PrometheusMetrics']
        destinations: ['workspace']
      }
    ]
  }
}

resource dcra 'Microsoft.Insights/dataCollectionRuleAssociations@2023-03-11' = {
  name: '${name}-prometheus'
  scope: cluster
  properties: {
    dataCollectionRuleId: dcr.id
  }
}

// The kubelet pulls the image from ACR.
resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acr.id, cluster.id, 'acrpull')
  scope: acr
  properties: {
    principalId: cluster.properties.identityProfile.kubeletidentity.objectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')
  }
}

// The identity every Watershed pod signs in as (Cosmos DB data plane, Key Vault secrets).
resource workload 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-workload'
  location: location
  tags: tags
}

@batchSize(1) // federated credentials of one identity cannot be written concurrently
resource federation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = [for role in roles: {
  parent: workload
  name: role
  properties: {
    issuer: cluster.properties.oidcIssuerProfile.issuerURL
    subject: 'system:serviceaccount:watershed:${role}'
    audiences: ['api://AzureADTokenExchange']
  }
}]

output aksName string = cluster.name
output clusterId string = cluster.id
output acrLoginServer string = acr.properties.loginServer
output workloadClientId string = workload.properties.clientId
output workloadPrincipalId string = workload.properties.principalId

// Kafka as in the reference design: an HDInsight Kafka cluster in the VNet. Brokers listen in
// plaintext on 9092 inside the VNet, which is what the binary's Kafka client speaks today.
param name string
param suffix string
param location string
param tags object
param vnetId string
param kafkaSubnetId string
@secure()
param password string

// The cluster's default storage (logs, metadata; topic data lives on the workers' managed disks).
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${name}hdi${suffix}', 24)
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: true // HDInsight attaches its default storage with the account key
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: kafkaSubnetId
          action: 'Allow'
        }
      ]
    }
  }
}

resource kafka 'Microsoft.HDInsight/clusters@2024-08-01-preview' = {
  name: '${name}-kafka-${suffix}'
  location: location
  tags: tags
  properties: {
    clusterVersion: '5.1'
    osType: 'Linux'
    tier: 'Standard'
    minSupportedTlsVersion: '1.2'
    clusterDefinition: {
      kind: 'KAFKA'
      configurations: {
        gateway: {
          'restAuthCredential.isEnabled': true
          'restAuthCredential.username': 'admin'
          'restAuthCredential.password': password
        }
      }
    }
    storageProfile: {
      storageaccounts: [
        {
          name: replace(replace(storage.properties.primaryEndpoints.blob, 'https://', ''), '/', '')
          isDefault: true
          container: 'kafka'
          key: storage.listKeys().keys[0].value
        }
      ]
    }
    computeProfile: {
      roles: [
        {
          name: 'headnode'
          targetInstanceCount: 2
          hardwareProfile: { vmSize: 'Standard_E4_v3' }
          osProfile: { linuxOperatingSystemProfile: { username: 'sshuser', password: password } }
          virtualNetworkProfile: { id: vnetId, subnet: kafkaSubnetId }
        }
        {
          name: 'workernode'
          targetInstanceCount: 3
          hardwareProfile: { vmSize: 'Standard_E4_v3' }
          dataDisksGroups: [
            { disksPerNode: 2 }
          ]
          osProfile: { linuxOperatingSystemProfile: { username: 'sshuser', password: password } }
          virtualNetworkProfile: { id: vnetId, subnet: kafkaSubnetId }
        }
        {
          name: 'zookeepernode'
          targetInstanceCount: 3
          hardwareProfile: { vmSize: 'Standard_A4_v2' }
          osProfile: { linuxOperatingSystemProfile: { username: 'sshuser', password: password } }
          virtualNetworkProfile: { id: vnetId, subnet: kafkaSubnetId }
        }
      ]
    }
  }
}

output clusterName string = kafka.name
output bootstrapHint string = 'the worker nodes of ${kafka.name} on 9092 (az hdinsight host list)'

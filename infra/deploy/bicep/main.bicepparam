using 'main.bicep'

param name = 'watershed'
param kafkaMode = 'hdinsight'
param apimPublisherEmail = readEnvironmentVariable('WATERSHED_APIM_EMAIL', 'ops@example.com')
param postgresPassword = readEnvironmentVariable('WATERSHED_POSTGRES_PASSWORD')
param hdinsightPassword = readEnvironmentVariable('WATERSHED_HDINSIGHT_PASSWORD', '')
param deployerObjectId = readEnvironmentVariable('WATERSHED_DEPLOYER_OBJECT_ID')
param ingestOpenApi = readEnvironmentVariable('WATERSHED_INGEST_OPENAPI', '')
param ingressGatewayUrl = readEnvironmentVariable('WATERSHED_INGRESS_GATEWAY_URL', 'http://10.20.0.250')
param alertActionGroupId = readEnvironmentVariable('WATERSHED_ALERT_ACTION_GROUP_ID', '')

// Watershed's recording and alert rules as Managed Prometheus rule groups on the Azure Monitor
// workspace: Managed Prometheus evaluates Microsoft.AlertsManagement/prometheusRuleGroups, not
// PrometheusRule objects. The rules are observability/prometheus-rules.yaml itself, loaded when
// Bicep compiles, so they are written once; observability/check_rule_groups.py evaluates this file
// and fails when a group here differs from that file.
param name string
param location string
param tags object
param monitorWorkspaceId string

@description('The AKS cluster whose metrics the rules read: its resource id, a scope of each group.')
param clusterId string

@description('The `cluster` label Managed Prometheus puts on that cluster\'s metrics: the cluster\'s name unless a cluster_alias renames it.')
param clusterName string

@description('Resource id of the action group every alert notifies; empty: alerts fire in Azure Monitor and notify no one.')
param actionGroupId string = ''

var prometheusRules = loadYamlContent('../../observability/prometheus-rules.yaml')

// Azure Monitor's severities: 0 Critical, 1 Error, 2 Warning, 3 Informational, 4 Verbose.
var severities = {
  critical: 0
  warning: 2
}

var actions = empty(actionGroupId) ? [] : [
  {
    actionGroupId: actionGroupId
  }
]

resource ruleGroups 'Microsoft.AlertsManagement/prometheusRuleGroups@2023-03-01' = [for group in prometheusRules.groups: {
  name: '${name}-${group.name}'
  location: location
  tags: tags
  properties: {
    description: 'Watershed rule group ${group.name} (infra/deploy/observability/prometheus-rules.yaml)'
    enabled: true
    // Scoped to the one cluster, as Azure documents: the workspace and the cluster's id, and the
    // cluster label the rules then filter on.
    clusterName: clusterName
    scopes: [
      monitorWorkspaceId
      clusterId
    ]
    // Azure evaluates a group every 1 to 15 minutes: the recording group's 30 s becomes 1 minute,
    // the alert group keeps Prometheus's default of 1 minute.
    interval: 'PT1M'
    // `for` becomes ISO 8601: 5m is PT5M (s, m and h convert this way; d or w would not, and the
    // check fails on them).
    rules: [for rule in group.rules: contains(rule, 'alert') ? union({
      alert: rule.alert
      expression: rule.expr
      labels: rule.?labels ?? {}
      annotations: rule.?annotations ?? {}
      severity: severities[rule.labels.severity]
      enabled: true
      resolveConfiguration: {
        autoResolved: true
        timeToResolve: 'PT5M'
      }
      actions: actions
    }, contains(rule, 'for') ? { for: 'PT${toUpper(rule['for'])}' } : {}) : union({
      record: rule.record
      expression: rule.expr
      enabled: true
    }, contains(rule, 'labels') ? { labels: rule.labels } : {})]
  }
}]

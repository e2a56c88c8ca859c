/**
 * The alert rules as their alerts describe them. The server has no rules endpoint yet (the rules are a
 * file given to `watershed up`), so this list is derived from the alerts the page holds: a rule that
 * never raised one is not in it, and a rule changed in the file shows as its newest alert describes it.
 */

import type { Alert, Severity } from './api/types';
import { severityRank } from './alertFilter';

export interface RuleSeen {
  rule: string;
  severity: Severity;
  sensor: string;
  condition: Alert['condition'];
  threshold: number;
  /** The unit of the readings it judged, which is its threshold's. */
  unit: string | null;
  /** How many of its alerts given are active. */
  active: number;
}

/**
 * Each rule once, gravest first and then by name. The same alert may be given twice (the page holds
 * the listed alerts and every active one, which overlap) and is counted once.
 */
export function rulesSeen(alerts: readonly Alert[]): RuleSeen[] {
  const byId = new Map(alerts.map((alert) => [alert.id, alert]));
  const rules = new Map<string, { newest: Alert; active: number }>();
  for (const alert of byId.values()) {
    const active = alert.state === 'active' ? 1 : 0;
    const seen = rules.get(alert.rule);
    if (!seen) {
      rules.set(alert.rule, { newest: alert, active });
      continue;
    }
    seen.active += active;
    if (Date.parse(alert.raised_at) > Date.parse(seen.newest.raised_at)) seen.newest = alert;
  }
  return [...rules.values()]
    .map(({ newest: { rule, severity, sensor, condition, threshold, unit }, active }) => ({
      rule,
      severity,
      sensor,
      condition,
      threshold,
      unit,
      active,
    }))
    .sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || (a.rule < b.rule ? -1 : 1));
}

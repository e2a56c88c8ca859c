/**
 * The alert rules as the server defines them (`GET /v1/alert-rules`), as the alerts page lists them:
 * gravest first, each one's scope, sensor and condition in words, how many of its alerts are active;
 * and what the list shows when the server will not give it.
 */

import { afterRefusal } from './alertActions';
import { severityRank } from './alertFilter';
import { describeLimit } from './alerts';
import { describeError, isUnauthorized } from './api/client';
import type { Alert, AlertRule, AlertRuleList, RuleModel } from './api/types';
import { formatDuration, formatNumber } from './format';

/** Gravest first, then by name. */
export function sortRules(rules: readonly AlertRule[]): AlertRule[] {
  return [...rules].sort(
    (a, b) => severityRank(a.severity) - severityRank(b.severity) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** Which devices it judges: 'all devices', 'kind boiler', 'device boiler-1'. */
export function describeScope(rule: Pick<AlertRule, 'device' | 'kind'>): string {
  if (rule.device !== undefined) return `device ${rule.device}`;
  if (rule.kind !== undefined) return `kind ${rule.kind}`;
  return 'all devices';
}

/** Its sensor, or 'any sensor' (a silence of the whole device). */
export function describeSensor(rule: Pick<AlertRule, 'sensor'>): string {
  return rule.sensor ?? 'any sensor';
}

/**
 * What raises its alerts, in words, with what clears them: 'above 25 (clears at 24.5)', 'rising faster
 * than 0.5/s over 1 min', 'z-score above 4 after 30 readings', 'silent for 1 min', 'model score above
 * 0.9 over 8 readings'. A rule has no unit (it judges whatever its sensor sends).
 */
export function describeRule(rule: AlertRule): string {
  const limits = (...parts: [Parameters<typeof describeLimit>[0], number | undefined][]) =>
    parts.flatMap(([condition, value]) => (value === undefined ? [] : [describeLimit(condition, value, null)]));
  const clears = (unit = '') =>
    rule.clear_at === undefined ? [] : [`clears at ${formatNumber(rule.clear_at)}${unit}`];
  let raised: string[];
  let over = '';
  let notes: string[];
  switch (rule.detector) {
    case 'threshold':
      raised = limits(['above', rule.above], ['below', rule.below]);
      notes = clears();
      break;
    case 'rate':
      raised = limits(['rate_above', rule.rate_above], ['rate_below', rule.rate_below]);
      if (rule.window !== undefined) over = ` over ${formatDuration(rule.window)}`;
      notes = clears('/s');
      break;
    case 'anomaly':
      raised = limits(['anomaly', rule.zscore_above]);
      if (rule.warm_up !== undefined) over = ` after ${readings(rule.warm_up)}`;
      notes = [...(rule.alpha === undefined ? [] : [`smoothing ${formatNumber(rule.alpha)}`]), ...clears()];
      break;
    case 'silence':
      raised = rule.silent_for === undefined ? [] : [`silent for ${formatDuration(rule.silent_for)}`];
      notes = [];
      break;
    case 'model':
      raised = limits(['model', rule.score_above]);
      if (rule.inputs !== undefined) over = ` over ${readings(rule.inputs)}`;
      notes = clears();
      break;
  }
  const condition = raised.length > 0 ? raised.join(' or ') : `${rule.detector}, no limit set`;
  return `${condition}${over}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}

/** The model a rule scores with, by the start of its hash: 'model 3f2a9c1e… (1,234 bytes)'. */
export function describeModel(model: RuleModel): string {
  return `model ${model.sha256.slice(0, 8)}… (${formatNumber(model.bytes)} bytes)`;
}

/** How many active alerts each rule has among `alerts` (an alert given twice counts once). */
export function activeByRule(alerts: readonly Alert[]): Map<string, number> {
  const active = new Map<string, number>();
  const seen = new Set<string>();
  for (const alert of alerts) {
    if (alert.state !== 'active' || seen.has(alert.id)) continue;
    seen.add(alert.id);
    active.set(alert.rule, (active.get(alert.rule) ?? 0) + 1);
  }
  return active;
}

/**
 * The rules this page deleted, by name and the revision it deleted, as long as `list` still has them at
 * that revision: the list may have been read a moment before the deletion was. A rule defined again
 * since has a later revision, and is not this page's deletion.
 */
export function stillDeleted(deleted: ReadonlyMap<string, number>, list: AlertRuleList): Map<string, number> {
  const listed = new Map(list.rules.map((rule) => [rule.name, rule.revision]));
  return new Map(
    [...deleted].filter(([name, revision]) => {
      const now = listed.get(name);
      return now !== undefined && now <= revision;
    }),
  );
}

/** `list` without the rules this page deleted that it still has (see `stillDeleted`). */
export function withoutDeleted(list: AlertRuleList, deleted: ReadonlyMap<string, number>): AlertRuleList {
  return { ...list, rules: list.rules.filter((rule) => !(rule.revision <= (deleted.get(rule.name) ?? -1))) };
}

/** What the rules list shows. */
export type RulesState =
  | { show: 'loading' }
  | { show: 'rules'; list: AlertRuleList }
  /** The page's own token may not read them; `refused` says why the admin token held was not taken, if one was. */
  | { show: 'needs-admin-token'; refused: string | null }
  | { show: 'unavailable'; message: string };

/**
 * What the list shows after the server refused to give it, and whether to forget the admin token it
 * was asked with; null when the page's own token was refused (401), which the app answers with the
 * token form. The page's own token is normally the read token, which may not read the rules: that is
 * no error, the list waits for the admin token. Anything else (a 404 from a server older than the
 * rules API, a 503) is said as the server said it.
 */
export function afterRulesRefusal(
  error: unknown,
  withAdminToken: boolean,
): { state: RulesState; forgetAdminToken: boolean } | null {
  if (!withAdminToken && isUnauthorized(error)) return null;
  const refusal = afterRefusal(error, withAdminToken, 'read the alert rules');
  return {
    state: refusal.askAdminToken
      ? { show: 'needs-admin-token', refused: withAdminToken ? refusal.message : null }
      : { show: 'unavailable', message: `rules unavailable: ${describeError(error)}` },
    forgetAdminToken: refusal.forgetAdminToken,
  };
}

function readings(count: number): string {
  return `${count} ${count === 1 ? 'reading' : 'readings'}`;
}

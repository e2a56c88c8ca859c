/**
 * The alerts page's filter and order: read from and written to the address (`#/alerts?state=all&sort=severity`),
 * turned into `GET /v1/alerts`'s query, and applied again in the page to alerts it changed itself, which
 * the server lists as they were until its read models catch up.
 */

import { SEVERITIES, type Alert, type Severity } from './api/types';

export type StateFilter = Alert['state'] | 'all';
/** Newest raised first, or gravest first (then newest). */
export type AlertSort = 'raised' | 'severity';

export interface AlertFilter {
  state: StateFilter;
  /** null: either. */
  acknowledged: boolean | null;
  /** null: any. */
  severity: Severity | null;
  /** A device id; null: every device. */
  device: string | null;
  sort: AlertSort;
}

/** What needs attention: the page opens on the active alerts. */
export const DEFAULT_FILTER: AlertFilter = {
  state: 'active',
  acknowledged: null,
  severity: null,
  device: null,
  sort: 'raised',
};

const STATES: readonly StateFilter[] = ['active', 'cleared', 'all'];
const SORTS: readonly AlertSort[] = ['raised', 'severity'];

/** The filter an address names; what it leaves out or garbles is the default, as for the overview's sort. */
export function parseAlertFilter(params: URLSearchParams): AlertFilter {
  const acknowledged = params.get('acknowledged');
  return {
    state: oneOf(STATES, params.get('state')) ?? DEFAULT_FILTER.state,
    acknowledged: acknowledged === 'true' ? true : acknowledged === 'false' ? false : null,
    severity: oneOf(SEVERITIES, params.get('severity')),
    device: params.get('device')?.trim() || null,
    sort: oneOf(SORTS, params.get('sort')) ?? DEFAULT_FILTER.sort,
  };
}

/** The address's parameters for `filter`: only what differs from the default, so the plain page stays `#/alerts`. */
export function filterParams(filter: AlertFilter): URLSearchParams {
  const params = new URLSearchParams();
  if (filter.state !== DEFAULT_FILTER.state) params.set('state', filter.state);
  for (const [name, value] of narrowing(filter)) params.set(name, value);
  if (filter.sort !== DEFAULT_FILTER.sort) params.set('sort', filter.sort);
  return params;
}

/** `GET /v1/alerts`'s query for `filter`, at most `limit` alerts. The order is the page's: the server's is newest first. */
export function alertQuery(filter: Omit<AlertFilter, 'sort'>, limit: number): URLSearchParams {
  const query = new URLSearchParams(narrowing(filter));
  if (filter.state !== 'all') query.set('state', filter.state);
  query.set('limit', String(limit));
  return query;
}

/** Whether `alert` passes `filter`, as the server would decide. */
export function matchesFilter(alert: Alert, filter: AlertFilter): boolean {
  return (
    (filter.state === 'all' || alert.state === filter.state) &&
    (filter.acknowledged === null || alert.acknowledged === filter.acknowledged) &&
    (filter.severity === null || alert.severity === filter.severity) &&
    (filter.device === null || alert.device_id === filter.device)
  );
}

/** Newest raised first; or by severity, critical first, then newest. Ties by id, so the order holds across refreshes. */
export function sortAlerts(alerts: readonly Alert[], sort: AlertSort): Alert[] {
  const newestFirst = (a: Alert, b: Alert) =>
    Date.parse(b.raised_at) - Date.parse(a.raised_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
  const order =
    sort === 'severity'
      ? (a: Alert, b: Alert) => severityRank(a.severity) - severityRank(b.severity) || newestFirst(a, b)
      : newestFirst;
  return [...alerts].sort(order);
}

/** 0 for critical, up to 4 for info. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** What the page says when no alert passes the filter. */
export function nothingListed(filter: AlertFilter): string {
  const narrowed = narrowing(filter).length > 0;
  if (narrowed) return 'No alerts match these filters.';
  if (filter.state === 'active') return 'No active alerts.';
  if (filter.state === 'cleared') return 'No cleared alerts.';
  return 'No alerts yet. They are listed here once a reading breaks a rule.';
}

/** The parameters the address and the API share: acknowledged, severity, device. */
function narrowing(filter: Pick<AlertFilter, 'acknowledged' | 'severity' | 'device'>): [string, string][] {
  const entries: [string, string][] = [];
  if (filter.acknowledged !== null) entries.push(['acknowledged', String(filter.acknowledged)]);
  if (filter.severity !== null) entries.push(['severity', filter.severity]);
  if (filter.device !== null) entries.push(['device', filter.device]);
  return entries;
}

function oneOf<T extends string>(values: readonly T[], raw: string | null): T | null {
  return values.find((value) => value === raw) ?? null;
}

/**
 * Alerts as people read them: the fleet's total, what one alert is about, the overview cell's tooltip,
 * and on the alerts page where an alert stands and who has acted on it.
 */

import type { Alert, Condition, Device, OpenAlert } from './api/types';
import { formatDuration, formatNumber, formatValue } from './format';

/**
 * The open alerts of every device given. Decommissioned devices count too: an alert left open on one is
 * still open until the server clears it, and the total should agree with the rows below it.
 */
export function fleetOpenAlerts(devices: readonly Pick<Device, 'open_alerts'>[]): number {
  return devices.reduce((total, device) => total + device.open_alerts, 0);
}

/** 'no open alerts', '1 open alert', '3 open alerts'. */
export function formatAlertCount(count: number): string {
  if (count === 0) return 'no open alerts';
  return `${count} open ${count === 1 ? 'alert' : 'alerts'}`;
}

/** What is wrong: the rule's message when it has one, else e.g. 'temperature above 26 C'. */
export function describeAlert(alert: OpenAlert): string {
  // An empty message says nothing, so it falls back like a missing one.
  return alert.message || `${alert.sensor} ${describeLimit(alert.condition, alert.threshold, alert.unit)}`;
}

/**
 * What breaks the rule, in words: 'above 90 C', 'silent for over 1 min', 'rising faster than 0.5 C/s',
 * 'z-score above 4', 'model score above 0.9'. `unit` is the sensor's (null in a rule, which has none).
 */
export function describeLimit(condition: Condition, threshold: number, unit: string | null): string {
  switch (condition) {
    case 'above':
    case 'below':
      return `${condition} ${formatValue(threshold, unit)}`;
    case 'silent':
      return `silent for over ${formatDuration(threshold)}`;
    // The usual rate rules read as a direction; the others (a fall slower than some rate, say) as signed rates.
    case 'rate_above':
      return threshold >= 0 ? `rising faster than ${rate(threshold, unit)}` : `rate above ${rate(threshold, unit)}`;
    case 'rate_below':
      return threshold <= 0 ? `falling faster than ${rate(-threshold, unit)}` : `rate below ${rate(threshold, unit)}`;
    case 'anomaly':
      return `z-score above ${formatNumber(threshold)}`;
    case 'model':
      return `model score above ${formatNumber(threshold)}`;
  }
}

/** What the alert measured: '95.5 C', 'silent for 1 min 15 s', 'rising 0.62 C/s', 'z-score 4.3', 'model score 0.97'. */
export function describeValue(alert: Pick<OpenAlert, 'condition' | 'value' | 'unit'>): string {
  const { condition, value, unit } = alert;
  switch (condition) {
    case 'silent':
      return `silent for ${formatDuration(value)}`;
    case 'rate_above':
    case 'rate_below':
      return value < 0 ? `falling ${rate(-value, unit)}` : `rising ${rate(value, unit)}`;
    default:
      return onScale(condition, value, unit);
  }
}

/**
 * The value against the limit in one line, for conditions a sign does not say: 'rising 0.62 C/s (limit
 * 0.5 C/s)', 'z-score 4.3 (limit 4)', 'model score 0.97 (limit 0.9)', 'silent for 2 min (limit 1 min)'.
 */
export function describeBreach(alert: Pick<OpenAlert, 'condition' | 'threshold' | 'value' | 'unit'>): string {
  const { condition, threshold, unit } = alert;
  // A rate said as a direction gives its limit without the sign, as the words above do.
  const limit =
    (condition === 'rate_above' && threshold >= 0) || (condition === 'rate_below' && threshold <= 0)
      ? rate(Math.abs(threshold), unit)
      : condition === 'anomaly' || condition === 'model'
        ? formatNumber(threshold)
        : onScale(condition, threshold, unit);
  return `${describeValue(alert)} (limit ${limit})`;
}

/** Whether the condition's threshold is a reading of the sensor, which its chart can draw. */
export function onSensorScale(condition: Condition): boolean {
  return condition === 'above' || condition === 'below';
}

/** A value of what `condition` measures: '95.5 C', '1 min', '-0.2 C/s', 'z-score 2.1', 'model score 0.5'. */
function onScale(condition: Condition, value: number, unit: string | null): string {
  switch (condition) {
    case 'above':
    case 'below':
      return formatValue(value, unit);
    case 'silent':
      return formatDuration(value);
    case 'rate_above':
    case 'rate_below':
      return rate(value, unit);
    case 'anomaly':
      return `z-score ${formatNumber(value)}`;
    case 'model':
      return `model score ${formatNumber(value)}`;
  }
}

/** A change per second: '0.5 C/s', or '0.5/s' without a unit. */
function rate(value: number, unit: string | null): string {
  return unit ? `${formatNumber(value)} ${unit}/s` : `${formatNumber(value)}/s`;
}

/** The overview's Alerts cell tooltip: one line per alert, 'too-hot: temperature above 26 C'. */
export function alertsTooltip(alerts: readonly OpenAlert[]): string {
  if (alerts.length === 0) return 'no open alerts';
  return alerts.map((alert) => `${alert.rule}: ${describeAlert(alert)}`).join('\n');
}

/**
 * Where an alert stands: 'active', 'cleared by its rule at 84 C' (or 'at z-score 2.1', …), 'cleared by a new
 * reading' (a silence), 'cleared by hand', 'cleared: device decommissioned'.
 */
export function describeState(alert: Alert): string {
  if (alert.state === 'active') return 'active';
  switch (alert.clear_reason) {
    case 'rule':
      // A silence ends with any reading, whose unit the alert (in seconds) does not carry.
      if (alert.condition === 'silent') return 'cleared by a new reading';
      return alert.clear_value === null
        ? 'cleared by its rule'
        : `cleared by its rule at ${onScale(alert.condition, alert.clear_value, alert.unit)}`;
    case 'manual':
      return 'cleared by hand';
    case 'decommissioned':
      return 'cleared: device decommissioned';
    case 'rule_deleted':
      return 'cleared: its rule was deleted';
    case null:
      return 'cleared';
  }
}

export interface ActedOn {
  what: 'Acknowledged' | 'Cleared';
  by: string;
  note: string | null;
  at: string | null;
}

/** Who acknowledged the alert and who cleared it by hand, in that order, with their notes. */
export function actedOn(alert: Alert): ActedOn[] {
  const acts: ActedOn[] = [];
  if (alert.acknowledged_by) {
    acts.push({ what: 'Acknowledged', by: alert.acknowledged_by, note: alert.ack_note, at: alert.acknowledged_at });
  }
  if (alert.cleared_by) {
    acts.push({ what: 'Cleared', by: alert.cleared_by, note: alert.clear_note, at: alert.cleared_at });
  }
  return acts;
}

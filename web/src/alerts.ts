/**
 * Alerts as people read them: the fleet's total, what one alert is about, the overview cell's tooltip,
 * and on the alerts page where an alert stands and who has acted on it.
 */

import type { Alert, Device, OpenAlert } from './api/types';
import { formatValue } from './format';

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
  return alert.message || `${alert.sensor} ${alert.condition} ${formatValue(alert.threshold, alert.unit)}`;
}

/** The overview's Alerts cell tooltip: one line per alert, 'too-hot: temperature above 26 C'. */
export function alertsTooltip(alerts: readonly OpenAlert[]): string {
  if (alerts.length === 0) return 'no open alerts';
  return alerts.map((alert) => `${alert.rule}: ${describeAlert(alert)}`).join('\n');
}

/** Where an alert stands: 'active', 'cleared by its rule at 84 C', 'cleared by hand', 'cleared: device decommissioned'. */
export function describeState(alert: Alert): string {
  if (alert.state === 'active') return 'active';
  switch (alert.clear_reason) {
    case 'rule':
      return alert.clear_value === null
        ? 'cleared by its rule'
        : `cleared by its rule at ${formatValue(alert.clear_value, alert.unit)}`;
    case 'manual':
      return 'cleared by hand';
    case 'decommissioned':
      return 'cleared: device decommissioned';
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

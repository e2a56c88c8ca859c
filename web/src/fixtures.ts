/** Data the unit tests share; the app never imports this. */

import type { Alert, AlertRule } from './api/types';

/** An active, unacknowledged alert as `GET /v1/alerts` lists it, with `overrides`. */
export function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: '01a22fc2-aa4e-70ab-bb67-a05297a052cb',
    device_id: 'boiler-1',
    severity: 'major',
    state: 'active',
    acknowledged: false,
    rule: 'boiler-hot',
    sensor: 'boiler',
    condition: 'above',
    threshold: 90,
    value: 95.5,
    unit: 'C',
    message: null,
    raised_at: '2026-12-01T04:00:00Z',
    cleared_at: null,
    clear_reason: null,
    cleared_by: null,
    clear_note: null,
    clear_value: null,
    acknowledged_at: null,
    acknowledged_by: null,
    ack_note: null,
    ...overrides,
  };
}

/** A threshold rule for every device as `GET /v1/alert-rules` lists it, with `overrides`. */
export function rule(overrides: Partial<AlertRule> = {}): AlertRule {
  return {
    name: 'boiler-hot',
    severity: 'major',
    detector: 'threshold',
    revision: 1,
    defined_at: '2026-12-01T03:00:00Z',
    sensor: 'boiler',
    above: 90,
    ...overrides,
  };
}

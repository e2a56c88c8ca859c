/**
 * The alert API's answers, checked before the page trusts them. The list decides which buttons a row
 * offers and whose name it shows, so a field missing or of another type is reported as an answer the
 * page does not understand, rather than drawn as "undefined" or as an alert nobody can act on.
 */

import { Fields } from './fields';
import { CONDITIONS, SEVERITIES, type Alert, type AlertActionDone } from './types';

const STATES = ['active', 'cleared'] as const;
const CLEAR_REASONS = ['rule', 'manual', 'decommissioned', 'rule_deleted'] as const;

/** The `alerts` of a `GET /v1/alerts` answer. */
export function parseAlertList(body: unknown): Alert[] {
  return new Fields(body, '').list('alerts', parseAlert);
}

/** A `POST /v1/alerts/{id}/ack` or `/clear` answer. */
export function parseActionDone(body: unknown): AlertActionDone {
  const f = new Fields(body, '');
  return {
    id: f.string('id'),
    device_id: f.string('device_id'),
    state: f.oneOf('state', STATES),
    acknowledged: f.boolean('acknowledged'),
    changed: f.boolean('changed'),
  };
}

function parseAlert(f: Fields): Alert {
  return {
    id: f.string('id'),
    device_id: f.string('device_id'),
    severity: f.oneOf('severity', SEVERITIES),
    state: f.oneOf('state', STATES),
    acknowledged: f.boolean('acknowledged'),
    rule: f.string('rule'),
    sensor: f.string('sensor'),
    condition: f.oneOf('condition', CONDITIONS),
    threshold: f.number('threshold'),
    value: f.number('value'),
    unit: f.nullable('unit', (name) => f.string(name)),
    message: f.nullable('message', (name) => f.string(name)),
    raised_at: f.time('raised_at'),
    cleared_at: f.nullable('cleared_at', (name) => f.time(name)),
    clear_reason: f.nullable('clear_reason', (name) => f.oneOf(name, CLEAR_REASONS)),
    cleared_by: f.nullable('cleared_by', (name) => f.string(name)),
    clear_note: f.nullable('clear_note', (name) => f.string(name)),
    clear_value: f.nullable('clear_value', (name) => f.number(name)),
    acknowledged_at: f.nullable('acknowledged_at', (name) => f.time(name)),
    acknowledged_by: f.nullable('acknowledged_by', (name) => f.string(name)),
    ack_note: f.nullable('ack_note', (name) => f.string(name)),
  };
}

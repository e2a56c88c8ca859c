/**
 * The alert API's answers, checked before the page trusts them. The list decides which buttons a row
 * offers and whose name it shows, so a field missing or of another type is reported as an answer the
 * page does not understand, rather than drawn as "undefined" or as an alert nobody can act on.
 */

import { SEVERITIES, type Alert, type AlertActionDone } from './types';

const STATES = ['active', 'cleared'] as const;
const CONDITIONS = ['above', 'below'] as const;
const CLEAR_REASONS = ['rule', 'manual', 'decommissioned'] as const;

/** The `alerts` of a `GET /v1/alerts` answer. */
export function parseAlertList(body: unknown): Alert[] {
  const list = new Fields(body, '').value('alerts', 'an array', Array.isArray);
  return list.map((item, i) => parseAlert(item, `alerts[${i}]`));
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

function parseAlert(item: unknown, at: string): Alert {
  const f = new Fields(item, at);
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

function notUnderstood(what: string): Error {
  return new Error(`the API answered something this page does not understand: ${what}`);
}

/** Reads the fields of one JSON object, throwing an error that names the field and what it held instead. */
class Fields {
  private readonly object: Record<string, unknown>;

  constructor(
    object: unknown,
    /** Where the object is in the answer, e.g. 'alerts[3]'; '' for the answer itself. */
    private readonly at: string,
  ) {
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      throw notUnderstood(`${at || 'the answer'} is not an object`);
    }
    this.object = object as Record<string, unknown>;
  }

  value<T>(name: string, expected: string, is: (value: unknown) => value is T): T {
    const value = this.object[name];
    if (is(value)) return value;
    const shown = value === undefined ? 'missing' : JSON.stringify(value);
    throw notUnderstood(`${this.at ? `${this.at}.` : ''}${name} is ${shown}, not ${expected}`);
  }

  string(name: string): string {
    return this.value(name, 'a string', (v) => typeof v === 'string');
  }

  number(name: string): number {
    return this.value(name, 'a number', (v): v is number => typeof v === 'number' && Number.isFinite(v));
  }

  boolean(name: string): boolean {
    return this.value(name, 'true or false', (v) => typeof v === 'boolean');
  }

  /** An RFC 3339 time: the page sorts and formats it, so it must parse. */
  time(name: string): string {
    return this.value(name, 'a time', (v): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v)));
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    return this.value(name, `one of ${values.join(', ')}`, (v): v is T => values.includes(v as T));
  }

  /** Null when null or left out (a server may leave out what it has not got), else what `read` reads. */
  nullable<T>(name: string, read: (name: string) => T): T | null {
    return this.object[name] === null || this.object[name] === undefined ? null : read(name);
  }
}

/** One-line summaries of a device's stored events, for the device page's history table. */

import { describeBreach, onSensorScale } from './alerts';
import { CONDITIONS, type Envelope } from './api/types';
import { formatNumber, formatValue } from './format';

type Payload = Record<string, unknown>;

/** 'disabled: maintenance', or 'disabled' when no reason was given. */
const withReason =
  (what: string) =>
  (p: Payload): string =>
    text(p.reason) ? `${what}: ${text(p.reason)}` : what;

const summaries: Record<string, (payload: Payload) => string> = {
  ReadingsRecorded: (p) => {
    const count = Array.isArray(p.readings) ? p.readings.length : 0;
    const readings = `${count} ${count === 1 ? 'reading' : 'readings'}`;
    return typeof p.batch_id === 'string' ? `${readings}, batch ${p.batch_id}` : readings;
  },
  DeviceRegistered: (p) => {
    const parts = [
      text(p.name) && `as ${text(p.name)}`,
      text(p.kind) && `(${text(p.kind)})`,
      text(p.location) && `at ${text(p.location)}`,
    ];
    return ['registered', ...parts].filter(Boolean).join(' ');
  },
  DeviceDecommissioned: withReason('decommissioned'),
  DeviceKeyRotated: () => 'device key rotated',
  // The registry's changes; a null field is the value removed.
  DeviceRenamed: (p) => (text(p.name) ? `renamed to "${text(p.name)}"` : 'name removed'),
  DeviceMoved: (p) => (text(p.location) ? `moved to ${text(p.location)}` : 'location removed'),
  DeviceRetagged: (p) => {
    const tags = texts(p.tags);
    return tags.length > 0 ? `tags: ${tags.join(', ')}` : 'tags removed';
  },
  DeviceDisabled: withReason('disabled'),
  DeviceEnabled: () => 'enabled',
  // 'raised: too-hot on temperature 27.1 C > 26 — Server room too hot': the reading against the threshold it
  // crossed; or what else the rule measures against its limit, 'spike on temperature rising 0.62 C/s (limit 0.5 C/s)'.
  AlertRaised: (p) => {
    const message = text(p.message) ? ` — ${text(p.message)}` : '';
    const condition = CONDITIONS.find((c) => c === p.condition);
    if (condition && !onSensorScale(condition) && typeof p.value === 'number' && typeof p.threshold === 'number') {
      const measured = describeBreach({ condition, threshold: p.threshold, value: p.value, unit: text(p.unit) });
      return `raised: ${alertSource(p)} ${measured}${message}`;
    }
    const sign = condition === 'above' ? '>' : condition === 'below' ? '<' : null;
    const threshold = sign && typeof p.threshold === 'number' ? ` ${sign} ${formatNumber(p.threshold)}` : '';
    return `raised: ${alertReading(p)}${threshold}${message}`;
  },
  AlertCleared: (p) => `cleared: ${alertReading(p)}`,
  // Ended without its rule: 'retired: too-hot, its rule was deleted'.
  AlertRetired: (p) =>
    `retired: ${text(p.rule) ?? 'alert'}, ${p.reason === 'rule_deleted' ? 'its rule was deleted' : 'device decommissioned'}`,
  SensorsAdded: (p) => `new sensors: ${texts(p.sensors).join(', ')}`,
};

/** A short summary of an event's payload, e.g. '100 readings, batch b-123'. Unknown types show their payload. */
export function summarizeEvent(event: Pick<Envelope, 'event_type' | 'payload'>): string {
  const payload = isObject(event.payload) ? event.payload : {};
  const summarize = summaries[event.event_type];
  if (summarize) return summarize(payload);
  const json = JSON.stringify(event.payload) ?? '';
  return json.length > 80 ? `${json.slice(0, 79)}…` : json;
}

/** Which rule, on which sensor: 'too-hot on temperature'. */
function alertSource(p: Payload): string {
  return [text(p.rule) ?? 'alert', text(p.sensor) && `on ${text(p.sensor)}`].filter(Boolean).join(' ');
}

/** Which rule, on which sensor, at what reading: 'too-hot on temperature 27.1 C'. */
function alertReading(p: Payload): string {
  const value = typeof p.value === 'number' ? formatValue(p.value, text(p.unit)) : null;
  return [alertSource(p), value].filter(Boolean).join(' ');
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** The strings of a list (none when it is not one). */
function texts(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function isObject(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

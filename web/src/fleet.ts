/**
 * The fleet as the page holds it: devices from `GET /v1/devices`, kept current by live events.
 * Pure functions; the views own the state and redraw from what these return.
 */

import type { Device, DeviceStatus, SensorReading } from './api/types';
import { statusAt } from './status';

/**
 * Folds readings into a device's latest values: per sensor the newest `measured_at` wins, so a late or
 * replayed reading never hides a newer one. New sensors are added in name order, as the API sorts them.
 */
export function mergeReadings(device: Device, readings: readonly SensorReading[]): Device {
  const latest = new Map(device.sensors.map((s) => [s.sensor, s]));
  for (const reading of readings) {
    const known = latest.get(reading.sensor);
    if (!known || Date.parse(reading.measured_at) >= Date.parse(known.measured_at)) {
      latest.set(reading.sensor, { ...reading, unit: reading.unit ?? null });
    }
  }
  const sensors = [...latest.values()].sort((a, b) => compareText(a.sensor, b.sensor));
  return { ...device, sensors, last_seen: newest(device.last_seen, ...readings.map((r) => r.measured_at)) };
}

/**
 * Takes a newer view of a device (a live `device` event or a refresh) over the one held. Its details win,
 * but latest values are merged reading by reading: a refresh answered a moment before a live reading
 * arrived must not roll that reading back.
 */
export function mergeDevice(held: Device | undefined, incoming: Device): Device {
  if (!held) return incoming;
  return mergeReadings(incoming, held.sensors);
}

/** A device's tags, sorted; none from a server older than the device registry. */
export function tagsOf(device: Pick<Device, 'tags'>): readonly string[] {
  return device.tags ?? [];
}

/** The devices whose id, name, kind, location or one of whose tags contain `query` (any case). */
export function filterDevices(devices: readonly Device[], query: string): Device[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return [...devices];
  return devices.filter((d) =>
    [d.device_id, d.name, d.kind, d.location, ...tagsOf(d)].some((field) => field?.toLowerCase().includes(needle)),
  );
}

/** The devices carrying `tag`, matched exactly as the API's `?tag=` does (case counts); all of them for null. */
export function withTag(devices: readonly Device[], tag: string | null): Device[] {
  if (tag === null) return [...devices];
  return devices.filter((d) => tagsOf(d).includes(tag));
}

/**
 * The tag filter's choices: every tag some device carries and the one `chosen` (which may be carried by
 * none, e.g. from an old address), once each, in code-point order.
 */
export function tagChoices(devices: readonly Device[], chosen: string | null): string[] {
  const tags = new Set(devices.flatMap((d) => tagsOf(d)));
  if (chosen !== null) tags.add(chosen);
  return [...tags].sort(compareText);
}

/** What the overview is narrowed to, besides sorting; each part stays in the address. */
export interface FleetFilter {
  query: string;
  alertsOnly: boolean;
  tag: string | null;
}

/** Why the overview lists no device although the fleet has some: which filters left none. */
export function nothingShownMessage({ query, alertsOnly, tag }: FleetFilter): string {
  const text = query.trim();
  const tagged = tag === null ? '' : ` tagged “${tag}”`;
  if (text) return `No device${tagged}${alertsOnly ? ' with open alerts' : ''} matches “${text}”.`;
  if (alertsOnly) return `No device${tagged} has an open alert.`;
  return tag === null ? 'No device.' : `No device is tagged “${tag}”.`;
}

/** The devices with at least one open alert. */
export function withOpenAlerts(devices: readonly Device[]): Device[] {
  return devices.filter((d) => d.open_alerts > 0);
}

export type SortKey = 'id' | 'last_seen' | 'status' | 'alerts';

const SORT_KEYS: readonly SortKey[] = ['id', 'last_seen', 'status', 'alerts'];

/**
 * Silent devices first: on a wall screen the ones needing attention lead. Disabled ones are silent on
 * purpose, so they come after those that work.
 */
const STATUS_ORDER: Record<DeviceStatus, number> = { silent: 0, online: 1, disabled: 2, decommissioned: 3 };

/**
 * Sorts by id (A→Z), last seen (newest first, never-seen last), status (silent, online, disabled,
 * decommissioned) or open alerts (most first); ties by id.
 */
export function sortDevices(devices: readonly Device[], key: SortKey, now: Date): Device[] {
  const byId = (a: Device, b: Device) => compareText(a.device_id, b.device_id);
  const order: Record<SortKey, (a: Device, b: Device) => number> = {
    id: byId,
    last_seen: (a, b) => seenAt(b) - seenAt(a) || byId(a, b),
    status: (a, b) => STATUS_ORDER[statusAt(a, now)] - STATUS_ORDER[statusAt(b, now)] || byId(a, b),
    alerts: (a, b) => b.open_alerts - a.open_alerts || byId(a, b),
  };
  return [...devices].sort(order[key]);
}

export function parseSortKey(raw: string | null): SortKey {
  return SORT_KEYS.find((key) => key === raw) ?? 'id';
}

function seenAt(device: Device): number {
  return device.last_seen ? Date.parse(device.last_seen) : Number.NEGATIVE_INFINITY;
}

/** The latest of some RFC 3339 timestamps, as given (null when none). */
function newest(...times: (string | null)[]): string | null {
  let best: string | null = null;
  for (const time of times) {
    if (time && (best === null || Date.parse(time) > Date.parse(best))) best = time;
  }
  return best;
}

/** Code-point order, as the API sorts ids and sensor names (not locale order). */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A device's status badge. The server says online while the newest reading is at most 5 minutes old;
 * the page applies the same rule as time passes, so a wall screen shows a device going silent without
 * waiting for the next refresh. It assumes the browser's clock is roughly right (NTP), as the server does of devices'.
 */

import type { Device, DeviceStatus } from './api/types';
import { formatAgo, formatTimestamp } from './format';

/** The server's rule: online while the newest reading is at most this old. */
const ONLINE_WINDOW_MS = 5 * 60 * 1000;

/** Decommissioned and disabled devices stay so whatever they sent last: only the server changes that. */
export function statusAt(device: Pick<Device, 'status' | 'last_seen'>, now: Date): DeviceStatus {
  if (device.status === 'decommissioned' || device.status === 'disabled') return device.status;
  if (!device.last_seen) return 'silent';
  const age = now.getTime() - Date.parse(device.last_seen);
  return age <= ONLINE_WINDOW_MS ? 'online' : 'silent';
}

export interface Badge {
  label: string;
  /** CSS modifier: badge--ok, badge--warn, badge--paused, badge--off. */
  tone: 'ok' | 'warn' | 'paused' | 'off';
  /** What the badge means, for its tooltip. */
  hint: string;
}

export function badgeFor(status: DeviceStatus): Badge {
  switch (status) {
    case 'online':
      return { label: 'online', tone: 'ok', hint: 'a reading in the last 5 minutes' };
    case 'silent':
      return { label: 'silent', tone: 'warn', hint: 'no reading for more than 5 minutes' };
    case 'disabled':
      return { label: 'disabled', tone: 'paused', hint: 'its readings are refused until it is enabled again' };
    case 'decommissioned':
      return { label: 'decommissioned', tone: 'off', hint: 'takes no more readings; history kept' };
  }
}

/**
 * Since when a disabled device is, for its page: 'disabled since 2026-12-01 08:00:00 (2 h ago): …'. Null
 * while it is not disabled (a decommissioned device keeps no `disabled_at` worth telling).
 */
export function disabledNote(device: Pick<Device, 'status' | 'disabled_at'>, now: Date): string | null {
  if (device.status !== 'disabled' || !device.disabled_at) return null;
  const at = new Date(device.disabled_at);
  return `disabled since ${formatTimestamp(at)} (${formatAgo(at, now)}): its readings are refused until it is enabled again`;
}

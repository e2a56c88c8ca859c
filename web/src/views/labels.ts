/** Small pieces both pages show: a device's status badge and a sensor's latest value. */

import type { DeviceStatus, SensorReading } from '../api/types';
import { setText } from '../dom';
import { formatTimestamp, formatValue } from '../format';
import { badgeFor } from '../status';

export function showStatusBadge(badge: HTMLElement, status: DeviceStatus): void {
  const { label, tone, hint } = badgeFor(status);
  setText(badge, label);
  badge.className = `badge badge--${tone}`;
  badge.title = hint;
}

/**
 * Writes the rounded value with its unit into `value`, and the exact value and time as data attributes
 * of `holder`, for tests and scripts that read the page.
 */
export function showLatestValue(value: HTMLElement, holder: HTMLElement, reading: SensorReading): void {
  setText(value, formatValue(reading.value, reading.unit));
  value.title = `measured ${formatTimestamp(new Date(reading.measured_at))}`;
  holder.dataset.value = String(reading.value);
  holder.dataset.measuredAt = reading.measured_at;
}

/**
 * Small pieces several pages show: a device's status badge and tags, a sensor's latest value, an alert's
 * severity.
 */

import type { DeviceStatus, SensorReading, Severity } from '../api/types';
import { el, setText } from '../dom';
import { formatTimestamp, formatValue } from '../format';
import { badgeFor } from '../status';

export function showStatusBadge(badge: HTMLElement, status: DeviceStatus): void {
  const { label, tone, hint } = badgeFor(status);
  setText(badge, label);
  badge.className = `badge badge--${tone}`;
  badge.title = hint;
}

/**
 * Puts a device's tags in `holder` as chips made by `chip`, touching the page only when they changed: a
 * fleet row is updated on every reading. `data-tags` on the holder lists them, for tests and scripts.
 */
export function showTags(holder: HTMLElement, tags: readonly string[], chip: (tag: string) => HTMLElement): void {
  // A tag holds no spaces, so the joined list names the tags exactly.
  const listed = tags.join(' ');
  if (holder.dataset.tags === listed) return;
  holder.dataset.tags = listed;
  holder.replaceChildren(...tags.map(chip));
  holder.hidden = tags.length === 0;
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

/** An alert's severity as a badge, coloured by how grave it is (the word says it too). */
export function severityBadge(severity: Severity): HTMLElement {
  return el('span', { class: `badge severity severity--${severity}`, 'data-severity': severity }, severity);
}

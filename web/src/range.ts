/**
 * The device page's time range: a preset that follows the clock ("last 1 h") or fixed from/to, and the
 * resolution to ask for: raw up to 1 hour, 1-minute buckets up to 48 hours, 1-hour buckets beyond.
 */

import type { Resolution } from './api/types';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const PRESETS = {
  '15m': { label: '15 min', span: 15 * MINUTE },
  '1h': { label: '1 h', span: HOUR },
  '24h': { label: '24 h', span: 24 * HOUR },
  '7d': { label: '7 d', span: 7 * 24 * HOUR },
} as const;

export type Preset = keyof typeof PRESETS;

const DEFAULT_PRESET: Preset = '1h';

export type RangeChoice = { kind: 'preset'; preset: Preset } | { kind: 'custom'; from: Date; to: Date };

export interface TimeWindow {
  from: Date;
  to: Date;
}

/** The window a choice covers at `now`; a preset ends now. */
export function windowOf(choice: RangeChoice, now: Date): TimeWindow {
  if (choice.kind === 'custom') return { from: choice.from, to: choice.to };
  return { from: new Date(now.getTime() - PRESETS[choice.preset].span), to: now };
}

/** The coarsest detail a chart of this window needs: raw ≤ 1 h, 1m ≤ 48 h, else 1h. */
export function resolutionFor(window: TimeWindow): Resolution {
  const span = window.to.getTime() - window.from.getTime();
  if (span <= HOUR) return 'raw';
  if (span <= 48 * HOUR) return '1m';
  return '1h';
}

/** Bucket width in milliseconds (0 for raw). */
export function bucketSize(resolution: Resolution): number {
  return resolution === '1m' ? MINUTE : resolution === '1h' ? HOUR : 0;
}

/** Reads `?range=24h` or `?from=…&to=…` (RFC 3339) from a route; anything unusable means the default preset. */
export function parseRange(params: URLSearchParams): RangeChoice {
  const from = parseTime(params.get('from'));
  const to = parseTime(params.get('to'));
  if (from && to && from < to) return { kind: 'custom', from, to };
  const preset = params.get('range');
  return { kind: 'preset', preset: isPreset(preset) ? preset : DEFAULT_PRESET };
}

/** The route parameters that `parseRange` reads back to the same choice. */
export function rangeParams(choice: RangeChoice): URLSearchParams {
  if (choice.kind === 'preset') return new URLSearchParams({ range: choice.preset });
  return new URLSearchParams({ from: choice.from.toISOString(), to: choice.to.toISOString() });
}

function isPreset(value: string | null): value is Preset {
  return value !== null && Object.hasOwn(PRESETS, value);
}

function parseTime(value: string | null): Date | null {
  if (!value) return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : time;
}

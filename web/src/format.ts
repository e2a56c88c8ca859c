/** How numbers, times and durations read on the dashboard. Fixed 'en-US' number style, local time zone for clock times. */

const numberFormats = new Map<string, Intl.NumberFormat>();

function numberFormat(options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options);
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat('en-US', options);
    numberFormats.set(key, format);
  }
  return format;
}

/**
 * A reading for people: fewer decimals the larger the number (1,235 · 123.5 · 21.25 · 0.0123), so a
 * column of values stays readable at a glance. The exact value is in the charts' hover legend.
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude === 0) return '0';
  if (magnitude < 1) return numberFormat({ maximumSignificantDigits: 3 }).format(value);
  const decimals = magnitude >= 1000 ? 0 : magnitude >= 100 ? 1 : 2;
  return numberFormat({ maximumFractionDigits: decimals }).format(value);
}

/** A value with its unit, e.g. '21.5 C' or '42' when the sensor has none. */
export function formatValue(value: number, unit: string | null | undefined): string {
  return unit ? `${formatNumber(value)} ${unit}` : formatNumber(value);
}

/**
 * A value as sent, for the charts' hover legend: every decimal a device reports (up to 6, which also
 * hides float noise in bucket averages), with grouping and the unit.
 */
export function formatExact(value: number, unit: string | null | undefined): string {
  const text = numberFormat({ maximumFractionDigits: 6 }).format(value);
  return unit ? `${text} ${unit}` : text;
}

/** A duration: '< 0.1 s', '0.4 s' below 10 s, then whole seconds, minutes, hours and days with their next unit. */
export function formatDuration(seconds: number): string {
  if (seconds > 0 && seconds < 0.1) return '< 0.1 s';
  if (seconds < 10) return `${Number(seconds.toFixed(1))} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'min'],
    [1, 's'],
  ];
  const i = units.findIndex(([size]) => s >= size);
  const [size, name] = units[i]!;
  const [nextSize, nextName] = units[i + 1]!;
  const whole = Math.floor(s / size);
  const rest = Math.floor((s % size) / nextSize);
  return rest ? `${whole} ${name} ${rest} ${nextName}` : `${whole} ${name}`;
}

/** How long ago `at` was, for 'last seen' columns: 'never', 'just now', '12 s ago', '3 min ago', '2 h ago'. */
export function formatAgo(at: Date | null, now: Date): string {
  if (!at) return 'never';
  const seconds = (now.getTime() - at.getTime()) / 1000;
  // Device clocks run slightly ahead of the browser's at times; that is still "now" to a reader.
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${Math.floor(seconds)} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A local clock time, '2026-11-23 10:00:05', sortable and the same at every width. */
export function formatTimestamp(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const date = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return `${date} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

/** A count of events with its noun: '1 event', '12,000 events'. */
export function formatEvents(count: number): string {
  return `${numberFormat({}).format(count)} ${count === 1 ? 'event' : 'events'}`;
}

/** The projections' distance from the event store, said plainly: 'projections 0.4 s behind (34 events)'. */
export function formatLag(lagEvents: number, lagSeconds: number | null): string {
  if (lagEvents === 0) return 'projections up to date';
  const events = formatEvents(lagEvents);
  if (lagSeconds === null) return `projections ${events} behind`;
  return `projections ${formatDuration(lagSeconds)} behind (${events})`;
}

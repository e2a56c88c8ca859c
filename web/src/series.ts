/**
 * A sensor's points as columns (times in seconds), the shape uPlot draws, with live readings folded in.
 * Raw series get the reading as a point; bucketed series update the bucket it falls in.
 */

import type uPlot from 'uplot';
import type { Resolution, Series } from './api/types';
import { bucketSize } from './range';

export interface Columns {
  resolution: Resolution;
  /** Seconds since the epoch, ascending: the reading's time, or the bucket's start. */
  t: number[];
  /** The reading's value, or the bucket's average. */
  value: number[];
  /** Bucketed series only (empty for raw). */
  min: number[];
  max: number[];
  count: number[];
}

export function columnsFrom(series: Series): Columns {
  const t = series.points.map((p) => Date.parse(p.t) / 1000);
  if (series.resolution === 'raw') {
    return { resolution: 'raw', t, value: series.points.map((p) => p.value), min: [], max: [], count: [] };
  }
  const points = series.points;
  return {
    resolution: series.resolution,
    t,
    value: points.map((p) => p.avg),
    min: points.map((p) => p.min),
    max: points.map((p) => p.max),
    count: points.map((p) => p.count),
  };
}

export function emptyColumns(resolution: Resolution): Columns {
  return { resolution, t: [], value: [], min: [], max: [], count: [] };
}

/**
 * Adds one reading in place, keeping times ascending (late readings land where they belong).
 * A raw point already present with the same time and value is not added twice: the live stream can
 * deliver a reading that the fetch that drew the chart already contained. A bucket cannot tell, so such a
 * reading nudges the newest bucket's count and average (never its min or max) until the next fetch.
 */
export function addReading(columns: Columns, measuredAtMs: number, value: number): void {
  const size = bucketSize(columns.resolution);
  if (size === 0) {
    const at = measuredAtMs / 1000;
    const i = upperBound(columns.t, at);
    for (let j = i - 1; j >= 0 && columns.t[j] === at; j--) {
      if (columns.value[j] === value) return;
    }
    columns.t.splice(i, 0, at);
    columns.value.splice(i, 0, value);
    return;
  }
  const start = (Math.floor(measuredAtMs / size) * size) / 1000;
  const i = upperBound(columns.t, start);
  if (columns.t[i - 1] === start) {
    const b = i - 1;
    const count = columns.count[b]!;
    columns.value[b] = (columns.value[b]! * count + value) / (count + 1);
    columns.min[b] = Math.min(columns.min[b]!, value);
    columns.max[b] = Math.max(columns.max[b]!, value);
    columns.count[b] = count + 1;
    return;
  }
  columns.t.splice(i, 0, start);
  columns.value.splice(i, 0, value);
  columns.min.splice(i, 0, value);
  columns.max.splice(i, 0, value);
  columns.count.splice(i, 0, 1);
}

/** Drops, in place, the points (or whole buckets) that end before `cutoffMs`: the window slid past them. */
export function dropBefore(columns: Columns, cutoffMs: number): void {
  const size = bucketSize(columns.resolution);
  let keepFrom = 0;
  while (keepFrom < columns.t.length && columns.t[keepFrom]! * 1000 + size < cutoffMs) keepFrom++;
  if (keepFrom === 0) return;
  for (const column of [columns.t, columns.value, columns.min, columns.max, columns.count]) {
    column.splice(0, Math.min(keepFrom, column.length));
  }
}

/** uPlot's data: [t, value] for raw, [t, avg, min, max] for buckets. */
export function chartData(columns: Columns): uPlot.AlignedData {
  return columns.resolution === 'raw'
    ? [columns.t, columns.value]
    : [columns.t, columns.value, columns.min, columns.max];
}

/** The first index whose time is greater than `at`. */
function upperBound(times: number[], at: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

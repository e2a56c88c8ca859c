import { describe, expect, it } from 'vitest';
import type { Series } from './api/types';
import { addReading, chartData, columnsFrom, dropBefore, emptyColumns } from './series';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const s = (ms: number) => (T0 + ms) / 1000;

describe('columnsFrom', () => {
  it('turns raw points into time and value columns in seconds', () => {
    const series: Series = {
      device_id: 'a',
      sensor: 't',
      unit: 'C',
      resolution: 'raw',
      from: '',
      to: '',
      truncated: false,
      points: [
        { t: '2026-11-23T10:00:00Z', value: 1 },
        { t: '2026-11-23T10:00:01.500Z', value: 2 },
      ],
    };
    const columns = columnsFrom(series);
    expect(columns.t).toEqual([s(0), s(1500)]);
    expect(chartData(columns)).toEqual([
      [s(0), s(1500)],
      [1, 2],
    ]);
  });

  it('draws buckets as avg with min and max', () => {
    const series: Series = {
      device_id: 'a',
      sensor: 't',
      unit: 'C',
      resolution: '1m',
      from: '',
      to: '',
      truncated: false,
      points: [{ t: '2026-11-23T10:00:00Z', count: 3, min: 1, max: 5, avg: 2 }],
    };
    expect(chartData(columnsFrom(series))).toEqual([[s(0)], [2], [1], [5]]);
  });
});

describe('addReading to raw columns', () => {
  it('appends in time order and slots a late reading where it belongs', () => {
    const columns = emptyColumns('raw');
    addReading(columns, T0 + 2000, 2);
    addReading(columns, T0 + 3000, 3);
    addReading(columns, T0 + 1000, 1);
    expect(columns.t).toEqual([s(1000), s(2000), s(3000)]);
    expect(columns.value).toEqual([1, 2, 3]);
  });

  it('skips a reading the fetched series already had, but keeps a different value at the same time', () => {
    const columns = emptyColumns('raw');
    addReading(columns, T0, 5);
    addReading(columns, T0, 5);
    addReading(columns, T0, 6);
    expect(columns.value).toEqual([5, 6]);
  });
});

describe('addReading to buckets', () => {
  it('updates the bucket the reading falls in: count, min, max and the running average', () => {
    const columns = emptyColumns('1m');
    addReading(columns, T0 + 5_000, 10);
    addReading(columns, T0 + 59_999, 20);
    addReading(columns, T0 + 30_000, 3);
    expect(columns).toMatchObject({ t: [s(0)], count: [3], min: [3], max: [20], value: [11] });
  });

  it('opens a new bucket at the start of its minute, in time order', () => {
    const columns = emptyColumns('1m');
    addReading(columns, T0 + 125_000, 1);
    addReading(columns, T0 + 10_000, 2);
    expect(columns.t).toEqual([s(0), s(120_000)]);
    expect(columns.value).toEqual([2, 1]);
  });

  it('buckets by the hour for 1h series', () => {
    const columns = emptyColumns('1h');
    addReading(columns, T0 + 59 * 60_000, 4);
    addReading(columns, T0 + 1000, 2);
    expect(columns).toMatchObject({ t: [s(0)], count: [2], value: [3] });
  });
});

describe('dropBefore', () => {
  it('drops raw points before the cutoff and keeps the rest', () => {
    const columns = emptyColumns('raw');
    [0, 1000, 2000].forEach((ms, i) => addReading(columns, T0 + ms, i));
    dropBefore(columns, T0 + 1000);
    expect(columns.t).toEqual([s(1000), s(2000)]);
    expect(columns.value).toEqual([1, 2]);
  });

  it('keeps a bucket the cutoff falls inside, drops those that ended before it', () => {
    const columns = emptyColumns('1m');
    addReading(columns, T0, 1);
    addReading(columns, T0 + 60_000, 2);
    dropBefore(columns, T0 + 90_000);
    expect(columns).toMatchObject({ t: [s(60_000)], value: [2], min: [2], max: [2], count: [1] });
  });
});

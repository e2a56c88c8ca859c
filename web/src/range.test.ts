import { describe, expect, it } from 'vitest';
import { bucketSize, parseRange, rangeParams, resolutionFor, windowOf } from './range';

const HOUR = 3_600_000;
const at = (ms: number) => ({ from: new Date(0), to: new Date(ms) });

describe('resolutionFor', () => {
  it('asks for raw points up to one hour', () => {
    expect(resolutionFor(at(15 * 60_000))).toBe('raw');
    expect(resolutionFor(at(HOUR))).toBe('raw');
  });

  it('asks for 1-minute buckets above one hour up to 48 hours', () => {
    expect(resolutionFor(at(HOUR + 1))).toBe('1m');
    expect(resolutionFor(at(24 * HOUR))).toBe('1m');
    expect(resolutionFor(at(48 * HOUR))).toBe('1m');
  });

  it('asks for 1-hour buckets beyond 48 hours', () => {
    expect(resolutionFor(at(48 * HOUR + 1))).toBe('1h');
    expect(resolutionFor(at(7 * 24 * HOUR))).toBe('1h');
  });
});

describe('windowOf', () => {
  const now = new Date('2026-11-23T10:00:00Z');

  it('ends a preset at now', () => {
    expect(windowOf({ kind: 'preset', preset: '24h' }, now)).toEqual({
      from: new Date('2026-11-22T10:00:00Z'),
      to: now,
    });
    expect(windowOf({ kind: 'preset', preset: '15m' }, now).from).toEqual(new Date('2026-11-23T09:45:00Z'));
  });

  it('keeps a custom window as chosen', () => {
    const from = new Date('2026-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    expect(windowOf({ kind: 'custom', from, to }, now)).toEqual({ from, to });
  });
});

describe('route parameters', () => {
  it('read back what they wrote', () => {
    const custom = {
      kind: 'custom',
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-11-03T12:00:00Z'),
    } as const;
    expect(parseRange(rangeParams(custom))).toEqual(custom);
    expect(parseRange(rangeParams({ kind: 'preset', preset: '7d' }))).toEqual({ kind: 'preset', preset: '7d' });
  });

  it('fall back to the last hour when missing or unusable', () => {
    const lastHour = { kind: 'preset', preset: '1h' };
    expect(parseRange(new URLSearchParams())).toEqual(lastHour);
    expect(parseRange(new URLSearchParams('range=3y'))).toEqual(lastHour);
    expect(parseRange(new URLSearchParams('range=toString'))).toEqual(lastHour);
    expect(parseRange(new URLSearchParams('from=yesterday&to=2026-11-03T00:00:00Z'))).toEqual(lastHour);
    expect(parseRange(new URLSearchParams('from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z'))).toEqual(lastHour);
  });
});

describe('bucketSize', () => {
  it('is a minute or an hour, and nothing for raw', () => {
    expect(bucketSize('1m')).toBe(60_000);
    expect(bucketSize('1h')).toBe(HOUR);
    expect(bucketSize('raw')).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import {
  alertQuery,
  DEFAULT_FILTER,
  filterParams,
  matchesFilter,
  nothingListed,
  parseAlertFilter,
  sortAlerts,
  type AlertFilter,
} from './alertFilter';
import { alert } from './fixtures';

const filter = (overrides: Partial<AlertFilter>): AlertFilter => ({ ...DEFAULT_FILTER, ...overrides });

describe('parseAlertFilter', () => {
  it('opens on the active alerts, newest first', () => {
    expect(parseAlertFilter(new URLSearchParams())).toEqual({
      state: 'active',
      acknowledged: null,
      severity: null,
      device: null,
      sort: 'raised',
    });
  });

  it('reads every parameter', () => {
    const params = new URLSearchParams('state=all&acknowledged=false&severity=critical&device=pump-1&sort=severity');
    expect(parseAlertFilter(params)).toEqual({
      state: 'all',
      acknowledged: false,
      severity: 'critical',
      device: 'pump-1',
      sort: 'severity',
    });
  });

  it('takes what it does not know as the default', () => {
    const params = new URLSearchParams('state=open&acknowledged=yes&severity=fatal&device=%20&sort=name');
    expect(parseAlertFilter(params)).toEqual(DEFAULT_FILTER);
  });
});

describe('filterParams', () => {
  it('writes only what differs from the default, and round-trips', () => {
    expect(filterParams(DEFAULT_FILTER).toString()).toBe('');
    const chosen = filter({ state: 'all', acknowledged: true, severity: 'info', device: 'a b', sort: 'severity' });
    const params = filterParams(chosen);
    expect(params.toString()).toBe('state=all&acknowledged=true&severity=info&device=a+b&sort=severity');
    expect(parseAlertFilter(params)).toEqual(chosen);
  });
});

describe('alertQuery', () => {
  it('asks for the state, or for both when all', () => {
    expect(alertQuery(DEFAULT_FILTER, 100).toString()).toBe('state=active&limit=100');
    expect(alertQuery(filter({ state: 'all' }), 100).toString()).toBe('limit=100');
  });

  it('passes acknowledged, severity and device, never the sort', () => {
    const query = alertQuery(
      filter({ state: 'cleared', acknowledged: false, severity: 'warning', device: 'sim-0001', sort: 'severity' }),
      1000,
    );
    expect(Object.fromEntries(query)).toEqual({
      acknowledged: 'false',
      severity: 'warning',
      device: 'sim-0001',
      state: 'cleared',
      limit: '1000',
    });
  });
});

describe('matchesFilter', () => {
  it('checks each part of the filter', () => {
    const cleared = alert({ state: 'cleared', acknowledged: true, severity: 'minor', device_id: 'x' });
    expect(matchesFilter(cleared, DEFAULT_FILTER)).toBe(false);
    expect(matchesFilter(cleared, filter({ state: 'all' }))).toBe(true);
    expect(
      matchesFilter(cleared, filter({ state: 'cleared', acknowledged: true, severity: 'minor', device: 'x' })),
    ).toBe(true);
    expect(matchesFilter(cleared, filter({ state: 'cleared', acknowledged: false }))).toBe(false);
    expect(matchesFilter(cleared, filter({ state: 'cleared', severity: 'major' }))).toBe(false);
    expect(matchesFilter(cleared, filter({ state: 'cleared', device: 'y' }))).toBe(false);
  });
});

describe('sortAlerts', () => {
  const older = alert({ id: 'a', severity: 'critical', raised_at: '2026-12-01T04:00:00Z' });
  const newer = alert({ id: 'b', severity: 'info', raised_at: '2026-12-01T05:00:00Z' });
  const newerMajor = alert({ id: 'c', severity: 'major', raised_at: '2026-12-01T05:00:00.000+00:00' });

  it('puts the newest raised first, ties by id', () => {
    expect(sortAlerts([older, newer, newerMajor], 'raised').map((a) => a.id)).toEqual(['c', 'b', 'a']);
  });

  it('puts the gravest first, then the newest', () => {
    const minor = alert({ id: 'd', severity: 'minor', raised_at: '2026-12-01T06:00:00Z' });
    const olderMinor = alert({ id: 'e', severity: 'minor', raised_at: '2026-12-01T03:00:00Z' });
    expect(sortAlerts([newer, olderMinor, older, minor, newerMajor], 'severity').map((a) => a.id)).toEqual([
      'a',
      'c',
      'd',
      'e',
      'b',
    ]);
  });

  it('leaves the list given as it was', () => {
    const given = [older, newer];
    sortAlerts(given, 'raised');
    expect(given).toEqual([older, newer]);
  });
});

describe('nothingListed', () => {
  it('says what is empty', () => {
    expect(nothingListed(DEFAULT_FILTER)).toBe('No active alerts.');
    expect(nothingListed(filter({ state: 'cleared' }))).toBe('No cleared alerts.');
    expect(nothingListed(filter({ state: 'all', sort: 'severity' }))).toMatch(/^No alerts yet\./);
    expect(nothingListed(filter({ device: 'pump-1' }))).toBe('No alerts match these filters.');
  });
});

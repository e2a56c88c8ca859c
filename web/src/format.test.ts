import { describe, expect, it } from 'vitest';
import {
  formatAgo,
  formatDuration,
  formatEvents,
  formatExact,
  formatLag,
  formatNumber,
  formatTimestamp,
  formatValue,
} from './format';

describe('formatNumber', () => {
  it('shows fewer decimals the larger the number', () => {
    expect(formatNumber(1234.56)).toBe('1,235');
    expect(formatNumber(123.456)).toBe('123.5');
    expect(formatNumber(21.256)).toBe('21.26');
    expect(formatNumber(21.5)).toBe('21.5');
  });

  it('keeps three significant digits below one, and signs', () => {
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatNumber(-0.5)).toBe('-0.5');
    expect(formatNumber(-1234.4)).toBe('-1,234');
  });

  it('writes zero and non-finite values plainly', () => {
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(Number.NaN)).toBe('NaN');
  });
});

describe('formatValue', () => {
  it('adds the unit when there is one', () => {
    expect(formatValue(21.5, 'C')).toBe('21.5 C');
    expect(formatValue(42, null)).toBe('42');
    expect(formatValue(42, undefined)).toBe('42');
  });
});

describe('formatExact', () => {
  it('keeps the decimals a reading has, which formatValue rounds away', () => {
    expect(formatExact(1011.8734, 'hPa')).toBe('1,011.8734 hPa');
    expect(formatValue(1011.8734, 'hPa')).toBe('1,012 hPa');
  });

  it('drops float noise past six decimals', () => {
    expect(formatExact(0.1 + 0.2, null)).toBe('0.3');
  });
});

describe('formatDuration', () => {
  it('keeps a decimal under ten seconds', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(0.44)).toBe('0.4 s');
    expect(formatDuration(0.04)).toBe('< 0.1 s');
    expect(formatDuration(9.5)).toBe('9.5 s');
  });

  it('names the largest unit and the next one', () => {
    expect(formatDuration(12.4)).toBe('12 s');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(3600)).toBe('1 h');
    expect(formatDuration(7500)).toBe('2 h 5 min');
    expect(formatDuration(3 * 86400 + 4 * 3600 + 59)).toBe('3 d 4 h');
  });
});

describe('formatAgo', () => {
  const now = new Date('2026-11-23T10:00:00Z');
  const before = (seconds: number) => new Date(now.getTime() - seconds * 1000);

  it('says never for a device without readings', () => {
    expect(formatAgo(null, now)).toBe('never');
  });

  it('treats a timestamp slightly ahead of the browser clock as now', () => {
    expect(formatAgo(new Date(now.getTime() + 2000), now)).toBe('just now');
    expect(formatAgo(before(0.5), now)).toBe('just now');
  });

  it('rounds down to the largest whole unit', () => {
    expect(formatAgo(before(59.9), now)).toBe('59 s ago');
    expect(formatAgo(before(60), now)).toBe('1 min ago');
    expect(formatAgo(before(7199), now)).toBe('1 h ago');
    expect(formatAgo(before(3 * 86400), now)).toBe('3 d ago');
  });
});

describe('formatTimestamp', () => {
  it('writes the local date and time with zero padding', () => {
    expect(formatTimestamp(new Date(2026, 0, 5, 7, 3, 9))).toBe('2026-01-05 07:03:09');
  });
});

describe('formatEvents', () => {
  it('groups thousands and says event for one', () => {
    expect(formatEvents(0)).toBe('0 events');
    expect(formatEvents(1)).toBe('1 event');
    expect(formatEvents(12000)).toBe('12,000 events');
  });
});

describe('formatLag', () => {
  it('says when projections have caught up', () => {
    expect(formatLag(0, 0)).toBe('projections up to date');
  });

  it('gives time and events behind', () => {
    expect(formatLag(34, 0.4)).toBe('projections 0.4 s behind (34 events)');
    expect(formatLag(1, 0.02)).toBe('projections < 0.1 s behind (1 event)');
    expect(formatLag(12000, 75)).toBe('projections 1 min 15 s behind (12,000 events)');
  });

  it('gives only the events when the server cannot date them', () => {
    expect(formatLag(250, null)).toBe('projections 250 events behind');
  });
});

import { describe, expect, it } from 'vitest';
import type { OpenAlert } from './api/types';
import { actedOn, alertsTooltip, describeAlert, describeState, fleetOpenAlerts, formatAlertCount } from './alerts';
import { alert as listed } from './fixtures';

function alert(overrides: Partial<OpenAlert> = {}): OpenAlert {
  return {
    rule: 'too-hot',
    sensor: 'temperature',
    condition: 'above',
    threshold: 26,
    value: 27.1,
    unit: 'C',
    message: null,
    raised_at: '2026-11-23T09:58:00Z',
    ...overrides,
  };
}

describe('fleetOpenAlerts', () => {
  it('adds up every device, whatever its status', () => {
    expect(fleetOpenAlerts([{ open_alerts: 2 }, { open_alerts: 0 }, { open_alerts: 1 }])).toBe(3);
  });

  it('is zero for an empty fleet', () => {
    expect(fleetOpenAlerts([])).toBe(0);
  });
});

describe('formatAlertCount', () => {
  it('says none, one or many', () => {
    expect(formatAlertCount(0)).toBe('no open alerts');
    expect(formatAlertCount(1)).toBe('1 open alert');
    expect(formatAlertCount(12)).toBe('12 open alerts');
  });
});

describe('describeAlert', () => {
  it("prefers the rule's message", () => {
    expect(describeAlert(alert({ message: 'Server room too hot' }))).toBe('Server room too hot');
  });

  it('else says sensor, condition and threshold with the unit', () => {
    expect(describeAlert(alert())).toBe('temperature above 26 C');
    expect(
      describeAlert(alert({ sensor: 'battery', condition: 'below', threshold: 0.2, unit: null, message: '' })),
    ).toBe('battery below 0.2');
  });
});

describe('alertsTooltip', () => {
  it('lists each alert by rule, one a line', () => {
    const alerts = [
      alert({ message: 'Server room too hot' }),
      alert({ rule: 'dry', sensor: 'humidity', condition: 'below', threshold: 30, unit: '%' }),
    ];
    expect(alertsTooltip(alerts)).toBe('too-hot: Server room too hot\ndry: humidity below 30 %');
  });

  it('says so when there are none', () => {
    expect(alertsTooltip([])).toBe('no open alerts');
  });
});

describe('describeState', () => {
  it('says active, or how it was cleared', () => {
    expect(describeState(listed())).toBe('active');
    expect(describeState(listed({ state: 'cleared', clear_reason: 'rule', clear_value: 84.25 }))).toBe(
      'cleared by its rule at 84.25 C',
    );
    expect(describeState(listed({ state: 'cleared', clear_reason: 'rule' }))).toBe('cleared by its rule');
    expect(describeState(listed({ state: 'cleared', clear_reason: 'manual', cleared_by: 'Ana' }))).toBe(
      'cleared by hand',
    );
    expect(describeState(listed({ state: 'cleared', clear_reason: 'decommissioned' }))).toBe(
      'cleared: device decommissioned',
    );
  });
});

describe('actedOn', () => {
  it('names who acknowledged and who cleared, with their notes', () => {
    const handled = listed({
      state: 'cleared',
      acknowledged: true,
      acknowledged_by: 'Ana',
      acknowledged_at: '2026-12-01T04:01:00Z',
      ack_note: null,
      clear_reason: 'manual',
      cleared_by: 'Bob (night shift)',
      clear_note: 'valve replaced',
      cleared_at: '2026-12-01T04:05:00Z',
    });
    expect(actedOn(handled)).toEqual([
      { what: 'Acknowledged', by: 'Ana', note: null, at: '2026-12-01T04:01:00Z' },
      { what: 'Cleared', by: 'Bob (night shift)', note: 'valve replaced', at: '2026-12-01T04:05:00Z' },
    ]);
  });

  it('is empty for an alert nobody touched, and for one its rule cleared', () => {
    expect(actedOn(listed())).toEqual([]);
    expect(actedOn(listed({ state: 'cleared', clear_reason: 'rule', clear_value: 80 }))).toEqual([]);
  });
});

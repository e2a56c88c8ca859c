import { describe, expect, it } from 'vitest';
import type { OpenAlert } from './api/types';
import { alertsTooltip, describeAlert, fleetOpenAlerts, formatAlertCount } from './alerts';

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

import { describe, expect, it } from 'vitest';
import type { Alert, OpenAlert } from './api/types';
import {
  actedOn,
  alertsTooltip,
  describeAlert,
  describeBreach,
  describeLimit,
  describeState,
  describeValue,
  fleetOpenAlerts,
  formatAlertCount,
  onSensorScale,
} from './alerts';
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

/** An alert of each condition, as the server raises them: a rate in the sensor's unit per second, a silence in seconds. */
const RAISED_BY = {
  above: alert(),
  below: alert({ condition: 'below', threshold: 1, value: 0.6, unit: 'bar' }),
  silent: alert({ condition: 'silent', threshold: 60, value: 75, unit: 's' }),
  rate_above: alert({ condition: 'rate_above', threshold: 0.5, value: 0.62, unit: '°C' }),
  rate_below: alert({ condition: 'rate_below', threshold: -0.5, value: -0.8, unit: '°C' }),
  anomaly: alert({ condition: 'anomaly', threshold: 4, value: 4.3, unit: 'C' }),
  model: alert({ condition: 'model', threshold: 0.9, value: 0.97, unit: null }),
} satisfies Record<OpenAlert['condition'], OpenAlert>;

describe('the words for a condition', () => {
  it('say what the alert measured, its limit, and both in a line', () => {
    const words = Object.values(RAISED_BY).map((a) => [
      describeValue(a),
      describeLimit(a.condition, a.threshold, a.unit),
      describeBreach(a),
    ]);
    expect(words).toEqual([
      ['27.1 C', 'above 26 C', '27.1 C (limit 26 C)'],
      ['0.6 bar', 'below 1 bar', '0.6 bar (limit 1 bar)'],
      ['silent for 1 min 15 s', 'silent for over 1 min', 'silent for 1 min 15 s (limit 1 min)'],
      ['rising 0.62 °C/s', 'rising faster than 0.5 °C/s', 'rising 0.62 °C/s (limit 0.5 °C/s)'],
      ['falling 0.8 °C/s', 'falling faster than 0.5 °C/s', 'falling 0.8 °C/s (limit 0.5 °C/s)'],
      // A z-score and a model's score have no unit, whatever the sensor's.
      ['z-score 4.3', 'z-score above 4', 'z-score 4.3 (limit 4)'],
      ['model score 0.97', 'model score above 0.9', 'model score 0.97 (limit 0.9)'],
    ]);
  });

  it('give a rate against its direction as a signed rate, and one without a unit per second', () => {
    expect(describeLimit('rate_above', -1, 'C')).toBe('rate above -1 C/s');
    expect(describeLimit('rate_below', 0.1, null)).toBe('rate below 0.1/s');
    expect(describeBreach(alert({ condition: 'rate_below', threshold: 0.1, value: 0.05, unit: null }))).toBe(
      'rising 0.05/s (limit 0.1/s)',
    );
    expect(describeValue(alert({ condition: 'rate_above', value: 0, unit: null }))).toBe('rising 0/s');
  });

  it('tell which thresholds are readings a chart can draw', () => {
    expect(Object.keys(RAISED_BY).filter((c) => onSensorScale(c as OpenAlert['condition']))).toEqual([
      'above',
      'below',
    ]);
  });

  it('describe an alert without a message by its limit', () => {
    expect(describeAlert(RAISED_BY.rate_above)).toBe('temperature rising faster than 0.5 °C/s');
    expect(describeAlert(RAISED_BY.anomaly)).toBe('temperature z-score above 4');
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

  it("says the value that cleared it on its condition's scale", () => {
    const cleared = (overrides: Partial<Alert>) =>
      describeState(listed({ state: 'cleared', clear_reason: 'rule', clear_value: 0.2, ...overrides }));
    expect(cleared({ condition: 'rate_above', unit: '°C' })).toBe('cleared by its rule at 0.2 °C/s');
    expect(cleared({ condition: 'anomaly', clear_value: 1.5 })).toBe('cleared by its rule at z-score 1.5');
    expect(cleared({ condition: 'model', clear_value: 0.5 })).toBe('cleared by its rule at model score 0.5');
    // The reading that ends a silence is in the sensor's unit, which a silence (in seconds) does not carry.
    expect(cleared({ condition: 'silent', unit: 's', clear_value: 21.5 })).toBe('cleared by a new reading');
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

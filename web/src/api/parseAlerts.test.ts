import { describe, expect, it } from 'vitest';
import { parseActionDone, parseAlertList } from './parseAlerts';

/** An alert as `GET /v1/alerts` sends it (copied from a real answer). */
const RAISED = {
  id: '01a22fc2-aa4e-70ab-bb67-a05297a052cb',
  device_id: 'boiler-1',
  severity: 'critical',
  state: 'active',
  acknowledged: true,
  rule: 'boiler-hot',
  sensor: 'boiler',
  condition: 'above',
  threshold: 90.0,
  value: 95.5,
  unit: 'C',
  message: 'Boiler above 90 °C',
  raised_at: '2026-12-01T04:00:16.462384Z',
  cleared_at: null,
  clear_reason: null,
  cleared_by: null,
  clear_note: null,
  clear_value: null,
  acknowledged_at: '2026-12-01T04:00:17.762183Z',
  acknowledged_by: 'Ana',
  ack_note: 'on it',
};

describe('parseAlertList', () => {
  it('takes a real answer as it is', () => {
    expect(parseAlertList({ alerts: [RAISED] })).toEqual([RAISED]);
    expect(parseAlertList({ alerts: [] })).toEqual([]);
  });

  it('takes every condition a rule may raise an alert for', () => {
    for (const condition of ['above', 'below', 'silent', 'rate_above', 'rate_below', 'anomaly', 'model']) {
      expect(parseAlertList({ alerts: [{ ...RAISED, condition }] })[0]!.condition).toBe(condition);
    }
    expect(() => parseAlertList({ alerts: [{ ...RAISED, condition: 'wobbly' }] })).toThrow(
      'alerts[0].condition is "wobbly", not one of above, below, silent, rate_above, rate_below, anomaly, model',
    );
  });

  it('ignores fields it does not know, as a newer server may send', () => {
    expect(parseAlertList({ alerts: [{ ...RAISED, retired_by: 'rule deleted' }] })).toEqual([RAISED]);
  });

  it('reads a nullable field left out as null', () => {
    const { unit: _unit, clear_note: _note, ...rest } = RAISED;
    const [alert] = parseAlertList({ alerts: [rest] });
    expect(alert).toMatchObject({ unit: null, clear_note: null });
  });

  it('names the field that is not as the contract says, and what it held', () => {
    expect(() => parseAlertList({ alerts: [RAISED, { ...RAISED, severity: 'fatal' }] })).toThrow(
      'alerts[1].severity is "fatal", not one of critical, major, minor, warning, info',
    );
    expect(() => parseAlertList({ alerts: [{ ...RAISED, acknowledged: 'yes' }] })).toThrow(
      'alerts[0].acknowledged is "yes", not true or false',
    );
    expect(() => parseAlertList({ alerts: [{ ...RAISED, threshold: '90' }] })).toThrow('not a number');
    expect(() => parseAlertList({ alerts: [{ ...RAISED, raised_at: 'yesterday' }] })).toThrow('not a time');
    expect(() => parseAlertList({ alerts: [{ ...RAISED, cleared_by: 7 }] })).toThrow('cleared_by is 7, not a string');
    const { id: _id, ...withoutId } = RAISED;
    expect(() => parseAlertList({ alerts: [withoutId] })).toThrow('alerts[0].id is missing');
  });

  it('refuses an answer that is not a list of objects', () => {
    expect(() => parseAlertList(null)).toThrow('the answer is not an object');
    expect(() => parseAlertList({ alerts: {} })).toThrow('alerts is {}, not an array');
    expect(() => parseAlertList({ alerts: [[]] })).toThrow('alerts[0] is not an object');
  });
});

describe('parseActionDone', () => {
  it('reads where the alert stands', () => {
    const done = { id: RAISED.id, device_id: 'boiler-1', state: 'cleared', acknowledged: false, changed: true };
    expect(parseActionDone(done)).toEqual(done);
  });

  it('refuses an answer without `changed`', () => {
    expect(() => parseActionDone({ id: RAISED.id, device_id: 'b', state: 'active', acknowledged: true })).toThrow(
      'changed is missing',
    );
  });
});

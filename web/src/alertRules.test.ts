import { describe, expect, it } from 'vitest';
import { rulesSeen } from './alertRules';
import { alert } from './fixtures';

describe('rulesSeen', () => {
  it('lists each rule once with its active alerts counted', () => {
    const alerts = [
      alert({ id: '1', rule: 'hot', state: 'active', device_id: 'a' }),
      alert({ id: '2', rule: 'hot', state: 'cleared', device_id: 'b' }),
      alert({ id: '3', rule: 'hot', state: 'active', device_id: 'c' }),
    ];
    expect(rulesSeen(alerts)).toEqual([
      { rule: 'hot', severity: 'major', sensor: 'boiler', condition: 'above', threshold: 90, unit: 'C', active: 2 },
    ]);
  });

  it('counts an alert given twice once', () => {
    const active = alert({ id: '1', rule: 'hot' });
    expect(rulesSeen([active, alert({ id: '2', rule: 'hot' }), active])[0]!.active).toBe(2);
  });

  it('describes a rule as its newest alert does, whatever the order given', () => {
    const before = alert({ id: '1', rule: 'hot', threshold: 80, severity: 'minor', raised_at: '2026-12-01T01:00:00Z' });
    const after = alert({
      id: '2',
      rule: 'hot',
      threshold: 90,
      severity: 'critical',
      raised_at: '2026-12-01T02:00:00Z',
    });
    for (const order of [
      [before, after],
      [after, before],
    ]) {
      expect(rulesSeen(order)).toMatchObject([{ rule: 'hot', threshold: 90, severity: 'critical', active: 2 }]);
    }
  });

  it('puts the gravest first, then names in order; a rule with nothing active says 0', () => {
    const alerts = [
      alert({ id: '1', rule: 'wet', severity: 'info', state: 'cleared' }),
      alert({ id: '2', rule: 'low-battery', severity: 'warning', sensor: 'battery', condition: 'below' }),
      alert({ id: '3', rule: 'dry', severity: 'info' }),
      alert({ id: '4', rule: 'hot', severity: 'critical' }),
    ];
    expect(rulesSeen(alerts).map((r) => [r.rule, r.active])).toEqual([
      ['hot', 1],
      ['low-battery', 1],
      ['dry', 1],
      ['wet', 0],
    ]);
  });

  it('is empty without alerts', () => {
    expect(rulesSeen([])).toEqual([]);
  });
});

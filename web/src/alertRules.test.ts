import { describe, expect, it } from 'vitest';
import {
  activeByRule,
  afterRulesRefusal,
  describeModel,
  describeRule,
  describeScope,
  describeSensor,
  sortRules,
  stillDeleted,
  withoutDeleted,
} from './alertRules';
import { ApiError } from './api/client';
import { alert, rule } from './fixtures';

describe('sortRules', () => {
  it('puts the gravest first, then names in order', () => {
    const rules = [
      rule({ name: 'wet', severity: 'info' }),
      rule({ name: 'low-battery', severity: 'warning' }),
      rule({ name: 'dry', severity: 'info' }),
      rule({ name: 'too-hot', severity: 'critical' }),
      rule({ name: 'boiler-hot', severity: 'critical' }),
    ];
    expect(sortRules(rules).map((r) => r.name)).toEqual(['boiler-hot', 'too-hot', 'low-battery', 'dry', 'wet']);
    expect(rules[0]!.name).toBe('wet');
  });
});

describe('describeScope and describeSensor', () => {
  it('say which devices and which sensor a rule judges', () => {
    expect(describeScope(rule())).toBe('all devices');
    expect(describeScope(rule({ kind: 'boiler' }))).toBe('kind boiler');
    expect(describeScope(rule({ device: 'boiler-1' }))).toBe('device boiler-1');
    expect(describeSensor(rule())).toBe('boiler');
    expect(describeSensor(rule({ detector: 'silence', sensor: undefined, silent_for: 60 }))).toBe('any sensor');
  });
});

describe('describeRule', () => {
  it('says what raises a threshold rule and where it clears', () => {
    expect(describeRule(rule({ above: 25, clear_at: 24.5 }))).toBe('above 25 (clears at 24.5)');
    expect(describeRule(rule({ above: undefined, below: 85 }))).toBe('below 85');
    expect(describeRule(rule({ above: 90, below: 5 }))).toBe('above 90 or below 5');
  });

  it('says a rate as a direction over its window', () => {
    const rate = rule({ detector: 'rate', above: undefined, rate_above: 0.5, window: 60 });
    expect(describeRule(rate)).toBe('rising faster than 0.5/s over 1 min');
    expect(describeRule({ ...rate, rate_above: undefined, rate_below: -2, window: 30, clear_at: -1 })).toBe(
      'falling faster than 2/s over 30 s (clears at -1/s)',
    );
  });

  it('says an anomaly rule as a z-score after its warm-up', () => {
    const anomaly = rule({ detector: 'anomaly', above: undefined, zscore_above: 4, warm_up: 30 });
    expect(describeRule(anomaly)).toBe('z-score above 4 after 30 readings');
    expect(describeRule({ ...anomaly, warm_up: 1, alpha: 0.05, clear_at: 2 })).toBe(
      'z-score above 4 after 1 reading (smoothing 0.05, clears at 2)',
    );
  });

  it('says a silence as how long', () => {
    expect(describeRule(rule({ detector: 'silence', above: undefined, silent_for: 60 }))).toBe('silent for 1 min');
    expect(describeRule(rule({ detector: 'silence', above: undefined, silent_for: 90 }))).toBe('silent for 1 min 30 s');
  });

  it('says a model rule as its score over its inputs, and names the model by its hash', () => {
    const model = { sha256: '3f2a9c1e'.repeat(8), bytes: 12345 };
    const scored = rule({ detector: 'model', above: undefined, score_above: 0.9, inputs: 8, model, clear_at: 0.7 });
    expect(describeRule(scored)).toBe('model score above 0.9 over 8 readings (clears at 0.7)');
    expect(describeModel(model)).toBe('model 3f2a9c1e… (12,345 bytes)');
  });

  it('still says something of a rule without its parameters', () => {
    expect(describeRule(rule({ detector: 'anomaly', above: undefined }))).toBe('anomaly, no limit set');
  });
});

describe('activeByRule', () => {
  it("counts each rule's active alerts, an alert given twice once", () => {
    const hot = alert({ id: '1', rule: 'hot' });
    const counts = activeByRule([
      hot,
      alert({ id: '2', rule: 'hot' }),
      hot,
      alert({ id: '3', rule: 'dry' }),
      alert({ id: '4', rule: 'wet', state: 'cleared' }),
    ]);
    expect(Object.fromEntries(counts)).toEqual({ hot: 2, dry: 1 });
  });
});

describe('afterRulesRefusal', () => {
  const readOnly = new ApiError(403, 'read_only_token', 'a read or analyst token cannot change anything');
  const unknown = new ApiError(401, 'unauthorized', 'unknown token');

  it("waits for the admin token when the page's own may not read the rules: no error", () => {
    expect(afterRulesRefusal(readOnly, false)).toEqual({
      state: { show: 'needs-admin-token', refused: null },
      forgetAdminToken: false,
    });
  });

  it('forgets an admin token the server did not take, and says why', () => {
    for (const error of [unknown, readOnly]) {
      const after = afterRulesRefusal(error, true);
      expect(after).toMatchObject({ state: { show: 'needs-admin-token' }, forgetAdminToken: true });
      expect(after!.state).toHaveProperty('refused', expect.stringContaining('did not take this admin token'));
    }
  });

  it('says the rules are unavailable when the server cannot give them, as an older one without them', () => {
    const older = new ApiError(404, 'http_error', 'the API answered 404 Not Found');
    expect(afterRulesRefusal(older, true)).toEqual({
      state: { show: 'unavailable', message: 'rules unavailable: the API answered 404 Not Found' },
      forgetAdminToken: false,
    });
    expect(afterRulesRefusal(new Error('rules[0].name is missing'), false)!.state).toEqual({
      show: 'unavailable',
      message: 'rules unavailable: rules[0].name is missing',
    });
  });

  it("leaves a refusal of the page's own token to the app's token form", () => {
    expect(afterRulesRefusal(unknown, false)).toBeNull();
  });
});

describe('a rule this page deleted', () => {
  const list = (...rules: ReturnType<typeof rule>[]) => ({ version: 9, rules });

  it('is hidden while the list still has it, and forgotten once the list drops it', () => {
    const deleted = new Map([['hot', 4]]);
    const before = list(rule({ name: 'hot', revision: 4 }), rule({ name: 'dry', revision: 2 }));
    expect(withoutDeleted(before, deleted).rules.map((r) => r.name)).toEqual(['dry']);
    expect(stillDeleted(deleted, before)).toEqual(deleted);
    expect(stillDeleted(deleted, list(rule({ name: 'dry', revision: 2 })))).toEqual(new Map());
  });

  it('shows again once defined anew, at a later revision', () => {
    const deleted = new Map([['hot', 4]]);
    const again = list(rule({ name: 'hot', revision: 11 }));
    expect(withoutDeleted(again, deleted).rules).toHaveLength(1);
    expect(stillDeleted(deleted, again)).toEqual(new Map());
  });
});

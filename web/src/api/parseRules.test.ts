import { describe, expect, it } from 'vitest';
import { parseRuleList } from './parseRules';

/** Rules as `GET /v1/alert-rules` sends them, one of each detector, each with every field it may carry. */
const THRESHOLD = {
  name: 'too-hot',
  severity: 'critical',
  revision: 3,
  defined_at: '2026-12-01T04:00:16.462384Z',
  detector: 'threshold',
  sensor: 'temperature',
  kind: 'boiler',
  message: 'Temperature above 25 °C',
  above: 25.0,
  clear_at: 24.5,
};
const RATE = {
  name: 'heating-fast',
  severity: 'major',
  revision: 4,
  defined_at: '2026-12-01T04:00:17Z',
  detector: 'rate',
  sensor: 'temperature',
  device: 'boiler-1',
  rate_above: 0.5,
  window: 60,
  clear_at: 0.2,
};
const ANOMALY = {
  name: 'odd-pressure',
  severity: 'minor',
  revision: 5,
  defined_at: '2026-12-01T04:00:18Z',
  detector: 'anomaly',
  sensor: 'pressure',
  zscore_above: 4,
  alpha: 0.05,
  warm_up: 30,
  clear_at: 2,
};
const SILENCE = {
  name: 'gone-quiet',
  severity: 'warning',
  revision: 6,
  defined_at: '2026-12-01T04:00:19Z',
  detector: 'silence',
  silent_for: 60,
};
const MODEL = {
  name: 'pump-wear',
  severity: 'info',
  revision: 7,
  defined_at: '2026-12-01T04:00:20Z',
  detector: 'model',
  sensor: 'vibration',
  score_above: 0.9,
  inputs: 8,
  model_sha256: '3f2a9c1e'.repeat(8),
  model_bytes: 1234,
  clear_at: 0.7,
};
/** A rule as the answer nests it: its definition under `rule`, beside where it stands. */
function wire(flat: Record<string, unknown>): Record<string, unknown> {
  const { detector, revision, defined_at, model_sha256, model_bytes, ...rule } = flat;
  return { rule, detector, revision, defined_at, model_sha256, model_bytes };
}
const ALL = [THRESHOLD, RATE, ANOMALY, SILENCE, MODEL].map(wire);

describe('parseRuleList', () => {
  it('takes an answer as it is, every detector with its parameters', () => {
    const { model_sha256, model_bytes, ...scored } = MODEL;
    const parsed = [
      THRESHOLD,
      RATE,
      ANOMALY,
      SILENCE,
      { ...scored, model: { sha256: model_sha256, bytes: model_bytes } },
    ];
    expect(parseRuleList({ version: 7, rules: ALL })).toEqual({ version: 7, rules: parsed });
    expect(parseRuleList({ version: 0, rules: [] })).toEqual({ version: 0, rules: [] });
  });

  it('leaves out what is not set, null or absent alike', () => {
    const [rule] = parseRuleList({ version: 1, rules: [wire({ ...THRESHOLD, kind: null, message: undefined })] }).rules;
    expect(rule!.kind).toBeUndefined();
    expect(rule!.message).toBeUndefined();
    expect(rule!.sensor).toBe('temperature');
  });

  it('ignores fields it does not know, as a newer server may send', () => {
    const [rule] = parseRuleList({ version: 1, rules: [{ ...wire(SILENCE), hysteresis: 3 }] }).rules;
    expect(rule).not.toHaveProperty('hysteresis');
  });

  it('reads a severity left out of the definition as major, the default', () => {
    const { severity: _severity, ...unsaid } = SILENCE;
    expect(parseRuleList({ version: 1, rules: [wire(unsaid)] }).rules[0]!.severity).toBe('major');
  });

  it('names the field that is not as the contract says, and what it held', () => {
    const list = (rule: Record<string, unknown>) => () =>
      parseRuleList({ version: 7, rules: [wire(THRESHOLD), wire(rule)] });
    expect(list({ ...RATE, detector: 'fuzzy' })).toThrow(
      'rules[1].detector is "fuzzy", not one of threshold, rate, anomaly, silence, model',
    );
    expect(list({ ...RATE, severity: 'fatal' })).toThrow('rules[1].rule.severity is "fatal"');
    expect(list({ ...RATE, revision: 4.5 })).toThrow('rules[1].revision is 4.5, not a whole number');
    expect(list({ ...RATE, defined_at: 'yesterday' })).toThrow('rules[1].defined_at is "yesterday", not a time');
    expect(list({ ...RATE, window: '60' })).toThrow('rules[1].rule.window is "60", not a number');
    expect(list({ ...ANOMALY, warm_up: 2.5 })).toThrow('rules[1].rule.warm_up is 2.5, not a whole number');
    expect(list({ ...THRESHOLD, device: 7 })).toThrow('rules[1].rule.device is 7, not a string');
    expect(list({ ...MODEL, model_bytes: 'ab' })).toThrow('rules[1].model_bytes');
    expect(list({ ...MODEL, model_sha256: 12 })).toThrow('rules[1].model_sha256');
    const { name: _name, ...nameless } = SILENCE;
    expect(list(nameless)).toThrow('rules[1].rule.name is missing, not a string');
  });

  it('refuses an answer without its version or its list', () => {
    expect(() => parseRuleList({ rules: [] })).toThrow('version is missing, not a whole number');
    expect(() => parseRuleList({ version: 1, rules: {} })).toThrow('rules is {}, not an array');
    expect(() => parseRuleList({ version: 1, rules: [null] })).toThrow('rules[0] is not an object');
    expect(() => parseRuleList('rules')).toThrow('the answer is not an object');
  });
});

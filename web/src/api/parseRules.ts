/**
 * The alert rules' answer, checked before the page trusts it: the rules table says in words what each
 * rule does and offers to delete it by name, so a field missing or of another type is reported as an
 * answer the page does not understand rather than drawn as "undefined".
 */

import { Fields } from './fields';
import { DETECTORS, SEVERITIES, type AlertRule, type AlertRuleList, type RuleModel } from './types';

/** A `GET /v1/alert-rules` answer. */
export function parseRuleList(body: unknown): AlertRuleList {
  const f = new Fields(body, '');
  return { version: f.integer('version'), rules: f.list('rules', parseRule) };
}

/** One rule: its definition under `rule`, as `POST` takes it, beside where it stands. */
function parseRule(f: Fields): AlertRule {
  return {
    ...f.object('rule', parseDefinition),
    detector: f.oneOf('detector', DETECTORS),
    revision: f.integer('revision'),
    defined_at: f.time('defined_at'),
    model: parseModel(f),
  };
}

function parseDefinition(f: Fields) {
  const text = (name: string) => f.optional(name, (n) => f.string(n));
  const number = (name: string) => f.optional(name, (n) => f.number(n));
  const count = (name: string) => f.optional(name, (n) => f.integer(n));
  return {
    name: f.string('name'),
    severity: f.optional('severity', (n) => f.oneOf(n, SEVERITIES)) ?? 'major',
    sensor: text('sensor'),
    device: text('device'),
    kind: text('kind'),
    message: text('message'),
    above: number('above'),
    below: number('below'),
    rate_above: number('rate_above'),
    rate_below: number('rate_below'),
    window: number('window'),
    zscore_above: number('zscore_above'),
    alpha: number('alpha'),
    warm_up: count('warm_up'),
    silent_for: number('silent_for'),
    score_above: number('score_above'),
    inputs: count('inputs'),
    clear_at: number('clear_at'),
  };
}

/** A model rule's model, which the answer names by `model_sha256` and `model_bytes` (never its bytes). */
function parseModel(f: Fields): RuleModel | undefined {
  const sha256 = f.optional('model_sha256', (n) => f.string(n));
  const bytes = f.optional('model_bytes', (n) => f.integer(n));
  return sha256 === undefined || bytes === undefined ? undefined : { sha256, bytes };
}

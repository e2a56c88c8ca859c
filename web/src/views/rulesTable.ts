/** The alerts page's list of rules: each rule its alerts show, what it watches, and how many of its alerts are active. */

import { rulesSeen } from '../alertRules';
import type { Alert } from '../api/types';
import { el } from '../dom';
import { formatValue } from '../format';
import { severityBadge } from './labels';

const COLUMNS = ['Rule', 'Severity', 'Sensor', 'Condition', 'Active'];

export class RulesTable {
  private readonly body = el('tbody');
  private readonly table = el(
    'table',
    { 'aria-labelledby': 'rules-heading' },
    el('thead', {}, el('tr', {}, ...COLUMNS.map((h) => el('th', { scope: 'col' }, h)))),
    this.body,
  );
  private readonly none = el('p', { class: 'muted' }, 'No rule has raised an alert yet.');
  readonly element = el(
    'section',
    { class: 'card rules', 'data-testid': 'rules', hidden: true },
    el('h2', { id: 'rules-heading' }, 'Rules'),
    // The server has no rules endpoint yet: say where this list comes from, so nobody takes it for the rules file.
    el(
      'p',
      { class: 'muted' },
      'As the alerts show them: every rule with an active alert, and those of the alerts listed above. ',
      'A rule that has never raised an alert is not here.',
    ),
    this.none,
    this.table,
  );
  /** What was drawn, so a poll that changed nothing leaves the table alone. */
  private shown = '';

  /** Shows the rules `alerts` were raised by: the page passes every active alert and the ones it lists. */
  show(alerts: readonly Alert[]): void {
    const rules = rulesSeen(alerts);
    const key = JSON.stringify(rules);
    if (key === this.shown) return;
    this.shown = key;
    this.element.hidden = false;
    this.none.hidden = rules.length > 0;
    this.table.hidden = rules.length === 0;
    this.body.replaceChildren(
      ...rules.map((rule) =>
        el(
          'tr',
          { 'data-rule': rule.rule, 'data-active': rule.active },
          ...[
            el('strong', {}, rule.rule),
            severityBadge(rule.severity),
            rule.sensor,
            `${rule.condition} ${formatValue(rule.threshold, rule.unit)}`,
            el('span', { class: 'count' }, String(rule.active)),
          ].map((content, i) => el('td', { 'data-label': COLUMNS[i]! }, content)),
        ),
      ),
    );
  }
}

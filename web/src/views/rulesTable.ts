/**
 * The alerts page's Rules: the alert rules the server holds (`GET /v1/alert-rules`, for the admin token
 * only), gravest first, each with its scope, sensor, condition in words and active alerts, and Delete,
 * which asks first. With only the read token it says the rules need the admin token and offers to take
 * it; a server without the rules API (404) or any other failure is said in a line.
 */

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
  type RulesState,
} from '../alertRules';
import type { ApiClient } from '../api/client';
import type { Alert, AlertRule } from '../api/types';
import type { Operator } from '../auth/operator';
import { el, setText } from '../dom';
import { formatTimestamp } from '../format';
import { deviceHref } from '../routes';
import { AdminDialog } from './adminDialog';
import { severityBadge } from './labels';

const COLUMNS = ['Rule', 'Severity', 'Scope', 'Sensor', 'Condition', 'Active', 'Actions'];

/** What the dialog is open for: taking the admin token to read the rules, or deleting one. */
type Task = { show: 'rules' } | { delete: AlertRule };

export class RulesTable {
  private state: RulesState = { show: 'loading' };
  private active = new Map<string, number>();
  /** Rules this page deleted, by name and revision, hidden until the list drops them. */
  private deleted = new Map<string, number>();
  /** Bumped by each load, so a slower answer does not overwrite a newer one. */
  private generation = 0;
  /** What was drawn, so a poll that changed nothing leaves the table (and a focused button) alone. */
  private shown = '';
  private task: Task | null = null;
  /** The request for the rules on its way, and the token it went with. */
  private asking: { token: string | null; done: Promise<void> } | null = null;
  private readonly dialog: AdminDialog;
  private readonly message = el('p', { 'data-testid': 'rules-message' });
  private readonly askToken = el('button', { type: 'button', hidden: true }, 'Enter admin token');
  private readonly body = el('tbody');
  private readonly table = el(
    'table',
    { 'aria-labelledby': 'rules-heading', hidden: true },
    el('thead', {}, el('tr', {}, ...COLUMNS.map((h) => el('th', { scope: 'col' }, h)))),
    this.body,
  );
  readonly element: HTMLElement;

  /** @param onDeleted after the server deleted a rule: its active alerts are being cleared. */
  constructor(
    private readonly api: ApiClient,
    private readonly operator: Operator,
    private readonly onDeleted: (name: string) => void,
  ) {
    this.dialog = new AdminDialog(operator, 'rule-action', 'rule-action', [], () => void this.submit());
    this.dialog.element.addEventListener('close', () => (this.task = null));
    this.askToken.addEventListener('click', () => {
      this.task = { show: 'rules' };
      this.dialog.open({
        title: 'Show the alert rules',
        about: 'Only the admin token may read the alert rules.',
        verb: 'Show rules',
        askToken: true,
      });
    });
    this.element = el(
      'section',
      { class: 'card rules', 'data-testid': 'rules' },
      el('h2', { id: 'rules-heading' }, 'Rules'),
      el('div', { class: 'rules-message' }, this.message, this.askToken),
      this.table,
      this.dialog.element,
    );
    this.render();
  }

  /**
   * Asks the server for the rules again, unless only an admin token would do and none is held, or the
   * same question is on its way (the page opens, the live stream connects and a poll may come at once).
   */
  load(): Promise<void> {
    const token = this.operator.adminToken;
    // The page's own token was refused: asking again with it would only be refused again.
    if (this.state.show === 'needs-admin-token' && token === null) return Promise.resolve();
    if (this.asking?.token !== token) {
      const done = this.ask(token).finally(() => {
        if (this.asking?.done === done) this.asking = null;
      });
      this.asking = { token, done };
    }
    return this.asking.done;
  }

  private async ask(token: string | null): Promise<void> {
    const generation = ++this.generation;
    try {
      const list = await this.api.alertRules(token);
      if (generation !== this.generation) return;
      this.state = { show: 'rules', list };
    } catch (error) {
      if (generation !== this.generation) return;
      const after = afterRulesRefusal(error, token !== null);
      // A 401 for the page's own token has brought up the token form.
      if (!after) return;
      if (after.forgetAdminToken && this.operator.adminToken === token) this.operator.adminToken = null;
      this.state = after.state;
    }
    this.render();
  }

  /** Counts each rule's active alerts among `alerts`: the page passes every active alert and the ones it lists. */
  countActive(alerts: readonly Alert[]): void {
    this.active = activeByRule(alerts);
    this.render();
  }

  close(): void {
    this.dialog.element.close();
  }

  private async submit(): Promise<void> {
    const task = this.task;
    if (!task) return;
    if ('show' in task) {
      const done = await this.dialog.run('read the alert rules', (token) => this.api.alertRules(token));
      if (!done) return;
      this.generation++;
      this.state = { show: 'rules', list: done.answer };
      this.render();
      return;
    }
    const { name, revision } = task.delete;
    const done = await this.dialog.run('delete alert rules', (token) => this.api.deleteAlertRule(name, token));
    if (!done) return;
    this.deleted.set(name, revision);
    this.render();
    this.onDeleted(name);
    void this.load();
  }

  private confirmDelete(rule: AlertRule): void {
    this.task = { delete: rule };
    this.dialog.open({
      title: `Delete rule ${rule.name}`,
      about:
        `${describeSensor(rule)} ${describeRule(rule)}, ${describeScope(rule)}. ` +
        'Its active alerts are cleared, and it raises no more.',
      verb: 'Delete',
    });
  }

  private render(): void {
    const state = this.state;
    let rules: AlertRule[] = [];
    if (state.show === 'rules') {
      this.deleted = stillDeleted(this.deleted, state.list);
      rules = sortRules(withoutDeleted(state.list, this.deleted).rules);
    }
    const key = JSON.stringify([state, rules, [...this.active]]);
    if (key === this.shown) return;
    this.shown = key;

    this.message.className = state.show === 'unavailable' ? 'error' : 'muted';
    const said = this.say(state, rules.length);
    setText(this.message, said);
    this.message.hidden = !said;
    this.askToken.hidden = state.show !== 'needs-admin-token';
    this.table.hidden = rules.length === 0;
    this.element.dataset.version = state.show === 'rules' ? String(state.list.version) : '';
    this.body.replaceChildren(...rules.map((rule) => this.row(rule)));
  }

  private say(state: RulesState, count: number): string {
    switch (state.show) {
      case 'loading':
        return 'Loading rules…';
      case 'needs-admin-token':
        return state.refused ?? 'The alert rules need the admin token.';
      case 'unavailable':
        return state.message;
      case 'rules':
        return count === 0 ? 'No alert rules are defined.' : '';
    }
  }

  private row(rule: AlertRule): HTMLTableRowElement {
    const active = this.active.get(rule.name) ?? 0;
    const remove = el(
      'button',
      { type: 'button', 'data-action': 'delete', 'aria-label': `Delete rule ${rule.name}` },
      'Delete',
    );
    remove.addEventListener('click', () => this.confirmDelete(rule));
    const defined = `defined ${formatTimestamp(new Date(rule.defined_at))} (revision ${rule.revision})`;
    const cells = [
      [el('strong', { title: defined }, rule.name), rule.message && el('span', { class: 'details' }, rule.message)],
      severityBadge(rule.severity),
      rule.device === undefined ? describeScope(rule) : el('a', { href: deviceHref(rule.device) }, describeScope(rule)),
      describeSensor(rule),
      [el('span', {}, describeRule(rule)), rule.model && el('span', { class: 'details' }, describeModel(rule.model))],
      el('span', { class: 'count' }, String(active)),
      el('div', { class: 'rule-actions' }, remove),
    ];
    return el(
      'tr',
      {
        'data-rule': rule.name,
        'data-detector': rule.detector,
        'data-revision': rule.revision,
        'data-active': active,
      },
      ...cells.map((content, i) =>
        // One child per cell: on phones each cell is a labelled line, and its parts stack inside it.
        el('td', { 'data-label': COLUMNS[i]! }, Array.isArray(content) ? el('div', {}, ...content) : content),
      ),
    );
  }
}

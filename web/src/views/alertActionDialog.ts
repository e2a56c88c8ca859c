/**
 * The form behind an alert's Acknowledge and Clear buttons, in a modal dialog: who acts (prefilled with
 * the name last given in this tab), an optional note, and the admin token once the server has refused
 * the page's own token. The admin token is then held for the tab (see auth/operator.ts).
 */

import { ACTION_WORDS, afterRefusal, checkActionInput } from '../alertActions';
import { describeAlert } from '../alerts';
import type { ApiClient } from '../api/client';
import type { Alert, AlertAction, AlertActionDone, AlertActionRequest } from '../api/types';
import type { Operator } from '../auth/operator';
import { el, setText } from '../dom';
import { formatTimestamp } from '../format';

export type ActionDone = (
  alert: Alert,
  action: AlertAction,
  request: AlertActionRequest,
  answer: AlertActionDone,
) => void;

interface Target {
  alert: Alert;
  action: AlertAction;
}

export class AlertActionDialog {
  readonly element: HTMLDialogElement;
  private readonly title = el('h2', { id: 'alert-action-title' });
  private readonly about = el('p', { class: 'muted' });
  private readonly by = el('input', { id: 'alert-action-by', name: 'by', autocomplete: 'name', required: true });
  private readonly note = el('input', { id: 'alert-action-note', name: 'note', autocomplete: 'off' });
  private readonly token = el('input', {
    id: 'alert-action-token',
    name: 'admin-token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  private readonly tokenField = el(
    'div',
    { class: 'field', hidden: true },
    el('label', { for: 'alert-action-token' }, 'Admin token'),
    this.token,
    el('p', { class: 'muted' }, 'Held in this tab only, until it is closed or reloaded.'),
  );
  private readonly problem = el('p', { class: 'error', role: 'alert' });
  private readonly submit = el('button', { type: 'submit' });
  private target: Target | null = null;

  constructor(
    private readonly api: ApiClient,
    private readonly operator: Operator,
    private readonly onDone: ActionDone,
  ) {
    const form = el(
      'form',
      { class: 'alert-action-form', novalidate: true },
      this.title,
      this.about,
      el('div', { class: 'field' }, el('label', { for: 'alert-action-by' }, 'Your name'), this.by),
      el('div', { class: 'field' }, el('label', { for: 'alert-action-note' }, 'Note (optional)'), this.note),
      this.tokenField,
      this.problem,
      el('div', { class: 'buttons' }, this.submit, this.cancelButton()),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    this.element = el(
      'dialog',
      { class: 'alert-action card', 'aria-labelledby': 'alert-action-title', 'data-testid': 'alert-action' },
      form,
    );
    this.element.addEventListener('close', () => (this.target = null));
  }

  open(alert: Alert, action: AlertAction): void {
    this.target = { alert, action };
    const { verb } = ACTION_WORDS[action];
    setText(this.title, `${verb} ${alert.rule} on ${alert.device_id}`);
    setText(this.about, `${describeAlert(alert)} · raised ${formatTimestamp(new Date(alert.raised_at))}`);
    setText(this.submit, verb);
    this.by.value = this.operator.name;
    this.note.value = '';
    this.token.value = '';
    // Shown again only when the server refuses: the token held (or the page's own) may do.
    this.tokenField.hidden = true;
    this.say('');
    this.element.showModal();
    (this.by.value ? this.note : this.by).focus();
  }

  private async send(): Promise<void> {
    const target = this.target;
    if (!target || this.submit.disabled) return;
    const input = checkActionInput(this.by.value, this.note.value);
    if ('problem' in input) {
      this.say(input.problem);
      (input.field === 'by' ? this.by : this.note).focus();
      return;
    }
    this.operator.name = input.request.by;
    const entered = this.tokenField.hidden ? null : this.token.value.trim();
    if (entered === '') {
      this.say('Enter the admin token that watershed up printed.');
      this.token.focus();
      return;
    }
    const token = entered ?? this.operator.adminToken;
    this.setBusy(true);
    try {
      const answer = await this.api.actOnAlert(target.alert.id, target.action, input.request, token);
      if (token !== null) this.operator.adminToken = token;
      // Closed meanwhile (Escape) or opened for another alert: the action is done all the same.
      if (this.target === target) this.element.close();
      this.onDone(target.alert, target.action, input.request, answer);
    } catch (error) {
      const refusal = afterRefusal(error, token !== null);
      if (refusal.forgetAdminToken) this.operator.adminToken = null;
      if (this.target !== target) return;
      this.say(refusal.message);
      if (refusal.askAdminToken) {
        this.tokenField.hidden = false;
        this.token.select();
        this.token.focus();
      }
    } finally {
      this.setBusy(false);
    }
  }

  private cancelButton(): HTMLButtonElement {
    const cancel = el('button', { type: 'button' }, 'Cancel');
    cancel.addEventListener('click', () => this.element.close());
    return cancel;
  }

  private setBusy(busy: boolean): void {
    this.submit.disabled = busy;
    this.element.setAttribute('aria-busy', String(busy));
  }

  private say(problem: string): void {
    setText(this.problem, problem);
    this.problem.hidden = !problem;
  }
}

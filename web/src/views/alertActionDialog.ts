/**
 * The form behind an alert's Acknowledge and Clear buttons, in a modal dialog: who acts (prefilled with
 * the name last given in this tab), an optional note, and the admin token once the server has refused
 * the page's own token. The admin token is then held for the tab (see auth/operator.ts).
 */

import { ACTION_WORDS, checkActionInput } from '../alertActions';
import { describeAlert } from '../alerts';
import type { ApiClient } from '../api/client';
import type { Alert, AlertAction, AlertActionDone, AlertActionRequest } from '../api/types';
import type { Operator } from '../auth/operator';
import { el } from '../dom';
import { formatTimestamp } from '../format';
import { AdminDialog } from './adminDialog';

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
  private readonly by = el('input', { id: 'alert-action-by', name: 'by', autocomplete: 'name', required: true });
  private readonly note = el('input', { id: 'alert-action-note', name: 'note', autocomplete: 'off' });
  private readonly dialog: AdminDialog;
  readonly element: HTMLDialogElement;
  private target: Target | null = null;

  constructor(
    private readonly api: ApiClient,
    private readonly operator: Operator,
    private readonly onDone: ActionDone,
  ) {
    this.dialog = new AdminDialog(
      operator,
      'alert-action',
      'alert-action',
      [
        el('div', { class: 'field' }, el('label', { for: 'alert-action-by' }, 'Your name'), this.by),
        el('div', { class: 'field' }, el('label', { for: 'alert-action-note' }, 'Note (optional)'), this.note),
      ],
      () => void this.send(),
    );
    this.element = this.dialog.element;
    this.element.addEventListener('close', () => (this.target = null));
  }

  open(alert: Alert, action: AlertAction): void {
    const { verb } = ACTION_WORDS[action];
    this.by.value = this.operator.name;
    this.note.value = '';
    this.dialog.open({
      title: `${verb} ${alert.rule} on ${alert.device_id}`,
      about: `${describeAlert(alert)} · raised ${formatTimestamp(new Date(alert.raised_at))}`,
      verb,
    });
    this.target = { alert, action };
    (this.by.value ? this.note : this.by).focus();
  }

  private async send(): Promise<void> {
    const target = this.target;
    if (!target) return;
    const input = checkActionInput(this.by.value, this.note.value);
    if ('problem' in input) {
      this.dialog.say(input.problem);
      (input.field === 'by' ? this.by : this.note).focus();
      return;
    }
    this.operator.name = input.request.by;
    const done = await this.dialog.run('act on alerts', (token) =>
      this.api.actOnAlert(target.alert.id, target.action, input.request, token),
    );
    if (done) this.onDone(target.alert, target.action, input.request, done.answer);
  }
}

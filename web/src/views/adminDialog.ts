/**
 * A modal dialog for what only the admin token may do (acknowledge or clear an alert, read or delete
 * the alert rules): a title, what it is about, the task's own fields, the admin token once the server
 * has refused the page's own, what went wrong, and the button with Cancel. A token that worked is held
 * for the tab (see auth/operator.ts).
 */

import { afterRefusal } from '../alertActions';
import type { Operator } from '../auth/operator';
import { el, setText } from '../dom';

export interface AdminTask {
  title: string;
  about: string;
  /** The button's word: 'Acknowledge', 'Delete'. */
  verb: string;
  /** Ask for the admin token at once: the page's own has been refused already. */
  askToken?: boolean;
}

export class AdminDialog {
  readonly element: HTMLDialogElement;
  private readonly title: HTMLHeadingElement;
  private readonly about = el('p', { class: 'muted' });
  private readonly token: HTMLInputElement;
  private readonly tokenField: HTMLElement;
  private readonly problem = el('p', { class: 'error', role: 'alert' });
  private readonly submit = el('button', { type: 'submit' });
  private readonly cancel = el('button', { type: 'button' }, 'Cancel');
  /** Bumped by each opening, so an answer that comes after the dialog moved on leaves it alone. */
  private opened = 0;

  /**
   * @param id prefixes its elements' ids (two of these may share a page).
   * @param fields the task's own fields, between what it is about and the admin token.
   * @param onSubmit the button or Enter: check the fields, then `run` the task.
   */
  constructor(
    private readonly operator: Operator,
    id: string,
    testId: string,
    fields: HTMLElement[],
    onSubmit: () => void,
  ) {
    this.title = el('h2', { id: `${id}-title` });
    this.token = el('input', {
      id: `${id}-token`,
      name: 'admin-token',
      type: 'password',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.tokenField = el(
      'div',
      { class: 'field', hidden: true },
      el('label', { for: `${id}-token` }, 'Admin token'),
      this.token,
      el('p', { class: 'muted' }, 'Held in this tab only, until it is closed or reloaded.'),
    );
    const form = el(
      'form',
      { class: 'admin-dialog-form', novalidate: true },
      this.title,
      this.about,
      ...fields,
      this.tokenField,
      this.problem,
      el('div', { class: 'buttons' }, this.submit, this.cancel),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (!this.submit.disabled) onSubmit();
    });
    this.cancel.addEventListener('click', () => this.element.close());
    this.element = el(
      'dialog',
      { class: 'admin-dialog card', 'aria-labelledby': `${id}-title`, 'data-testid': testId },
      form,
    );
  }

  /** Opens it for `task`, with the focus on the admin token when it asks for one, else on Cancel. */
  open(task: AdminTask): void {
    this.opened++;
    setText(this.title, task.title);
    setText(this.about, task.about);
    setText(this.submit, task.verb);
    this.token.value = '';
    // Shown only once the page's own token has been refused: the token held (or the page's own) may do.
    this.tokenField.hidden = !task.askToken;
    this.say('');
    this.element.showModal();
    (task.askToken ? this.token : this.cancel).focus();
  }

  /** Says what is wrong with the task's fields; '' for nothing. */
  say(problem: string): void {
    setText(this.problem, problem);
    this.problem.hidden = !problem;
  }

  /**
   * Runs `act` with the admin token entered, else the one held, else (null) the page's own. Done, it
   * holds the token entered, closes the dialog (unless it was closed or opened again meanwhile) and
   * gives the answer; the task is done all the same when the dialog moved on. Refused, it says why and,
   * when another token may do (`deed`, as in "may not act on alerts"), asks for the admin token; null.
   */
  async run<T>(deed: string, act: (token: string | null) => Promise<T>): Promise<{ answer: T } | null> {
    const opened = this.opened;
    const entered = this.tokenField.hidden ? null : this.token.value.trim();
    if (entered === '') {
      this.say('Enter the admin token that watershed up printed.');
      this.token.focus();
      return null;
    }
    const token = entered ?? this.operator.adminToken;
    this.setBusy(true);
    try {
      const answer = await act(token);
      if (token !== null) this.operator.adminToken = token;
      if (this.opened === opened) this.element.close();
      return { answer };
    } catch (error) {
      const refusal = afterRefusal(error, token !== null, deed);
      if (refusal.forgetAdminToken) this.operator.adminToken = null;
      if (this.opened === opened && this.element.open) {
        this.say(refusal.message);
        if (refusal.askAdminToken) {
          this.tokenField.hidden = false;
          this.token.select();
          this.token.focus();
        }
      }
      return null;
    } finally {
      this.setBusy(false);
    }
  }

  private setBusy(busy: boolean): void {
    this.submit.disabled = busy;
    this.element.setAttribute('aria-busy', String(busy));
  }
}

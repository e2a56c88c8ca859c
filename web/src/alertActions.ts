/**
 * Acknowledging and clearing, apart from the DOM: which actions an alert offers, the form's fields as
 * the server takes them, what follows when the server refuses, and the page's own accepted actions.
 * Those are shown until the list has them: an action is appended to the device's stream at once, but
 * the list is read from the read models, which apply it a moment later.
 */

import { ApiError, describeError } from './api/client';
import type { Alert, AlertAction, AlertActionRequest } from './api/types';

export const ACTION_WORDS: Record<AlertAction, { verb: string; done: string }> = {
  ack: { verb: 'Acknowledge', done: 'acknowledged' },
  clear: { verb: 'Clear', done: 'cleared' },
};

/** Acknowledge until someone has (a cleared alert too: it says someone looked), clear while active. */
export function actionsFor(alert: Pick<Alert, 'state' | 'acknowledged'>): AlertAction[] {
  const actions: AlertAction[] = [];
  if (!alert.acknowledged) actions.push('ack');
  if (alert.state === 'active') actions.push('clear');
  return actions;
}

/** The server's limit for `by` and `note`, in characters (code points, as it counts them). */
const TEXT_MAX = 128;
/** What the server calls control characters (Unicode Cc). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export type ActionInput = { request: AlertActionRequest } | { field: 'by' | 'note'; problem: string };

/**
 * The form's name and note as the server takes them: trimmed (it refuses spaces at the ends), the
 * note left out when empty, and said what is wrong before asking it.
 */
export function checkActionInput(by: string, note: string): ActionInput {
  const fields = { by: by.trim(), note: note.trim() };
  if (!fields.by) return { field: 'by', problem: 'Enter your name: it is recorded with the alert.' };
  for (const field of ['by', 'note'] as const) {
    const what = field === 'by' ? 'name' : 'note';
    if ([...fields[field]].length > TEXT_MAX) {
      return { field, problem: `The ${what} is longer than ${TEXT_MAX} characters.` };
    }
    if (CONTROL.test(fields[field])) return { field, problem: `The ${what} must not hold control characters.` };
  }
  return { request: fields.note ? fields : { by: fields.by } };
}

export interface Refusal {
  /** Show the admin token field: the token sent may not do this. */
  askAdminToken: boolean;
  /** The admin token held was refused: forget it. */
  forgetAdminToken: boolean;
  message: string;
}

/**
 * What follows a failed action that only the admin token may take (`deed`, as in "may not act on
 * alerts"). Sent with the page's own token (normally the read token), a 403 means it needs the admin
 * token. Sent with an admin token, a 401 or 403 means that one is wrong. Anything else (a 404 for an
 * alert the read models dropped, a 503) is said as the server said it.
 */
export function afterRefusal(error: unknown, withAdminToken: boolean, deed = 'act on alerts'): Refusal {
  const said = describeError(error);
  const status = error instanceof ApiError ? error.status : 0;
  if (withAdminToken && (status === 401 || status === 403)) {
    return {
      askAdminToken: true,
      forgetAdminToken: true,
      message: `The server did not take this admin token (${said}). Enter the one watershed up printed.`,
    };
  }
  if (!withAdminToken && status === 403) {
    return {
      askAdminToken: true,
      forgetAdminToken: false,
      message: `This dashboard's token may not ${deed} (${said}). Enter the admin token that watershed up printed.`,
    };
  }
  return { askAdminToken: false, forgetAdminToken: false, message: said };
}

/** An action the server accepted and that changed the alert, as the page shows it until the list does. */
export interface Accepted {
  id: string;
  action: AlertAction;
  by: string;
  note: string | null;
  /** When the server answered, by the browser's clock. */
  at: string;
}

/** Read models are seconds behind, not minutes: an accepted action the list has not shown by then is let go. */
export const ACCEPTED_KEEP_MS = 60_000;

/**
 * The accepted actions still to show over `listed` (every alert the page just read): not those the
 * list shows now, which knows them better, nor those older than ACCEPTED_KEEP_MS.
 */
export function stillPending(accepted: readonly Accepted[], listed: readonly Alert[], now: Date): Accepted[] {
  const byId = new Map(listed.map((alert) => [alert.id, alert]));
  return accepted.filter((done) => {
    const alert = byId.get(done.id);
    return !(alert && shows(alert, done.action)) && now.getTime() - Date.parse(done.at) < ACCEPTED_KEEP_MS;
  });
}

/** The alerts with the accepted actions applied where they do not show them yet. */
export function applyAccepted(alerts: readonly Alert[], accepted: readonly Accepted[]): Alert[] {
  return alerts.map((alert) =>
    accepted.reduce(
      (shown, done) => (done.id === shown.id && !shows(shown, done.action) ? apply(shown, done) : shown),
      alert,
    ),
  );
}

function shows(alert: Alert, action: AlertAction): boolean {
  return action === 'ack' ? alert.acknowledged : alert.state === 'cleared';
}

function apply(alert: Alert, done: Accepted): Alert {
  if (done.action === 'ack') {
    return { ...alert, acknowledged: true, acknowledged_at: done.at, acknowledged_by: done.by, ack_note: done.note };
  }
  return {
    ...alert,
    state: 'cleared',
    cleared_at: done.at,
    clear_reason: 'manual',
    cleared_by: done.by,
    clear_note: done.note,
    clear_value: null,
  };
}

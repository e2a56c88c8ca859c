import { describe, expect, it } from 'vitest';
import {
  ACCEPTED_KEEP_MS,
  actionsFor,
  afterRefusal,
  applyAccepted,
  checkActionInput,
  stillPending,
  type Accepted,
} from './alertActions';
import { ApiError } from './api/client';
import { alert } from './fixtures';

describe('actionsFor', () => {
  it('offers acknowledge until someone has, and clear while active', () => {
    expect(actionsFor({ state: 'active', acknowledged: false })).toEqual(['ack', 'clear']);
    expect(actionsFor({ state: 'active', acknowledged: true })).toEqual(['clear']);
    expect(actionsFor({ state: 'cleared', acknowledged: false })).toEqual(['ack']);
    expect(actionsFor({ state: 'cleared', acknowledged: true })).toEqual([]);
  });
});

describe('checkActionInput', () => {
  it('trims, and leaves an empty note out', () => {
    expect(checkActionInput('  Ana (on call) ', '  ')).toEqual({ request: { by: 'Ana (on call)' } });
    expect(checkActionInput('Ana', ' pump restarted ')).toEqual({ request: { by: 'Ana', note: 'pump restarted' } });
  });

  it('wants a name', () => {
    expect(checkActionInput(' ', 'note')).toMatchObject({ field: 'by' });
  });

  it('counts characters as the server does, up to 128', () => {
    expect(checkActionInput('é'.repeat(128), '')).toEqual({ request: { by: 'é'.repeat(128) } });
    // 128 emoji are 256 UTF-16 units, still 128 characters.
    expect(checkActionInput('🔥'.repeat(128), '')).toMatchObject({ request: { by: '🔥'.repeat(128) } });
    expect(checkActionInput('Ana', 'x'.repeat(129))).toEqual({
      field: 'note',
      problem: 'The note is longer than 128 characters.',
    });
  });

  it('refuses control characters inside', () => {
    expect(checkActionInput('Ana\tB', '')).toMatchObject({ field: 'by' });
    expect(checkActionInput('Ana', 'a\u0085b')).toMatchObject({ field: 'note' });
  });
});

describe('afterRefusal', () => {
  const readOnly = new ApiError(403, 'read_only_token', 'a read or analyst token cannot change anything');
  const unknown = new ApiError(401, 'unauthorized', 'unknown token');

  it("asks for the admin token when the page's token may not act", () => {
    const refusal = afterRefusal(readOnly, false);
    expect(refusal).toMatchObject({ askAdminToken: true, forgetAdminToken: false });
    expect(refusal.message).toContain('a read or analyst token cannot change anything');
  });

  it('names what the token may not do', () => {
    expect(afterRefusal(readOnly, false, 'delete alert rules').message).toMatch(
      /^This dashboard's token may not delete alert rules \(a read or analyst/,
    );
  });

  it('forgets an admin token the server did not take, and asks again', () => {
    for (const error of [unknown, readOnly]) {
      const refusal = afterRefusal(error, true);
      expect(refusal).toMatchObject({ askAdminToken: true, forgetAdminToken: true });
      expect(refusal.message).toContain(error.message);
    }
  });

  it("says anything else as the server said it; a 401 for the page's token is the app's to handle", () => {
    const gone = new ApiError(
      404,
      'alert_not_found',
      'no alert 0190 (a new one is listed once the read models have it)',
    );
    expect(afterRefusal(gone, true)).toEqual({ askAdminToken: false, forgetAdminToken: false, message: gone.message });
    expect(afterRefusal(unknown, false)).toMatchObject({ askAdminToken: false, message: 'unknown token' });
    expect(afterRefusal(new Error('cannot reach the API'), false).message).toBe('cannot reach the API');
  });
});

describe('accepted actions', () => {
  const now = new Date('2026-12-01T04:00:10Z');
  const ack: Accepted = { id: 'a', action: 'ack', by: 'Ana', note: 'on it', at: '2026-12-01T04:00:05Z' };
  const clear: Accepted = { id: 'a', action: 'clear', by: 'Bob', note: null, at: '2026-12-01T04:00:06Z' };

  it('shows them over a list that does not have them yet', () => {
    const [shown] = applyAccepted([alert({ id: 'a', clear_value: null })], [ack, clear]);
    expect(shown).toMatchObject({
      acknowledged: true,
      acknowledged_by: 'Ana',
      ack_note: 'on it',
      acknowledged_at: ack.at,
      state: 'cleared',
      clear_reason: 'manual',
      cleared_by: 'Bob',
      clear_note: null,
      cleared_at: clear.at,
    });
  });

  it('leaves other alerts, and what the list already shows, as listed', () => {
    const other = alert({ id: 'b' });
    const acked = alert({
      id: 'a',
      acknowledged: true,
      acknowledged_by: 'Cy',
      acknowledged_at: '2026-12-01T04:00:04Z',
    });
    expect(applyAccepted([other, acked], [ack])).toEqual([other, acked]);
  });

  it('keeps them until the list shows them', () => {
    expect(stillPending([ack, clear], [alert({ id: 'a' })], now)).toEqual([ack, clear]);
    expect(stillPending([ack, clear], [alert({ id: 'a', acknowledged: true })], now)).toEqual([clear]);
    expect(stillPending([ack, clear], [alert({ id: 'a', acknowledged: true, state: 'cleared' })], now)).toEqual([]);
  });

  it('keeps one for an alert not listed until it is too old to wait for', () => {
    expect(stillPending([ack], [], now)).toEqual([ack]);
    const later = new Date(Date.parse(ack.at) + ACCEPTED_KEEP_MS);
    expect(stillPending([ack], [alert({ id: 'a' })], later)).toEqual([]);
  });
});

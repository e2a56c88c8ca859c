import { describe, expect, it } from 'vitest';
import { badgeFor, disabledNote, statusAt } from './status';

const now = new Date('2026-11-23T10:00:00Z');
const seen = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();

describe('statusAt', () => {
  it('is online while the newest reading is at most 5 minutes old', () => {
    expect(statusAt({ status: 'silent', last_seen: seen(10) }, now)).toBe('online');
    expect(statusAt({ status: 'online', last_seen: seen(300) }, now)).toBe('online');
  });

  it('goes silent past 5 minutes, even if the server said online when it was fetched', () => {
    expect(statusAt({ status: 'online', last_seen: seen(301) }, now)).toBe('silent');
  });

  it('is silent for a device that never sent a reading', () => {
    expect(statusAt({ status: 'online', last_seen: null }, now)).toBe('silent');
  });

  it('keeps decommissioned devices decommissioned, whatever they sent last', () => {
    expect(statusAt({ status: 'decommissioned', last_seen: seen(1) }, now)).toBe('decommissioned');
  });

  it('keeps disabled devices disabled, recent reading or none', () => {
    expect(statusAt({ status: 'disabled', last_seen: seen(1) }, now)).toBe('disabled');
    expect(statusAt({ status: 'disabled', last_seen: null }, now)).toBe('disabled');
  });
});

describe('badgeFor', () => {
  it('gives each status its own tone', () => {
    expect(badgeFor('online')).toMatchObject({ label: 'online', tone: 'ok' });
    expect(badgeFor('silent')).toMatchObject({ label: 'silent', tone: 'warn' });
    expect(badgeFor('disabled')).toMatchObject({ label: 'disabled', tone: 'paused' });
    expect(badgeFor('decommissioned')).toMatchObject({ label: 'decommissioned', tone: 'off' });
  });
});

describe('disabledNote', () => {
  it('says since when a disabled device is, and how long ago that was', () => {
    const note = disabledNote({ status: 'disabled', disabled_at: seen(2 * 3600) }, now);
    expect(note).toMatch(/^disabled since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(2 h ago\): /);
  });

  it('says nothing of a device that is not disabled, or whose time the server did not send', () => {
    expect(disabledNote({ status: 'online', disabled_at: null }, now)).toBeNull();
    expect(disabledNote({ status: 'decommissioned', disabled_at: seen(60) }, now)).toBeNull();
    expect(disabledNote({ status: 'disabled' }, now)).toBeNull();
  });
});

/**
 * Settings kept in localStorage. Storage can be unavailable (blocked site data, some private modes);
 * then reads find nothing and writes are dropped, and the page works until it is closed.
 */

export function loadSetting(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** Saves `value`, or removes the setting when `value` is null. */
export function saveSetting(key: string, value: string | null): void {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // Not persisted: see the module comment.
  }
}

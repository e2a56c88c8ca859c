/**
 * The read-only token: taken from the URL fragment (`#token=…`, as `watershed up` prints it), kept in
 * localStorage, and removed from the visible address so it does not end up in screenshots or bookmarks.
 */

import { loadSetting, saveSetting } from '../settings';

const TOKEN_KEY = 'watershed.token';

export interface FragmentToken {
  /** The token found in the fragment, or null. */
  token: string | null;
  /** The fragment without the token, e.g. '#/devices/pump-1' ('' when nothing is left). */
  rest: string;
}

/**
 * Finds `token=` in a fragment, either alone (`#token=abc`) or after a route (`#/devices/x?token=abc`),
 * and returns the fragment without it. Other parameters stay.
 */
export function takeTokenFromFragment(hash: string): FragmentToken {
  const fragment = hash.replace(/^#/, '');
  const queryAt = fragment.indexOf('?');
  // A fragment that starts with a parameter has no route part: '#token=abc'.
  const [path, query] =
    queryAt >= 0
      ? [fragment.slice(0, queryAt), fragment.slice(queryAt + 1)]
      : fragment.includes('=')
        ? ['', fragment]
        : [fragment, ''];
  const params = new URLSearchParams(query);
  const token = params.get('token')?.trim() || null;
  params.delete('token');
  const remaining = params.toString();
  const rest = path + (remaining ? `?${remaining}` : '');
  return { token, rest: rest ? `#${rest}` : '' };
}

/** The token in use: kept in memory as well, so the page works on when storage is unavailable. */
export class TokenStore {
  private current: string | null = loadSetting(TOKEN_KEY) || null;

  get(): string | null {
    return this.current;
  }

  set(token: string): void {
    this.current = token;
    saveSetting(TOKEN_KEY, token);
  }

  clear(): void {
    this.current = null;
    saveSetting(TOKEN_KEY, null);
  }
}

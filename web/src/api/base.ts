/**
 * Where the API lives. Same origin unless configured: at build time with `VITE_API_BASE`, or at run
 * time with `?api=<url>` in the page address, which is remembered (and `?api=` with no value forgets it).
 */

export const SAVED_API_BASE_KEY = 'watershed.apiBase';

export interface ApiBaseChoice {
  /** Prefix for API paths: '' for same origin, else an absolute URL without a trailing slash. */
  base: string;
  /** What to remember for the next visit: a URL to save, null to forget, undefined to leave as is. */
  remember?: string | null;
}

/** Picks the API base from the page's query string, the saved setting and the build-time default, in that order. */
export function chooseApiBase(search: string, saved: string | null, buildTime: string | undefined): ApiBaseChoice {
  const fallback = normalizeBase(buildTime ?? '') ?? '';
  const requested = new URLSearchParams(search).get('api');
  if (requested !== null && requested.trim() === '') return { base: fallback, remember: null };
  const fromQuery = normalizeBase(requested ?? '');
  if (fromQuery) return { base: fromQuery, remember: fromQuery };
  // An unusable `?api=` is ignored rather than breaking a page that worked yesterday.
  return { base: normalizeBase(saved ?? '') ?? fallback };
}

/** An http(s) URL without its trailing slash, or null when `raw` is empty or not such a URL. */
export function normalizeBase(raw: string): string | null {
  const trimmed = raw.trim();
  if (!trimmed) return null;
  try {
    const url = new URL(trimmed);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.href.replace(/\/+$/, '');
  } catch {
    return null;
  }
}

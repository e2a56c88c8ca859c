/** What an unknown route shows: where to go instead. */

import { el } from '../dom';
import { overviewHref } from '../routes';
import type { View } from './view';

export function notFoundView(path: string): View {
  return {
    element: el(
      'section',
      { class: 'card' },
      el('h1', {}, 'Not found'),
      el('p', {}, `Nothing lives at “${path}”. `, el('a', { href: overviewHref() }, 'Back to the fleet')),
    ),
    ready: Promise.resolve(),
    live: () => undefined,
    resync: () => undefined,
    destroy: () => undefined,
  };
}

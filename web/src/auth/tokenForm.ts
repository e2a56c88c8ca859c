/** The small form that asks for a token when none is saved or the API rejected the saved one. */

import { el } from '../dom';

/** Shows the form in `container` and resolves with the token entered. */
export function askForToken(container: HTMLElement, reason: string | null): Promise<string> {
  const input = el('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const form = el(
    'form',
    { class: 'token-form card', 'data-testid': 'token-form' },
    el('h1', {}, 'Access token'),
    reason && el('p', { class: 'error', role: 'alert' }, reason),
    el(
      'p',
      { class: 'muted' },
      'Paste the read token that ',
      el('code', {}, 'watershed up'),
      ' printed (the dashboard address it prints carries it already).',
    ),
    el('label', { for: 'token' }, 'Token'),
    input,
    el('button', { type: 'submit' }, 'Open dashboard'),
  );
  container.replaceChildren(form);
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (token) resolve(token);
    });
  });
}

/** The device page's range choice: preset buttons (15 min … 7 d) and a custom from/to form. */

import { el } from '../dom';
import { formatTimestamp } from '../format';
import { PRESETS, type Preset, type RangeChoice, type TimeWindow } from '../range';

export class RangePicker {
  readonly element: HTMLElement;
  private readonly buttons = new Map<Preset, HTMLButtonElement>();
  private readonly custom: HTMLDetailsElement;
  private readonly from = el('input', { type: 'datetime-local', step: 1, required: true, 'aria-label': 'from' });
  private readonly to = el('input', { type: 'datetime-local', step: 1, required: true, 'aria-label': 'to' });
  private readonly problem = el('span', { class: 'error', role: 'alert' });

  /** @param currentWindow what the custom form starts from when opened. */
  constructor(
    choice: RangeChoice,
    private readonly currentWindow: () => TimeWindow,
    onChange: (choice: RangeChoice) => void,
  ) {
    for (const preset of Object.keys(PRESETS) as Preset[]) {
      const button = el('button', { type: 'button', 'data-range': preset }, PRESETS[preset].label);
      button.addEventListener('click', () => onChange({ kind: 'preset', preset }));
      this.buttons.set(preset, button);
    }
    const form = el(
      'form',
      { class: 'custom-form' },
      el('label', {}, 'from ', this.from),
      el('label', {}, 'to ', this.to),
      el('button', { type: 'submit' }, 'Apply'),
      this.problem,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      // datetime-local values are local wall-clock times, which is how `new Date` reads them.
      const from = new Date(this.from.value);
      const to = new Date(this.to.value);
      if (!(from < to)) {
        this.problem.textContent = '“from” must be before “to”';
        return;
      }
      this.problem.textContent = '';
      onChange({ kind: 'custom', from, to });
    });
    this.custom = el('details', { class: 'custom' }, el('summary', {}, 'custom'), form);
    this.custom.addEventListener('toggle', () => {
      if (this.custom.open) this.fill(this.currentWindow());
    });
    this.element = el(
      'div',
      { class: 'range', role: 'group', 'aria-label': 'Time range' },
      ...this.buttons.values(),
      this.custom,
    );
    this.select(choice);
  }

  select(choice: RangeChoice): void {
    for (const [preset, button] of this.buttons) {
      button.setAttribute('aria-pressed', String(choice.kind === 'preset' && choice.preset === preset));
    }
    this.custom.classList.toggle('active', choice.kind === 'custom');
    if (choice.kind === 'custom') this.fill(choice);
    else this.custom.open = false;
  }

  private fill(shown: TimeWindow): void {
    this.from.value = formatTimestamp(shown.from).replace(' ', 'T');
    this.to.value = formatTimestamp(shown.to).replace(' ', 'T');
  }
}

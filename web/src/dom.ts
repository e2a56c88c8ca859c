/** A small element builder, so views read as the markup they make. */

type Child = Node | string | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;

/**
 * Makes an element, e.g. `el('a', { href: '#/', class: 'brand' }, 'Watershed')`. Attributes that are
 * null, undefined or false are left out; `true` sets an empty one. Add listeners to the returned element.
 */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, AttrValue> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return element;
}

/** Sets an element's text only when it changed, so a once-a-second redraw does not disturb selection or layout. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * Chart colours come from the page's CSS variables (styles.css), so canvas charts follow the light
 * or dark scheme like everything else; canvases do not restyle themselves, hence the change hook.
 */

export interface ChartTheme {
  text: string;
  grid: string;
  line: string;
  band: string;
  bandEdge: string;
  /** Alert thresholds. */
  alert: string;
}

export function readTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  const color = (name: string) => style.getPropertyValue(name).trim();
  return {
    text: color('--muted'),
    grid: color('--grid'),
    line: color('--accent'),
    band: color('--band'),
    bandEdge: color('--band-edge'),
    alert: color('--danger'),
  };
}

/** Calls `redraw` when the system switches between light and dark; returns the unsubscribe function. */
export function onSchemeChange(redraw: () => void): () => void {
  const query = window.matchMedia('(prefers-color-scheme: dark)');
  query.addEventListener('change', redraw);
  return () => query.removeEventListener('change', redraw);
}

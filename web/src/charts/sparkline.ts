/** The overview's small last-hour line per sensor: an SVG path, a fraction of what a canvas chart costs per cell. */

import type { Columns } from '../series';

const WIDTH = 100;
const HEIGHT = 24;
/** Points further apart than this (in seconds) are not joined: the device was silent in between. */
const MAX_GAP_S = 150;
const SVG = 'http://www.w3.org/2000/svg';

/**
 * The path through (t, value) over the time window [fromS, toS], scaled to a width × height box with
 * the highest value at the top. A run of one point is a dot (drawn with round caps).
 */
export function sparklinePath(
  t: readonly number[],
  values: readonly number[],
  fromS: number,
  toS: number,
  width = WIDTH,
  height = HEIGHT,
): string {
  if (t.length === 0 || toS <= fromS) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // A flat line sits in the middle rather than on an edge.
  const y = (v: number) => (hi === lo ? height / 2 : height - ((v - lo) / (hi - lo)) * height);
  const x = (s: number) => ((s - fromS) / (toS - fromS)) * width;
  const round = (n: number) => Math.round(n * 100) / 100;
  let path = '';
  for (let i = 0; i < t.length; i++) {
    const point = `${round(x(t[i]!))} ${round(y(values[i]!))}`;
    const startsRun = i === 0 || t[i]! - t[i - 1]! > MAX_GAP_S;
    const endsRun = i === t.length - 1 || t[i + 1]! - t[i]! > MAX_GAP_S;
    path += startsRun ? `${path ? ' ' : ''}M${point}` : ` L${point}`;
    if (startsRun && endsRun) path += ' h0';
  }
  return path;
}

/** A sparkline element that is redrawn in place as readings arrive. */
export class Sparkline {
  readonly element: SVGSVGElement;
  private readonly path: SVGPathElement;

  constructor(label: string) {
    this.element = document.createElementNS(SVG, 'svg');
    this.element.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    this.element.setAttribute('preserveAspectRatio', 'none');
    this.element.setAttribute('class', 'spark');
    this.element.setAttribute('role', 'img');
    this.element.setAttribute('aria-label', label);
    this.path = document.createElementNS(SVG, 'path');
    this.path.setAttribute('vector-effect', 'non-scaling-stroke');
    this.element.append(this.path);
  }

  draw(columns: Columns, fromS: number, toS: number): void {
    this.path.setAttribute('d', sparklinePath(columns.t, columns.value, fromS, toS));
    this.element.dataset.points = String(columns.t.length);
  }
}

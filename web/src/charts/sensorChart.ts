/**
 * One sensor's chart on the device page (uPlot): the value line for raw data; for buckets the average
 * as the line inside a min–max band; the thresholds of the sensor's open alerts as dashed lines. The
 * legend under the chart shows exact values and the time under the cursor. The container carries
 * `data-points` (points drawn) and `data-thresholds` for people and tests to check.
 */

import uPlot from 'uplot';
import { formatExact } from '../format';
import type { TimeWindow } from '../range';
import { chartData, type Columns } from '../series';
import { readTheme } from './theme';

const HEIGHT = 220;

/**
 * Time-axis labels in 24-hour ISO style, matching the rest of the page (uPlot's default is US 12-hour).
 * Each row: tick spacing (s), label, then what to add below it when the year, month, day, hour, minute
 * or second changes (uPlot's `values` table format).
 */
const TIME_TICKS: uPlot.Axis.Values = [
  [3600 * 24 * 365, '{YYYY}', null, null, null, null, null, null, 1],
  [3600 * 24 * 28, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
  [3600 * 24, '{MM}-{DD}', '\n{YYYY}', null, null, null, null, null, 1],
  [60, '{HH}:{mm}', '\n{YYYY}-{MM}-{DD}', null, '\n{MM}-{DD}', null, null, null, 1],
  [1, '{HH}:{mm}:{ss}', '\n{YYYY}-{MM}-{DD}', null, '\n{MM}-{DD}', null, null, null, 1],
];

const AXIS_FONT = '12px system-ui, sans-serif';
let measuring: CanvasRenderingContext2D | null = null;

/**
 * A size function for the value axis that fits its widest label, so '1,010.82' is not clipped (uPlot's
 * default width is fixed). uPlot re-asks while the layout settles; answering the first size again from
 * the second round on lets it settle instead of running out of rounds with labels and layout apart.
 */
function fitLabels(): uPlot.Axis.Size {
  let size = 0;
  return (_plot, values, _axis, round) => {
    if (round > 1 && size > 0) return size;
    measuring ??= document.createElement('canvas').getContext('2d');
    if (!measuring) return 60;
    measuring.font = AXIS_FONT;
    const widest = Math.max(0, ...(values ?? []).map((label) => measuring!.measureText(label).width));
    // Tick length (10) and gap (5) as uPlot draws them, plus a little air.
    size = Math.ceil(widest) + 18;
    return size;
  };
}

export class SensorChart {
  readonly element: HTMLElement;
  private plot: uPlot | null = null;
  /** The resolution the plot was built for: raw and bucketed charts have different series. */
  private builtFor: Columns['resolution'] | null = null;
  private thresholds: number[] = [];
  private readonly resizes: ResizeObserver;

  /**
   * @param columns the data drawn; change it in place (series.ts) and call `update()`.
   * @param timeWindow read at each redraw, so a "last hour" chart slides with the clock.
   */
  constructor(
    private readonly sensor: string,
    private readonly unit: string | null,
    public columns: Columns,
    private readonly timeWindow: () => TimeWindow,
  ) {
    this.element = document.createElement('div');
    this.element.className = 'chart';
    this.element.dataset.sensorChart = sensor;
    this.resizes = new ResizeObserver(() => {
      // Only on a real width change: resizing to the same size would just ask the observer again.
      if (this.plot && this.plot.width !== this.width()) this.plot.setSize({ width: this.width(), height: HEIGHT });
    });
  }

  /** Draws the chart; call once the element is in the document, since uPlot sizes itself from it. */
  mount(): void {
    this.build();
    this.resizes.observe(this.element);
  }

  /** Redraws after `columns` changed in place or was replaced. */
  update(): void {
    if (!this.plot || this.columns.resolution !== this.builtFor) this.build();
    else this.plot.setData(chartData(this.columns));
    this.element.dataset.points = String(this.columns.t.length);
  }

  /** Draws these values as dashed lines across the chart (the thresholds of the sensor's open alerts); [] for none. */
  setThresholds(values: readonly number[]): void {
    if (values.length === this.thresholds.length && values.every((v, i) => v === this.thresholds[i])) return;
    this.thresholds = [...values];
    this.element.dataset.thresholds = this.thresholds.join(' ');
    // Alerts come and go rarely, and the value axis must make room for the lines: rebuilding is simplest.
    if (this.plot) this.build();
  }

  /** Rebuilds with the current colours (after a light/dark switch). */
  restyle(): void {
    this.build();
  }

  destroy(): void {
    this.resizes.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }

  private width(): number {
    return Math.max(this.element.clientWidth, 200);
  }

  private build(): void {
    this.plot?.destroy();
    this.plot = new uPlot(this.options(), chartData(this.columns), this.element);
    this.builtFor = this.columns.resolution;
    this.element.dataset.points = String(this.columns.t.length);
    this.element.dataset.resolution = this.columns.resolution;
  }

  /** uPlot's automatic value range (its `snapNumY`), widened to take in the thresholds so no line falls off the chart. */
  private valueRange(dataMin: number | null, dataMax: number | null): uPlot.Range.MinMax {
    const values = [...this.thresholds, ...[dataMin, dataMax].filter((v): v is number => v !== null)];
    return values.length ? uPlot.rangeNum(Math.min(...values), Math.max(...values), 0.1, true) : [null, null];
  }

  private drawThresholds(plot: uPlot, color: string): void {
    const { ctx, bbox } = plot;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = uPlot.pxRatio;
    ctx.setLineDash([6 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
    for (const threshold of this.thresholds) {
      // Half a pixel off the grid, so a 1-pixel line is sharp rather than smeared over two.
      const y = Math.round(plot.valToPos(threshold, 'y', true)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(bbox.left, y);
      ctx.lineTo(bbox.left + bbox.width, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  private options(): uPlot.Options {
    const theme = readTheme();
    const value = (_: uPlot, v: number | null) => (v === null ? '–' : formatExact(v, this.unit));
    const bucketed = this.columns.resolution !== 'raw';
    const axis: uPlot.Axis = {
      font: AXIS_FONT,
      stroke: theme.text,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
    };
    const edge = { stroke: theme.bandEdge, width: 1, value, points: { show: false } };
    return {
      width: this.width(),
      height: HEIGHT,
      scales: {
        // The chosen range, not the data's extent: a device silent for half of it shows as such.
        x: {
          time: true,
          range: () => {
            const w = this.timeWindow();
            return [w.from.getTime() / 1000, w.to.getTime() / 1000];
          },
        },
        // Without data uPlot passes null, whatever its types say.
        y: { range: (_plot, min, max) => this.valueRange(min as number | null, max as number | null) },
      },
      series: [
        { label: 'time', value: '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' },
        { label: bucketed ? 'avg' : this.sensor, stroke: theme.line, width: 1.5, value },
        ...(bucketed
          ? [
              { label: 'min', ...edge },
              { label: 'max', ...edge },
            ]
          : []),
      ],
      bands: bucketed ? [{ series: [3, 2], fill: theme.band }] : [],
      axes: [
        { ...axis, values: TIME_TICKS },
        { ...axis, size: fitLabels() },
      ],
      legend: { live: true },
      hooks: { draw: [(plot) => this.drawThresholds(plot, theme.alert)] },
    };
  }
}

/**
 * A small metrics registry that renders the Prometheus text exposition format (version 0.0.4).
 *
 * Why not `prom-client`: it pulls in `tdigest`, `bintrees` and `@opentelemetry/api`, and its
 * default metrics and cluster aggregation lean on Node-only APIs (`node:cluster`, event-loop
 * monitors) that Deno emulates partly. Hefur needs three metric types, labels, and values read at
 * scrape time; this file is that and nothing more, so it is short to read and costs nothing
 * between scrapes.
 *
 * Most of Hefur's numbers are already counted by the component that owns them (the tracker core,
 * each listener) as plain fields; the registry copies them in a {@link Registry.onCollect} hook
 * when `/metrics` is read, so the announce path pays nothing for metrics. A hook that walks much
 * (every torrent) is asynchronous and pauses between time slices, as does the writing of the
 * text, so that {@link Registry.renderInSlices} never holds the event loop long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "./registry.ts";
 * const registry = new Registry();
 * const hits = registry.counter("app_hits_total", "Hits.", ["path"]);
 * hits.inc({ path: "/a" });
 * assert.match(registry.render(), /^app_hits_total\{path="\/a"\} 1$/m);
 * ```
 *
 * @module
 */
import { TimeSlices } from "../process/time_slices.ts";

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** The kinds of metric the registry knows. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A metric name or label name that Prometheus would reject. */
export class MetricNameError extends Error {
  /** The offending name. */
  readonly value: string;

  constructor(value: string) {
    super(`invalid metric or label name "${value}"`);
    this.name = "MetricNameError";
    this.value = value;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatNumber(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}

/** Series of one metric, keyed by their rendered label set (`{a="1",b="2"}`). */
abstract class Metric<V> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  protected readonly series = new Map<string, V>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    for (const n of [name, ...labelNames]) if (!NAME.test(n)) throw new MetricNameError(n);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  abstract readonly type: MetricType;

  /** The label part of a series line; labels missing from `labels` render as "". */
  protected key(labels: Labels | undefined): string {
    if (this.labelNames.length === 0) return "";
    return "{" +
      this.labelNames.map((n) => `${n}="${escapeLabel(labels?.[n] ?? "")}"`).join(",") + "}";
  }

  /** The sample lines of this metric, one by one (a metric may have a series per torrent). */
  abstract samples(): Iterable<string>;

  /** Forgets every series (for metrics whose label sets come and go). */
  reset(): void {
    this.series.clear();
  }
}

/** A value that only goes up (or is copied from a source that only goes up). */
export class Counter extends Metric<number> {
  readonly type: MetricType;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    type: "counter" | "gauge" = "counter",
  ) {
    super(name, help, labelNames);
    this.type = type;
  }

  /** Adds `n` (default 1) to the series of `labels`. */
  inc(labels?: Labels, n = 1): void {
    const k = this.key(labels);
    this.series.set(k, (this.series.get(k) ?? 0) + n);
  }

  /** Sets the series of `labels`, e.g. to a total counted elsewhere (read in a collect hook). */
  set(value: number, labels?: Labels): void {
    this.series.set(this.key(labels), value);
  }

  /** The current value of the series of `labels` (0 if never touched). */
  get(labels?: Labels): number {
    return this.series.get(this.key(labels)) ?? 0;
  }

  *samples(): Iterable<string> {
    for (const [k, v] of this.series) yield `${this.name}${k} ${formatNumber(v)}`;
  }
}

/** A value that goes up and down, usually set in a collect hook. Renders like a counter. */
export class Gauge extends Counter {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames, "gauge");
  }
}

/** Cumulative bucket counts of observed values (durations, sizes). */
export class Histogram extends Metric<{ counts: number[]; sum: number; count: number }> {
  readonly type = "histogram";
  /** Upper bounds, ascending; `+Inf` is implied. */
  readonly buckets: readonly number[];

  constructor(name: string, help: string, labelNames: readonly string[], buckets: number[]) {
    super(name, help, labelNames);
    if (labelNames.includes("le")) throw new MetricNameError("le");
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  /** Records one observation in the series of `labels`. */
  observe(value: number, labels?: Labels): void {
    this.#record(this.#seriesOf(this.key(labels)), value);
  }

  /**
   * An observer bound to the series of `labels`: for hot paths, it skips rendering the label set
   * on every observation.
   */
  child(labels?: Labels): (value: number) => void {
    const s = this.#seriesOf(this.key(labels));
    return (value) => this.#record(s, value);
  }

  #seriesOf(k: string): { counts: number[]; sum: number; count: number } {
    let s = this.series.get(k);
    if (s === undefined) {
      s = { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    return s;
  }

  #record(s: { counts: number[]; sum: number; count: number }, value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]) i++;
    s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  *samples(): Iterable<string> {
    for (const [k, s] of this.series) {
      // A series' lines are made together: an observation between two slices of a render must
      // not land between its buckets and its count.
      const lines: string[] = [];
      // The `le` label goes last inside the braces.
      const open = k === "" ? "{" : k.slice(0, -1) + ",";
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i];
        const le = i < this.buckets.length ? formatNumber(this.buckets[i]) : "+Inf";
        lines.push(`${this.name}_bucket${open}le="${le}"} ${cumulative}`);
      }
      lines.push(`${this.name}_sum${k} ${formatNumber(s.sum)}`);
      lines.push(`${this.name}_count${k} ${s.count}`);
      yield* lines;
    }
  }
}

/** The metrics of one process, rendered together. */
export class Registry {
  readonly #metrics: (Counter | Histogram)[] = [];
  readonly #collectors: (() => void | Promise<void>)[] = [];
  /** The render in slices under way, if any: the next one starts after it. */
  #rendering: Promise<unknown> = Promise.resolve();

  /** A new counter (names of counters end in `_total` by convention). */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  /** A new gauge. */
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.#add(new Gauge(name, help, labelNames));
  }

  /** A new histogram with the given bucket upper bounds. */
  histogram(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /**
   * Runs `hook` before every render: where values counted elsewhere are copied in. A hook that
   * walks much returns a promise and pauses between time slices; only
   * {@link renderInSlices} may then be used.
   */
  onCollect(hook: () => void): void;
  onCollect(hook: () => Promise<void>): void;
  onCollect(hook: () => void | Promise<void>): void {
    this.#collectors.push(hook);
  }

  /**
   * Every metric in the text format, `# HELP` and `# TYPE` lines included, in one go. For
   * registries whose collect hooks are all synchronous: throws if one returns a promise.
   */
  render(): string {
    for (const hook of this.#collectors) {
      if (hook() instanceof Promise) {
        throw new Error("an asynchronous collect hook: use renderInSlices");
      }
    }
    let out = "";
    for (const m of this.#metrics) {
      out += this.#header(m);
      for (const line of m.samples()) out += line + "\n";
    }
    return out;
  }

  /**
   * The same text as {@link render}, collected and written in time slices so that the event loop
   * serves others meanwhile. Renders run one after the other: two at once would fill the same
   * series.
   */
  renderInSlices(): Promise<string> {
    const next = this.#rendering.then(() => this.#renderInSlices());
    this.#rendering = next.catch(() => {});
    return next;
  }

  async #renderInSlices(): Promise<string> {
    for (const hook of this.#collectors) await hook();
    const slices = new TimeSlices();
    let out = "";
    for (const m of this.#metrics) {
      out += this.#header(m);
      for (const line of m.samples()) {
        out += line + "\n";
        if (slices.due()) await slices.pause();
      }
    }
    return out;
  }

  #header(m: Counter | Histogram): string {
    return `# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n` +
      `# TYPE ${m.name} ${m.type}\n`;
  }

  #add<M extends Counter | Histogram>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name)) throw new MetricNameError(metric.name);
    this.#metrics.push(metric);
    return metric;
  }
}

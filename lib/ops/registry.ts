/**
 * The metrics of one process, on prom-client (pinned in deno.json): counters
 * and histograms whose label values are bounded ({@linkcode LabelCap}),
 * figures read from elsewhere at each scrape, the process's own memory, CPU
 * and event-loop delay, and the Prometheus text of them all.
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { EVENT_LOOP_BUCKETS, sampleEventLoopDelay } from "./event_loop_delay.ts";
import { DEFAULT_LABEL_CAP, LabelCap, OTHER_LABEL } from "./label_cap.ts";

/** The prefix of every metric of ours (prom-client's process metrics keep their standard names). */
export const METRIC_PREFIX = "pubsub_lab_";

/**
 * prom-client's default metrics that do not measure anything under Deno:
 * the event-loop figures (see event_loop_delay.ts) and the libuv handle and
 * request counts, always 0.
 */
const NOT_UNDER_DENO = /^nodejs_(eventloop_lag|active_handles|active_requests)/;

/** A counter with one label, its values bounded. */
export interface LabeledCounter {
  /**
   * Adds `by` (default 1) to the series of `value`.
   *
   * @param value the label's value (past the cap: counted under `_other_`)
   * @param by how much to add
   */
  inc(value: string, by?: number): void;
  /**
   * Counts, at each scrape, what `read` says was added since the last one: for a count the script already keeps (a
   * summary's), reported without touching its hot path. A count that goes down is not taken back.
   *
   * @param value the label's value (past the cap: counted under `_other_`)
   * @param read the count kept elsewhere, from 0
   */
  follow(value: string, read: () => number): void;
  /**
   * {@linkcode follow} for counts kept per label value elsewhere (e.g. per channel, values appearing as they come):
   * at each scrape, what each count gained since the last one.
   *
   * @param read the counts now, by label value (past the cap: counted under `_other_`)
   */
  followEach(read: () => Iterable<[string, number]>): void;
}

/** A histogram with one label, its values bounded. */
export interface LabeledHistogram {
  /**
   * Records one observation in the series of `value`.
   *
   * @param value the label's value (past the cap: counted under `_other_`)
   * @param observed what was measured (seconds, for a duration)
   */
  observe(value: string, observed: number): void;
}

/** One series of a figure read at each scrape: its label values and its value. */
export type Reading = [labels: Record<string, string>, value: number];

/** How an {@linkcode OpsRegistry} is made. */
export interface OpsRegistryOptions {
  /** Distinct values each label keeps (default {@linkcode DEFAULT_LABEL_CAP}). */
  labelCap?: number;
  /** Where the one line about a label past its cap goes (default: nowhere). */
  warn?: (text: string) => void;
}

/**
 * A process's metrics. One label name shares one cap across every metric
 * that uses it, so that a channel is itself, or `_other_`, in all of them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpsRegistry } from "./registry.ts";
 * const ops = new OpsRegistry({ labelCap: 1 });
 * const received = ops.labeledCounter("messages_received_total", "Messages received.", "channel");
 * received.inc("news");
 * received.inc("sports", 2);
 * const text = await ops.text();
 * assert.match(text, /^pubsub_lab_messages_received_total\{channel="news"\} 1$/m);
 * assert.match(text, /^pubsub_lab_messages_received_total\{channel="_other_"\} 2$/m);
 * ```
 */
export class OpsRegistry {
  /** The prom-client registry behind it. */
  readonly registry: Registry = new Registry();
  readonly #caps = new Map<string, LabelCap>();
  readonly #labelCap: number;
  readonly #warn: ((text: string) => void) | undefined;
  #stopSampling: (() => void) | undefined;

  /**
   * Creates an OpsRegistry.
   *
   * @param options the label cap and where to say it was reached
   */
  constructor(options: OpsRegistryOptions = {}) {
    this.#labelCap = options.labelCap ?? DEFAULT_LABEL_CAP;
    this.#warn = options.warn;
  }

  /** The Content-Type of {@linkcode text}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The cap of a label name (made on first use).
   *
   * @param label the label's name
   * @returns its cap, shared by every metric with that label
   */
  cap(label: string): LabelCap {
    let cap = this.#caps.get(label);
    if (!cap) this.#caps.set(label, cap = new LabelCap(label, this.#labelCap, this.#warn));
    return cap;
  }

  /**
   * A counter without labels.
   *
   * @param name its name after {@linkcode METRIC_PREFIX}, ending in `_total`
   * @param help one line saying what it counts
   * @returns the prom-client counter
   */
  counter(name: string, help: string): Counter {
    return new Counter({ name: METRIC_PREFIX + name, help, registers: [this.registry] });
  }

  /**
   * A counter with one bounded label.
   *
   * @param name its name after {@linkcode METRIC_PREFIX}, ending in `_total`
   * @param help one line saying what it counts
   * @param label the label's name
   * @returns the counter
   */
  labeledCounter(name: string, help: string, label: string): LabeledCounter {
    // Counted in plain numbers, handed to prom-client at each scrape: its own increment (label hashing and checks,
    // 85 ns) added 18% to the CPU time of subscriber.ts's receive path for two counters (tests/bench/ops_metrics.ts).
    const cells = new Map<string, { n: number }>();
    const followed: { value: string; read: () => number; seen: number }[] = [];
    const followedEach: { read: () => Iterable<[string, number]>; seen: Map<string, number> }[] = [];
    new Counter({
      name: METRIC_PREFIX + name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        for (const f of followed) {
          const now = f.read();
          if (now > f.seen) cell(f.value).n += now - f.seen;
          f.seen = Math.max(f.seen, now);
        }
        for (const f of followedEach) {
          for (const [value, now] of f.read()) {
            const seen = f.seen.get(value) ?? 0;
            if (now <= seen) continue;
            cell(value).n += now - seen;
            f.seen.set(value, now);
          }
        }
        this.reset();
        for (const [value, c] of cells) this.inc({ [label]: value }, c.n);
      },
    });
    const cell = this.#children(label, (value) => {
      const made = { n: 0 };
      cells.set(value, made);
      return made;
    });
    let lastValue: string | undefined;
    let last = { n: 0 };
    return {
      inc(value, by = 1) {
        if (value !== lastValue) [lastValue, last] = [value, cell(value)];
        last.n += by;
      },
      follow(value, read) {
        cell(value); // shown from the first scrape, at 0
        followed.push({ value, read, seen: 0 });
      },
      followEach(read) {
        followedEach.push({ read, seen: new Map() });
      },
    };
  }

  /**
   * A histogram with one bounded label.
   *
   * @param name its name after {@linkcode METRIC_PREFIX}, ending in its unit (`_seconds`)
   * @param help one line saying what it measures
   * @param label the label's name
   * @param buckets the upper bounds of its buckets
   * @returns the histogram
   */
  labeledHistogram(name: string, help: string, label: string, buckets: number[]): LabeledHistogram {
    const histogram = new Histogram({
      name: METRIC_PREFIX + name,
      help,
      labelNames: [label],
      buckets,
      registers: [this.registry],
    });
    const child = this.#children(label, (value) => histogram.labels(value));
    return { observe: (value, observed) => child(value).observe(observed) };
  }

  /** `read`'s series with each label value through its cap. */
  #boundedReadings(labels: string[], read: () => Iterable<Reading>): () => Iterable<Reading> {
    const caps = labels.map((l) => this.cap(l));
    return function* () {
      for (const [values, value] of read()) {
        const bounded: Record<string, string> = {};
        labels.forEach((l, i) => bounded[l] = caps[i]!.label(values[l] ?? ""));
        yield [bounded, value];
      }
    };
  }

  /**
   * A gauge whose series are read at each scrape: for figures kept elsewhere
   * (pending entries, clients connected), nothing to do between scrapes.
   * Label values go through their caps.
   *
   * @param name its name after {@linkcode METRIC_PREFIX}
   * @param help one line saying what it shows
   * @param labels the label names (none: `read` gives one series with `{}`)
   * @param read the series now
   */
  readGauge(name: string, help: string, labels: string[], read: () => Iterable<Reading>): void {
    const bounded = this.#boundedReadings(labels, read);
    new Gauge({
      name: METRIC_PREFIX + name,
      help,
      labelNames: labels,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [values, value] of bounded()) this.inc(values, value); // readings past the cap add up under _other_
      },
    });
  }

  /**
   * A counter whose value is read at each scrape: a total kept elsewhere
   * (outages, seconds disconnected) that only grows.
   *
   * @param name its name after {@linkcode METRIC_PREFIX}, ending in `_total`
   * @param help one line saying what it counts
   * @param labels the label names (none: `read` gives one series with `{}`)
   * @param read the series now
   */
  readCounter(name: string, help: string, labels: string[], read: () => Iterable<Reading>): void {
    const bounded = this.#boundedReadings(labels, read);
    new Counter({
      name: METRIC_PREFIX + name,
      help,
      labelNames: labels,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [values, value] of bounded()) this.inc(values, value);
      },
    });
  }

  /**
   * Adds the process's own metrics: prom-client's (CPU, resident and heap
   * memory, open file descriptors, start time; not those that measure
   * nothing under Deno) and `pubsub_lab_event_loop_delay_seconds`, sampled
   * until {@linkcode close}.
   */
  processMetrics(): void {
    if (this.#stopSampling) return;
    collectDefaultMetrics({ register: this.registry });
    for (const metric of this.registry.getMetricsAsArray()) {
      if (NOT_UNDER_DENO.test(metric.name)) this.registry.removeSingleMetric(metric.name);
    }
    const delay = new Histogram({
      name: `${METRIC_PREFIX}event_loop_delay_seconds`,
      help: "How late a timer due every 20 ms fired: the event loop's delay.",
      buckets: EVENT_LOOP_BUCKETS,
      registers: [this.registry],
    });
    this.#stopSampling = sampleEventLoopDelay(delay);
  }

  /** Every metric in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops sampling the event loop. */
  close(): void {
    this.#stopSampling?.();
  }

  /** A child per label value, the values past the cap sharing the `_other_` one (not cached per raw value). */
  #children<T>(label: string, make: (value: string) => T): (value: string) => T {
    const cap = this.cap(label);
    const children = new Map<string, T>();
    let other: T | undefined;
    return (value) => {
      const known = children.get(value);
      if (known !== undefined) return known;
      const bounded = cap.label(value);
      if (bounded === OTHER_LABEL) return other ??= make(OTHER_LABEL);
      const child = make(bounded);
      children.set(value, child);
      return child;
    };
  }
}

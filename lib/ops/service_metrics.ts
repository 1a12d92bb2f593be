/**
 * The metrics every long-running script of pubsub-lab exposes under the same
 * names (README lists them): messages per channel or topic and what became
 * of them, handler latency, the connections' outages, drops and backlog,
 * streams' pending, lag and dead letters per group, and SSE clients.
 * A counter bumped per message costs about 8 ns (1% of subscriber.ts's
 * receive path), a histogram observation about 190 ns: observe one where a
 * handler does real work (tests/bench/ops_metrics.ts). Figures a script
 * already keeps elsewhere are read only when Prometheus scrapes.
 *
 * @module
 */
import type { LabeledCounter, LabeledHistogram, OpsRegistry, Reading } from "./registry.ts";

/** Handler latency buckets in seconds: half a millisecond to 10 s. */
export const HANDLER_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a connection reports at a scrape. */
export interface ConnectionReading {
  /** Times the server was lost after the first connect (`outages` of a summary). */
  outages: number;
  /** Time without the server, in ms (an outage going on counts up to now). */
  downMs: number;
  /** Times the server dropped it for falling behind (a subscriber whose output buffer went over the limit). */
  fellBehind?: number;
  /** The server's output buffer for it, in bytes, as last seen (`omem` of CLIENT LIST); undefined: never looked. */
  backlogBytes?: number;
}

/** What a stream's consumer group reports at a scrape: the figures last read from the server. */
export interface StreamReading {
  /** The stream. */
  stream: string;
  /** The group. */
  group: string;
  /** Entries delivered and not acknowledged; null when not known. */
  pending: number | null;
  /** Entries not yet delivered to the group; null where the server does not say (KeyDB, Redis before 7). */
  lag: number | null;
  /** Length of `<stream>:dead`; null when not known. */
  deadLetters: number | null;
}

/**
 * The shared metrics of a service.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpsRegistry } from "./registry.ts";
 * import { ServiceMetrics } from "./service_metrics.ts";
 * const registry = new OpsRegistry();
 * const metrics = new ServiceMetrics(registry);
 * metrics.received.inc("key_submission");
 * metrics.handlerSeconds.observe("key_submission", 0.002);
 * metrics.watchConnection("subscriber", () => ({ outages: 1, downMs: 2500 }));
 * const text = await registry.text();
 * assert.match(text, /^pubsub_lab_messages_received_total\{channel="key_submission"\} 1$/m);
 * assert.match(text, /^pubsub_lab_disconnected_seconds_total\{connection="subscriber"\} 2.5$/m);
 * ```
 */
export class ServiceMetrics {
  /** Messages (or stream entries) received, per channel, topic or stream. */
  readonly received: LabeledCounter;
  /** Handled to the end (stored, processed, printed). */
  readonly handled: LabeledCounter;
  /** Whose handler failed. */
  readonly failed: LabeledCounter;
  /** Not what they should be (not JSON, not an event, a schema failed, a bad update). */
  readonly malformed: LabeledCounter;
  /** Received and never handled: too large, a full queue, abandoned at the stop. */
  readonly dropped: LabeledCounter;
  /** How long a handler took, in seconds. */
  readonly handlerSeconds: LabeledHistogram;
  readonly #connections = new Map<string, () => ConnectionReading>();
  readonly #streams: (() => Iterable<StreamReading>)[] = [];
  readonly #registry: OpsRegistry;
  #sse = false;

  /**
   * Creates the metrics in `registry`.
   *
   * @param registry where they live
   */
  constructor(registry: OpsRegistry) {
    this.#registry = registry;
    const per = "per channel, topic or stream";
    this.received = registry.labeledCounter("messages_received_total", `Messages received, ${per}.`, "channel");
    this.handled = registry.labeledCounter("messages_handled_total", `Messages handled to the end, ${per}.`, "channel");
    this.failed = registry.labeledCounter("messages_failed_total", `Messages whose handler failed, ${per}.`, "channel");
    this.malformed = registry.labeledCounter(
      "messages_malformed_total",
      `Messages that were not what they should be (not JSON, not an event, a schema failed), ${per}.`,
      "channel",
    );
    this.dropped = registry.labeledCounter(
      "messages_dropped_total",
      `Messages received and never handled (too large, a full queue, abandoned at the stop), ${per}.`,
      "channel",
    );
    this.handlerSeconds = registry.labeledHistogram(
      "handler_duration_seconds",
      `How long handling one message took, ${per}.`,
      "channel",
      HANDLER_BUCKETS,
    );
    const each = <T>(pick: (r: ConnectionReading) => T | undefined) => (): Reading[] =>
      [...this.#connections].flatMap(([connection, read]) => {
        const value = pick(read());
        return value === undefined ? [] : [[{ connection }, Number(value)] as Reading];
      });
    registry.readCounter(
      "outages_total",
      "Times the server was lost after the first connect.",
      ["connection"],
      each((r) => r.outages),
    );
    registry.readCounter(
      "disconnected_seconds_total",
      "Time without the server, in seconds (an outage going on counts up to now).",
      ["connection"],
      each((r) => r.downMs / 1000),
    );
    registry.readCounter(
      "fell_behind_total",
      "Times the server dropped the connection for falling behind (its output buffer over the limit).",
      ["connection"],
      each((r) => r.fellBehind),
    );
    registry.readGauge(
      "output_buffer_bytes",
      "The server's output buffer for the connection, in bytes, as last seen (CLIENT LIST omem).",
      ["connection"],
      each((r) => r.backlogBytes),
    );
  }

  /**
   * Reports a connection's outages, time disconnected, drops and backlog at each scrape.
   *
   * @param connection its name, e.g. `subscriber` or `commands` (a few per script: they are labels)
   * @param read its figures now
   */
  watchConnection(connection: string, read: () => ConnectionReading): void {
    this.#connections.set(connection, read);
  }

  /**
   * Reports consumer groups' pending entries, lag and dead letters at each scrape (what was last read from the
   * server: a scrape sends no command).
   *
   * @param read the groups' figures
   */
  watchStreams(read: () => Iterable<StreamReading>): void {
    if (this.#streams.length === 0) {
      const all = () => this.#streams.flatMap((r) => [...r()]);
      const known = (value: number | null, labels: Record<string, string>): Reading[] =>
        value === null ? [] : [[labels, value]];
      this.#registry.readGauge(
        "stream_pending",
        "Entries delivered to the group and not acknowledged, as last read.",
        ["stream", "group"],
        () => all().flatMap((s) => known(s.pending, { stream: s.stream, group: s.group })),
      );
      this.#registry.readGauge(
        "stream_lag",
        "Entries not yet delivered to the group, as last read (absent where the server does not say).",
        ["stream", "group"],
        () => all().flatMap((s) => known(s.lag, { stream: s.stream, group: s.group })),
      );
      this.#registry.readGauge(
        "stream_dead_letters",
        "Entries in the stream's dead-letter stream (<stream>:dead), as last read.",
        ["stream"],
        () => {
          const byStream = new Map(all().flatMap((s) => s.deadLetters === null ? [] : [[s.stream, s.deadLetters]]));
          return [...byStream].map(([stream, n]): Reading => [{ stream }, n]);
        },
      );
    }
    this.#streams.push(read);
  }

  /**
   * Reports the SSE clients connected at each scrape.
   *
   * @param read how many are connected now
   */
  watchSseClients(read: () => number): void {
    if (this.#sse) throw new Error("watchSseClients() was already called");
    this.#sse = true;
    this.#registry.readGauge("sse_clients", "Server-Sent Events clients connected now.", [], () => [[{}, read()]]);
  }
}

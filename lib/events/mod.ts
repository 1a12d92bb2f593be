/**
 * The event library in one import: envelopes, the lab's event kinds, a
 * publisher and a subscriber with bounded concurrency, statistics (printed
 * and published) and a graceful shutdown — and the same events durable on
 * streams: StreamPublisher and StreamConsumer (at least once, consumer groups,
 * claiming, dead letters), built on lib/streams.
 *
 * @example
 * ```ts ignore
 * import { Redis } from "ioredis";
 * import { EventPublisher, EventSubscriber } from "./mod.ts";
 *
 * const sub = new Redis("redis://localhost:6379"); // the subscriber gets a connection of its own
 * const pub = new Redis("redis://localhost:6379");
 * const subscriber = new EventSubscriber(sub, {
 *   topics: { orders: async (event) => console.log("order", event.id, event.total) },
 * });
 * await subscriber.start();
 * await new EventPublisher(pub, { source: "shop" }).publish("orders", { event_type: "order_placed", total: 42 });
 * ```
 *
 * @module
 */
export * from "./durable_demo.ts";
export * from "./durable_flags.ts";
export * from "./durable_processor.ts";
export * from "./envelope.ts";
export * from "./group_figures.ts";
export * from "./handler_runner.ts";
export * from "./kinds.ts";
export * from "./processing.ts";
export * from "./processor_flags.ts";
export * from "./processor_output.ts";
export * from "./processor_stats.ts";
export * from "./publisher.ts";
export * from "./pubsub_demo.ts";
export * from "./pubsub_processor.ts";
export * from "./read_lanes.ts";
export * from "./stats.ts";
export * from "./stream_consumer.ts";
export * from "./stream_publisher.ts";
export * from "./stream_stats.ts";
export * from "./subscriber.ts";
export * from "./unreadable_entries.ts";

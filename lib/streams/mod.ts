/**
 * The durable (at-least-once) event library on Redis Streams: appending the
 * event envelope per topic with retention, consumer groups with bounded
 * concurrency, acknowledgements, crash recovery by claiming, retries, dead
 * letters, replay from a position, and optional JSON Schemas per topic.
 *
 * @example
 * ```ts ignore
 * import { Redis } from "ioredis";
 * import { StreamConsumer, StreamPublisher } from "./mod.ts";
 *
 * const url = "redis://localhost:6379";
 * const [reader, commands] = [new Redis(url), new Redis(url)]; // the reader blocks: give it its own connection
 * const consumer = new StreamConsumer(reader, commands, {
 *   group: "billing",
 *   consumer: "billing-1",
 *   streams: { orders: async (event, { entryId }) => console.log("order", entryId, event.total) },
 * });
 * await consumer.start();
 * await new StreamPublisher(commands, { source: "shop" }).append("orders", { event_type: "order_placed", total: 42 });
 * ```
 *
 * @module
 */
export * from "./entry.ts";
export * from "./schema.ts";
export * from "./stream_publisher.ts";
export * from "./idempotent_append.ts";
export * from "./append_route.ts";
export * from "./groups.ts";
export * from "./stats.ts";
export * from "./consumer.ts";
export * from "./durable_processor.ts";
export * from "./durable_flags.ts";
export * from "./durable_demo.ts";
export * from "./reader.ts";
export * from "./dead_letters.ts";
export * from "./dead_letter_commands.ts";

/**
 * Plain pub/sub, labs 1 and 2: subscribing with one confirmation per channel, publishing in pipelined batches at a rate,
 * message templates, stdin read as lines, and lab 1's demo messages.
 *
 * @module
 */
export * from "./demo_messages.ts";
export * from "./message_template.ts";
export * from "./publish.ts";
export * from "./stdin_lines.ts";
export * from "./subscribe.ts";

/**
 * The six messages of lab 1's publisher demo.
 *
 * @module
 */
import type { Outgoing } from "./publish.ts";

/** The channels and pattern the lab's subscriber listens to by default. */
export const LAB_CHANNELS = ["system_notifications", "chat:general"] as const;
/** The pattern the lab's subscriber listens to by default. */
export const LAB_PATTERN = "alerts:*";

/**
 * The demo's six messages, in order: two to `system_notifications`, two to
 * `chat:general`, a JSON alert to `alerts:cpu_load`, one to `alerts:disk_space`.
 *
 * @param now the time to stamp the CPU alert with (epoch ms)
 * @returns the messages
 * @example
 * ```ts
 * import { demoMessages } from "./demo_messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(demoMessages().length, 6);
 * ```
 */
export function demoMessages(now: number = Date.now()): Outgoing[] {
  return [
    { channel: "system_notifications", payload: "ALERT: Disk usage is 90%!" },
    { channel: "chat:general", payload: "Hey team, project update at 3 PM!" },
    { channel: "system_notifications", payload: "INFO: Database backup completed." },
    {
      channel: "alerts:cpu_load",
      payload: JSON.stringify({ level: "WARN", value: "85%", timestamp: now / 1000 }),
    },
    { channel: "chat:general", payload: "Anyone free for a quick sync?" },
    { channel: "alerts:disk_space", payload: "CRITICAL: Service X storage is full!" },
  ];
}

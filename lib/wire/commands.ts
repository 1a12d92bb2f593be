/**
 * Any commands of text arguments encoded as RESP by hand, a whole batch into
 * one buffer (e.g. kv_updater's MSET chunks): none of the per-command objects
 * a client library makes, and, when every argument is ASCII (a stored update
 * always is), one call into the encoder for the whole batch.
 *
 * @module
 */
import { Buffer } from "node:buffer";

const encoder = new TextEncoder();

/**
 * Encodes commands (each its name and arguments, as text sent as UTF-8) as RESP, exactly as a client library would
 * send them, into one buffer.
 *
 * @param commands the commands, in order, e.g. `[["MSET", "k1", "v1", "k2", "v2"]]`
 * @returns the bytes to write
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeCommands } from "./commands.ts";
 * const bytes = encodeCommands([["MSET", "k", "é"]]);
 * assert.equal(new TextDecoder().decode(bytes), "*3\r\n$4\r\nMSET\r\n$1\r\nk\r\n$2\r\né\r\n");
 * ```
 */
export function encodeCommands(commands: readonly (readonly string[])[]): Uint8Array {
  // Lengths in UTF-16 units are lengths in bytes while every argument is ASCII: then the text is its own encoding.
  let text = "";
  for (const args of commands) {
    text += `*${args.length}\r\n`;
    for (const arg of args) text += `$${arg.length}\r\n${arg}\r\n`;
  }
  const bytes = encoder.encode(text);
  if (bytes.length === text.length) return bytes;
  // Some argument is not ASCII: each length counted in bytes.
  text = "";
  for (const args of commands) {
    text += `*${args.length}\r\n`;
    for (const arg of args) text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  }
  return encoder.encode(text);
}

/**
 * The dashboard's publish form, server side: `POST /publish` with
 * `{"channel": "…", "payload": "…"}` as JSON from the page itself (see
 * {@link ../web/post.ts} for what is refused), at most
 * {@linkcode MAX_PUBLISH_BYTES}, published on the dashboard's command
 * connection; the answer says how many subscribers received it.
 *
 * @module
 */
import { commandLostConnection } from "../core/client.ts";
import type { Logger } from "../core/log.ts";
import { unreadableReply } from "../core/server_faults.ts";
import { escapeControl } from "../core/output.ts";
import { HttpError, readJsonBody, refuseCrossSite } from "../web/post.ts";

/** The largest request body the form may send (channel, payload and JSON around them). */
export const MAX_PUBLISH_BYTES = 64 * 1024;
/** The longest channel name taken, in characters. */
export const MAX_CHANNEL_CHARS = 256;

/** What {@linkcode handlePublish} needs. */
export interface PublishContext {
  /** The command connection (not the subscriber), or a cluster client: what PUBLISH goes through. */
  redis: { readonly status: string; publish(channel: string, message: string): Promise<number> };
  /** Whether the page may publish (false with `--read-only`). */
  enabled: boolean;
  /** Where each publish is logged. */
  log: Logger;
  /** Whether the dashboard's own `*` subscriber is subscribed now (then it is one of the receivers). */
  samplerLive: () => boolean;
}

/** What the page gets back. */
export interface PublishAnswer {
  /** The channel, escaped. */
  channel: string;
  /** How many subscribers the server handed it to (PUBLISH's answer). */
  receivers: number;
  /** Whether one of them is the dashboard's own `*` subscriber. */
  sampler: boolean;
  /** The payload's size in bytes. */
  bytes: number;
}

/**
 * Answers `POST /publish`.
 *
 * @param request the request
 * @param context the connection and what is allowed
 * @returns 200 with a {@linkcode PublishAnswer}, or an error status with `{"error": …}`
 * @example
 * ```ts ignore
 * // in the dashboard's handler:
 * if (request.method === "POST" && pathname === "/publish") return handlePublish(request, context);
 * ```
 */
export async function handlePublish(request: Request, context: PublishContext): Promise<Response> {
  try {
    if (!context.enabled) {
      await request.body?.cancel();
      throw new HttpError(403, "publishing is off: the dashboard was started with --read-only");
    }
    refuseCrossSite(request);
    const body = await readJsonBody(request, MAX_PUBLISH_BYTES);
    const { channel, payload } = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof channel !== "string" || channel === "" || channel.length > MAX_CHANNEL_CHARS) {
      throw new HttpError(400, `"channel" must be a text of 1 to ${MAX_CHANNEL_CHARS} characters`);
    }
    if (typeof payload !== "string") throw new HttpError(400, `"payload" must be a text`);
    if (context.redis.status !== "ready") throw new HttpError(503, "not connected to the server: try again soon");
    const sampler = context.samplerLive();
    let receivers: number;
    try {
      receivers = await context.redis.publish(channel, payload);
    } catch (err) {
      if (commandLostConnection(err)) throw new HttpError(503, "the connection to the server was lost: try again soon");
      const unreadable = unreadableReply(err);
      if (unreadable) throw new HttpError(502, `${unreadable.what}: ${unreadable.fix}`);
      throw new HttpError(502, `the server refused: ${escapeControl((err as Error).message)}`);
    }
    const bytes = new TextEncoder().encode(payload).length;
    const shown = escapeControl(channel);
    context.log.info(`Published ${bytes} byte(s) on ${shown} from the page: ${receivers} receiver(s).`);
    const answer: PublishAnswer = { channel: shown, receivers, sampler: sampler && receivers > 0, bytes };
    return Response.json(answer, { headers: { "cache-control": "no-store" } });
  } catch (err) {
    if (err instanceof HttpError) return err.response();
    throw err;
  }
}

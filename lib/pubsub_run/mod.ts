/**
 * What publisher.ts and subscriber.ts run over an Endpoint (lib/endpoint), on one server or a cluster alike: the
 * publish route (plain, sharded, or kept in a history), the outage policy (wait for the server, or stop), the tally of
 * what was published and heard, and the subscriber's output and summary. Below it, lib/pubsub has the pub/sub parts
 * the Endpoint itself is built on.
 *
 * @module
 */
export * from "./outage_wait.ts";
export * from "./publish_route.ts";
export * from "./publish_run.ts";
export * from "./publish_tally.ts";
export * from "./subscriber_output.ts";
export * from "./subscriber_run.ts";

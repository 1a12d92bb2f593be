/**
 * Optional JSON Schema per topic, checked with ajv when an event is
 * appended and again when it is received; each problem names the failing
 * path (`/profile_data/active must be boolean`).
 *
 * @module
 */
import { Ajv, type ValidateFunction } from "ajv";
import { UsageError } from "../core/exit_codes.ts";

/**
 * Compiled JSON Schemas by topic (stream). A topic without one accepts any
 * valid envelope.
 *
 * @example
 * ```ts
 * import { TopicSchemas } from "./schema.ts";
 * import assert from "node:assert/strict";
 * const schemas = new TopicSchemas({
 *   orders: { type: "object", required: ["total"], properties: { total: { type: "number" } } },
 * });
 * assert.equal(schemas.problems("orders", { total: "42" })[0], "/total must be number");
 * assert.equal(schemas.problems("orders", { total: 42 }).length, 0);
 * assert.equal(schemas.problems("elsewhere", {}).length, 0);
 * ```
 */
export class TopicSchemas {
  readonly #validators = new Map<string, ValidateFunction>();

  /**
   * Compiles the schemas.
   *
   * @param schemas JSON Schema (draft-07 / 2019 subset ajv reads by default) by topic
   * @throws {Error} when a schema is not a valid JSON Schema
   */
  constructor(schemas: Record<string, unknown> = {}) {
    const ajv = new Ajv({ allErrors: true });
    for (const [topic, schema] of Object.entries(schemas)) {
      this.#validators.set(topic, ajv.compile(schema as object));
    }
  }

  /**
   * Reads `TOPIC=FILE` pairs (as `--schema` gives them) and compiles each file.
   *
   * @param pairs `topic=path/to/schema.json`
   * @returns the schemas
   * @throws {UsageError} when a pair is malformed, a file cannot be read, or it is not a JSON Schema
   */
  static async fromFiles(pairs: string[]): Promise<TopicSchemas> {
    const schemas: Record<string, unknown> = {};
    for (const pair of pairs) {
      const at = pair.indexOf("=");
      if (at <= 0 || at === pair.length - 1) {
        throw new UsageError(`--schema expects TOPIC=FILE such as key_submission=key.schema.json, got "${pair}"`);
      }
      const [topic, file] = [pair.slice(0, at), pair.slice(at + 1)];
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (err) {
        throw new UsageError(`Cannot read the schema file "${file}": ${(err as Error).message}`);
      }
      try {
        schemas[topic] = JSON.parse(text);
      } catch {
        throw new UsageError(`The schema file "${file}" is not JSON`);
      }
    }
    try {
      return new TopicSchemas(schemas);
    } catch (err) {
      throw new UsageError(`A schema given with --schema is not a valid JSON Schema: ${(err as Error).message}`);
    }
  }

  /** The topics that have a schema. */
  get topics(): string[] {
    return [...this.#validators.keys()];
  }

  /**
   * Checks an event against its topic's schema.
   *
   * @param topic the topic (stream)
   * @param event the decoded event
   * @returns one line per problem, each starting with the failing path; empty when it passes
   */
  problems(topic: string, event: unknown): string[] {
    const validate = this.#validators.get(topic);
    if (!validate || validate(event)) return [];
    return (validate.errors ?? []).map((e) => {
      const path = e.instancePath || "/";
      const extra = e.keyword === "additionalProperties"
        ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
        : "";
      return `${path} ${e.message ?? "is invalid"}${extra}`;
    });
  }
}

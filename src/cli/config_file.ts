/**
 * The `--config` file of `hefur serve`: TOML, every option of the {@link OPTIONS} table under its
 * long name, at the top level (`http-port = 6969`, `deny-from = ["10.0.0.0/8"]`,
 * `allow-proxy = true`). The command line overrides it, option by option (see `args.ts`).
 *
 * Reading it is strict, like the command line: an unknown key, a value of the wrong type or out of
 * range, or an option that cannot apply is an error that names the file and the line, never a
 * setting silently ignored.
 *
 * @module
 */
import { parse, TomlError } from "smol-toml";
import { OPTIONS, type OptionSpec } from "./options.ts";
import { explainSandbox } from "./sandbox_message.ts";
import { readFileSafelySync } from "../sandbox/safe_files.ts";

/** A value of the file, as the command line would have given it after parsing. */
export type ConfigValue = string | number | boolean | string[];

/** The options a `--config` file sets, by long name, and the line each was found on. */
export interface ConfigFile {
  /** The file, as given to `--config`. */
  readonly path: string;
  readonly values: ReadonlyMap<string, ConfigValue>;
  /** 1-based line of each key (0 when it could not be found, e.g. an inline table). */
  readonly lines: ReadonlyMap<string, number>;
}

/** A `--config` file that cannot be read or used; the message names the file and the line. */
export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

const SPECS = new Map(OPTIONS.map((o) => [o.name, o]));

/**
 * Line of `key = …` in `text`: the first line starting with the key, bare or quoted, followed by
 * `=`. 0 when none does (a key written in a way this simple scan does not follow).
 */
export function keyLine(text: string, key: string): number {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trimStart();
    for (const form of [key, `"${key}"`, `'${key}'`]) {
      if (line.startsWith(form) && /^\s*=/.test(line.slice(form.length))) return i + 1;
    }
  }
  return 0;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null || typeof value !== "object") {
    return `${typeof value} ${JSON.stringify(value)}`;
  }
  return "a table";
}

/** What is wrong with `value` for `spec`, checked as the command line checks it; or undefined. */
function problem(spec: OptionSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case "switch":
      return typeof value === "boolean"
        ? undefined
        : `must be true or false, not ${describe(value)}`;
    case "string":
      return typeof value === "string"
        ? undefined
        : `must be a string in quotes, not ${describe(value)}`;
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return `must be a whole number, not ${describe(value)}`;
      }
      if (
        (spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)
      ) {
        return `${value} is outside ${spec.min}–${spec.max}`;
      }
      return undefined;
    case "list":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
        ? undefined
        : `must be an array of strings (e.g. ["10.0.0.1", "10.0.0.0/8"]), not ${describe(value)}`;
  }
}

/**
 * Reads the options in `text`, the contents of the file `path`. Throws {@link ConfigFileError}
 * for a syntax error, an unknown key, a bad value, or an option that cannot apply.
 */
export function parseConfigText(text: string, path: string): ConfigFile {
  let table: Record<string, unknown>;
  try {
    table = parse(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
    throw new ConfigFileError(`${path}:${e.line}: ${reason} (not valid TOML)`);
  }
  const values = new Map<string, ConfigValue>();
  const lines = new Map<string, number>();
  for (const [key, value] of Object.entries(table)) {
    const line = keyLine(text, key);
    const at = `${path}:${line || "?"}: ${key}`;
    if (key === "config") {
      throw new ConfigFileError(`${at}: a configuration file cannot name another one`);
    }
    const spec = SPECS.get(key);
    if (spec === undefined) {
      const hint = value !== null && typeof value === "object" && !Array.isArray(value)
        ? " (options go at the top level, without [sections])"
        : " (keys are the long option names of 'hefur serve --help', without --)";
      throw new ConfigFileError(`${at}: unknown option${hint}`);
    }
    if (spec.unavailable !== undefined) {
      throw new ConfigFileError(`${at}: ${spec.unavailable}`);
    }
    const wrong = problem(spec, value);
    if (wrong !== undefined) throw new ConfigFileError(`${at}: ${wrong}`);
    values.set(
      key,
      Array.isArray(value)
        ? value.map((v: string) => v.trim()).filter((v: string) => v !== "")
        : value as ConfigValue,
    );
    lines.set(key, line);
  }
  return { path, values, lines };
}

/**
 * Largest configuration file read: far above any real one (every option with its comment is a few
 * KiB), and a bound on what `--config /dev/zero` or a wrong path could make Hefur read.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads and parses the file `path`; throws {@link ConfigFileError}, naming the file. */
export function readConfigFile(path: string): ConfigFile {
  let text;
  try {
    text = new TextDecoder().decode(readFileSafelySync(path, MAX_CONFIG_BYTES));
  } catch (e) {
    const reason = e instanceof Deno.errors.NotFound
      ? "no such file"
      : explainSandbox((e as Error).message);
    throw new ConfigFileError(`cannot read the configuration file ${path}: ${reason}`);
  }
  return parseConfigText(text, path);
}

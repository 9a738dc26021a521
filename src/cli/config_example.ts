/**
 * Renders the options table as deploy/hefur.toml, the example `--config` file: every option with
 * its default, commented out, under its help text. `deno run -A src/cli/config_example.ts --write`
 * rewrites the file; a test checks that it is current and that it parses to the defaults.
 *
 * @module
 */
import { OPTIONS, type OptionSpec } from "./options.ts";

/** The default of `spec` as a TOML value, or undefined when it has none (unset by default). */
function tomlDefault(spec: OptionSpec): string | undefined {
  switch (spec.type) {
    case "switch":
      return "false";
    case "list":
      return "[]";
    case "int":
      return spec.default === undefined ? undefined : String(spec.default);
    case "string":
      return spec.default === undefined ? undefined : JSON.stringify(spec.default);
  }
}

/** Splits `text` into comment lines of at most `width` characters. */
function comment(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "#";
  for (const word of text.split(" ")) {
    if (line.length + 1 + word.length > width && line !== "#") {
      lines.push(line);
      line = "#";
    }
    line += " " + word;
  }
  lines.push(line);
  return lines;
}

/** The text of deploy/hefur.toml. */
export function configExample(): string {
  const out = [
    "# Hefur's configuration file, for `hefur serve --config FILE`: every option of",
    "# `hefur serve --help` under its long name, with its default, commented out. Uncomment and",
    "# change what you need; an option given on the command line overrides this file. A relative",
    "# path here is relative to the directory of this file.",
    "# Generated from src/cli/options.ts by `deno run -A src/cli/config_example.ts --write`.",
  ];
  let group = "";
  for (const spec of OPTIONS) {
    // Options that cannot apply are refused in the file too; a file cannot name another.
    if (spec.unavailable !== undefined || spec.name === "config") continue;
    if (spec.group !== group) {
      group = spec.group;
      out.push("", `# ---- ${group} ----`);
    }
    const unit = spec.unit ? ` (${spec.unit})` : "";
    const value = tomlDefault(spec);
    out.push("", ...comment(spec.help + unit + (value === undefined ? "; unset by default" : "")));
    if (value !== undefined) out.push(`# ${spec.name} = ${value}`);
  }
  return out.join("\n") + "\n";
}

if (import.meta.main) {
  if (Deno.args.includes("--write")) {
    await Deno.writeTextFile(new URL("../../deploy/hefur.toml", import.meta.url), configExample());
  } else {
    Deno.stdout.writeSync(new TextEncoder().encode(configExample()));
  }
}

/**
 * Renders the options table as the Markdown list in docs/options.md, so the docs cannot drift from
 * the parser. `deno run -A src/cli/options_doc.ts --write` rewrites the part of
 * docs/options.md between `<!-- options:begin -->` and `<!-- options:end -->`; a test checks they agree.
 *
 * @module
 */
import { OPTIONS } from "./options.ts";

/**
 * The option list of docs/options.md, one table per help group. The "New" column marks the options
 * the original hefurd lacks (`isNew` in the table).
 */
export function optionsMarkdown(): string {
  const groups = [...new Set(OPTIONS.map((o) => o.group))];
  let md = "";
  for (const g of groups) {
    md += `\n**${g}**\n\n| Option | Default | New | Meaning |\n| --- | --- | --- | --- |\n`;
    for (const o of OPTIONS.filter((o) => o.group === g)) {
      const value = o.type === "switch" ? "" : o.type === "list" ? " LIST" : " VALUE";
      const def = o.type === "switch"
        ? "off"
        : o.default === undefined || o.default === ""
        ? "—"
        : String(o.default);
      const unit = o.unit ? ` ${o.unit}` : "";
      const help = o.help.replaceAll("|", "\\|") +
        (o.unavailable ? ` (refused: ${o.unavailable})` : "");
      md += `| \`--${o.name}${value}\` | ${def}${def === "—" || def === "off" ? "" : unit} | ${
        o.isNew ? "new" : ""
      } | ${help} |\n`;
    }
  }
  return md;
}

const BEGIN = "<!-- options:begin -->";
const END = "<!-- options:end -->";

/** The text of docs/options.md with its option list replaced by the current one. */
export function withOptions(readme: string): string {
  const a = readme.indexOf(BEGIN);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/options.md lacks the ${BEGIN} … ${END} markers`);
  return readme.slice(0, a + BEGIN.length) + "\n" + optionsMarkdown() + "\n" + readme.slice(b);
}

if (import.meta.main) {
  if (Deno.args.includes("--write")) {
    const path = new URL("../../docs/options.md", import.meta.url);
    await Deno.writeTextFile(path, withOptions(await Deno.readTextFile(path)));
  } else {
    console.log(optionsMarkdown());
  }
}

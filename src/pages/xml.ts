/**
 * XML built with a tagged template literal that escapes every interpolated value, for the Atom
 * feed and the SVG badges. Unlike HTML, XML 1.0 forbids most control characters even when
 * escaped, and a torrent name may hold any of them: those become U+FFFD, so the document always
 * parses.
 *
 * @module
 */

import { Fragment, markupTemplate, type MarkupValue } from "./markup.ts";

/** A fragment of XML that is already safe to emit. */
export class Xml extends Fragment {}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

/**
 * Characters XML 1.0 does not allow (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF) and
 * lone surrogates (a string cut in the middle of a pair).
 */
const NOT_XML =
  // deno-lint-ignore no-control-regex
  /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Escapes text for XML content and quoted attribute values; characters XML cannot hold become
 * U+FFFD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeXml } from "./xml.ts";
 * assert.equal(escapeXml(`<a b="c">\x01`), "&lt;a b=&quot;c&quot;&gt;\ufffd");
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(NOT_XML, "\ufffd").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A value that may appear inside {@link xml}: lists are joined, null/undefined/false vanish. */
export type XmlValue = MarkupValue<Xml>;

/**
 * Tagged template for XML: the literal parts are trusted, every `${value}` is escaped unless it is
 * an {@link Xml}. Arrays are joined; `null`, `undefined` and `false` print nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xml } from "./xml.ts";
 * assert.equal(xml`<title>${"a & b"}</title>`.text, "<title>a &amp; b</title>");
 * ```
 */
export const xml: (strings: TemplateStringsArray, ...values: XmlValue[]) => Xml = markupTemplate({
  Fragment: Xml,
  escape: escapeXml,
});

/**
 * HTML built with a tagged template literal that escapes every interpolated value, so text from
 * torrents, peers or request headers can never become markup (the original printed torrent names
 * raw: reference §16.4). Only values already wrapped as {@link Html} pass through unchanged.
 *
 * @module
 */

import {
  Fragment,
  type MarkupLanguage,
  markupTemplate,
  type MarkupValue,
  renderMarkup,
} from "./markup.ts";

/** A fragment of markup that is already safe to emit. */
export class Html extends Fragment {}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML content and quoted attribute values.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * escapeHtml(`<a href="x">`); // "&lt;a href=&quot;x&quot;&gt;"
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A value that may appear inside {@link html}: lists are joined, null/undefined/false vanish. */
export type HtmlValue = MarkupValue<Html>;

const HTML: MarkupLanguage<Html> = { Fragment: Html, escape: escapeHtml };

/**
 * Tagged template for markup: the literal parts are trusted, every `${value}` is escaped unless it
 * is an {@link Html}. Arrays of fragments are joined; `null`, `undefined` and `false` print nothing,
 * so `${cond && html`…`}` works as an "if".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { html } from "./html.ts";
 * const name = "<script>";
 * assert.equal(html`<b>${name}</b>`.text, "<b>&lt;script&gt;</b>");
 * assert.equal(html`<ul>${[1, 2].map((n) => html`<li>${n}</li>`)}</ul>`.text,
 *   "<ul><li>1</li><li>2</li></ul>");
 * ```
 */
export const html: (strings: TemplateStringsArray, ...values: HtmlValue[]) => Html = markupTemplate(
  HTML,
);

/** Thrown when a layout template uses a slot the page does not fill, or is not valid UTF-8. */
export class TemplateError extends Error {
  override name = "TemplateError";
  constructor(message: string, readonly slot?: string) {
    super(message);
  }
}

/**
 * A layout read from `www/tpl/`: text with `{{slot}}` markers that are filled with escaped values.
 * Parsed once when the assets are loaded; filling it is a join.
 */
export class Layout {
  readonly #parts: string[] = [];
  readonly #slots: string[] = [];

  /** Parses `text`; every marker must name one of `known` slots. */
  constructor(text: string, known: readonly string[]) {
    const re = /\{\{\s*([a-z_]+)\s*\}\}/g;
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (!known.includes(m[1])) {
        throw new TemplateError(`unknown slot {{${m[1]}}} (known: ${known.join(", ")})`, m[1]);
      }
      this.#parts.push(text.slice(last, m.index));
      this.#slots.push(m[1]);
      last = m.index + m[0].length;
    }
    this.#parts.push(text.slice(last));
  }

  /** The layout with each slot replaced by its value (escaped unless it is {@link Html}). */
  fill(values: Record<string, HtmlValue>): Html {
    let out = this.#parts[0];
    for (let i = 0; i < this.#slots.length; i++) {
      out += renderMarkup(HTML, values[this.#slots[i]]) + this.#parts[i + 1];
    }
    return new Html(out);
  }
}

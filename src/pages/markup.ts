/**
 * The machinery html.ts and xml.ts share: a tagged template literal whose
 * literal parts are trusted and whose every interpolated value is escaped for its language, unless
 * it is already a fragment of that same language. Each language keeps its own fragment class, so
 * an XML fragment dropped into HTML is escaped like any other text.
 *
 * @module
 */

/** Text already safe to emit in one markup language; each language subclasses it. */
export abstract class Fragment {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

/** A value a template of fragment type `F` takes: lists are joined, null/undefined/false vanish. */
export type MarkupValue<F> =
  | F
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly MarkupValue<F>[];

/** A markup language: the class of its safe fragments and how it escapes plain text. */
export interface MarkupLanguage<F extends Fragment> {
  readonly Fragment: new (text: string) => F;
  readonly escape: (text: string) => string;
}

/** The text of `value` in `lang`: its own fragments as they are, anything else escaped. */
export function renderMarkup<F extends Fragment>(
  lang: MarkupLanguage<F>,
  value: MarkupValue<F>,
): string {
  if (value instanceof lang.Fragment) return value.text;
  if (value === null || value === undefined || value === false) return "";
  if (Array.isArray(value)) return value.map((v) => renderMarkup(lang, v)).join("");
  return lang.escape(String(value));
}

/** The tagged template of `lang`: literal parts kept, each `${value}` rendered by renderMarkup. */
export function markupTemplate<F extends Fragment>(
  lang: MarkupLanguage<F>,
): (strings: TemplateStringsArray, ...values: MarkupValue<F>[]) => F {
  return (strings, ...values) => {
    let out = strings[0];
    for (let i = 0; i < values.length; i++) out += renderMarkup(lang, values[i]) + strings[i + 1];
    return new lang.Fragment(out);
  };
}

/**
 * The version of Hefur, from `deno.json`, and the commit it was built from (set by `build.ts`).
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The release version, e.g. `0.1.0`. */
export const VERSION: string = denoJson.version;

/** The text `hefur --version` prints. */
export function versionText(commit = Deno.env.get("HEFUR_BUILD_COMMIT") ?? "unknown"): string {
  return `hefur ${VERSION} (commit ${commit})\n` +
    "A BitTorrent tracker. Free software under the MIT licence, with no warranty.\n";
}

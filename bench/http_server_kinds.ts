/**
 * One HTTP tracker for the HTTP server comparison of `deno task bench` (bench/http_server_bench.ts):
 * the same core (an in-memory tracker) and the same routes (`addTrackerRoutes`) behind either
 * Hefur's own server on `Deno.listen` (`hefur`, with its default limits) or a minimal `Deno.serve`
 * (`deno-serve`), so that only the server differs. Prints `ready <port>` on stdout, then serves
 * until killed.
 *
 * Usage: `deno run -A bench/http_server_kinds.ts hefur|deno-serve`
 *
 * @module
 */
import { DEFAULT_HTTP_LIMITS, type HttpRequest, HttpServer } from "../src/net/http_server.ts";
import { addTrackerRoutes, Router } from "../src/net/http.ts";
import { Tracker } from "../src/tracker/tracker.ts";
import { Cidrs } from "../src/protocol/ip.ts";
import { socketIp } from "../src/protocol/ip.ts";

const kind = Deno.args[0];
const router = addTrackerRoutes(new Router(), new Tracker(), {
  allowProxy: false,
  maxScrapeTorrents: 74,
  allowFullScrape: false,
  scrapeInterval: 900,
  reverseProxyHeader: "x-real-ip",
  reverseProxyFrom: new Cidrs([]),
});

/** A `Deno.serve` request as the routes read it; headers are copied only if a route asks. */
class ServeRequest implements HttpRequest {
  readonly method: string;
  readonly target: string;
  readonly path: string;
  readonly query: string;
  readonly secure = false;
  #map: Map<string, string> | undefined;

  constructor(
    readonly request: Request,
    readonly remoteIp: string,
    readonly remotePort: number,
  ) {
    this.method = request.method;
    // The URL is absolute: the target starts at the first "/" after "http://".
    const url = request.url;
    this.target = url.slice(url.indexOf("/", 8));
    const q = this.target.indexOf("?");
    this.path = q < 0 ? this.target : this.target.slice(0, q);
    this.query = q < 0 ? "" : this.target.slice(q + 1);
  }

  get headers(): Map<string, string> {
    return this.#map ??= new Map(this.request.headers);
  }
}

if (kind === "hefur") {
  const server = new HttpServer(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    router.handle,
    DEFAULT_HTTP_LIMITS,
  );
  console.log(`ready ${server.addr.port}`);
} else if (kind === "deno-serve") {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`ready ${port}`),
  }, async (request, info) => {
    const remote = info.remoteAddr;
    const answer = router.handle(
      new ServeRequest(request, socketIp(remote.hostname), remote.port),
    );
    const res = answer instanceof Promise ? await answer : answer;
    // The announce body is a view of a buffer the next announce overwrites: copy it, as Hefur's
    // server does into its own write buffer.
    const body = typeof res.body === "string" ? res.body : res.body?.slice();
    return new Response(body, { status: res.status, headers: res.headers });
  });
} else {
  console.error("usage: http_server_kinds.ts hefur|deno-serve");
  Deno.exit(2);
}

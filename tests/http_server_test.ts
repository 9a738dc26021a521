// The HTTP server's reading of request heads: the headers it reads itself, heads split over reads
// or sent back to back, and requests with bodies.
import assert from "node:assert/strict";
import { type HttpRequest, HttpServer, requestHeader } from "../src/net/http_server.ts";

/** A server on a free loopback port whose handler answers what `answer` returns, kept open. */
function startServer(answer: (req: HttpRequest) => string): HttpServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return new HttpServer(listener, (req) => ({
    status: 200,
    headers: { "content-type": "text/plain" },
    body: answer(req),
    keepAlive: true,
  }));
}

/** Sends `chunks` one write each, then reads until the server closes; returns what it sent. */
async function exchange(server: HttpServer, chunks: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  conn.setNoDelay(true);
  const encoder = new TextEncoder();
  for (const chunk of chunks) {
    await conn.write(encoder.encode(chunk));
    // Let the server read this part on its own before the next one comes.
    if (chunks.length > 1) await new Promise((r) => setTimeout(r, 2));
  }
  const buf = new Uint8Array(4096);
  let text = "";
  for (let i = 0; i < 100; i++) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  conn.close();
  return text;
}

/** The bodies of the responses in `text` (each sized by its content-length). */
function bodies(text: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length && out.length < 10;) {
    const end = text.indexOf("\r\n\r\n", at);
    const length = Number(/content-length: (\d+)/.exec(text.slice(at, end))![1]);
    out.push(text.slice(end + 4, end + 4 + length));
    at = end + 4 + length;
  }
  return out;
}

Deno.test("the server's own headers are found whatever their case and the spacing of their values, first value kept", async () => {
  const server = startServer((req) =>
    JSON.stringify(
      ["upgrade", "connection", "x-other", "content-length", "transfer-encoding", ":version"].map(
        (name) => [requestHeader(req, name) ?? null, req.headers.get(name) ?? null],
      ),
    )
  );
  try {
    const text = await exchange(server, [
      "GET /h HTTP/1.0\r\nUPGRADE:  websocket \r\nX-Other: 1\r\nupgrade: second\r\n" +
      "Content-Length:0\r\n\r\n",
    ]);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.deepEqual(JSON.parse(bodies(text)[0]), [
      ["websocket", "websocket"],
      [null, null],
      ["1", "1"],
      ["0", "0"],
      [null, null],
      ["1.0", "1.0"],
    ]);
    // HTTP/1.0 without "Connection: keep-alive": closed after one response.
    assert.match(text, /connection: close\r\n/);
  } finally {
    await server.close();
  }
});

Deno.test("a head split over many reads, and heads sent back to back, are each read whole", async () => {
  const server = startServer((req) => `${req.path} ${requestHeader(req, "connection") ?? "-"}`);
  try {
    const one = "GET /split?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Cut inside the final CRLFCRLF and elsewhere, so that the end is found across reads.
    const split = await exchange(server, [
      one.slice(0, 5),
      one.slice(5, -3),
      one.slice(-3, -1),
      "\n",
    ]);
    assert.deepEqual(bodies(split), ["/split close"]);

    const pipelined = await exchange(server, [
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nConnection: Keep-Alive\r\n\r\n" +
      "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n",
    ]);
    assert.deepEqual(bodies(pipelined), ["/a -", "/b Keep-Alive", "/c close"]);
    assert.equal(pipelined.match(/connection: keep-alive\r\n/g)?.length, 2);
  } finally {
    await server.close();
  }
});

Deno.test("a request that announces a body is refused with 413 (400 when framed oddly); an empty one is answered", async () => {
  const server = startServer(() => "ok");
  try {
    for (
      const [header, status] of [
        ["Content-Length: 5", "413"],
        ["content-length:0", "200"],
        // White space before the colon must be refused (RFC 9112 §5.1), and Hefur takes no
        // transfer coding: both are framing a proxy could read differently.
        ["content-length : 0", "400"],
        ["Transfer-Encoding: chunked", "400"],
      ]
    ) {
      const text = await exchange(server, [
        `GET / HTTP/1.1\r\n${header}\r\nConnection: close\r\n\r\n`,
      ]);
      assert.equal(text.slice(9, 12), status, header);
    }
  } finally {
    await server.close();
  }
});

Deno.test("request lines are checked byte by byte: malformed ones get 400", async () => {
  const server = startServer((req) => `${req.method} ${req.target}`);
  try {
    for (
      const line of [
        "GET /x HTTP/1.1x",
        "GET /x HTTP/1.2",
        "GET /x HTTP/2.0",
        "GET /x  HTTP/1.1",
        "GET  /x HTTP/1.1",
        "get /x HTTP/1.1",
        "GET /x",
        "GET /x HTTP/1.1 ",
        "GET\t/x HTTP/1.1",
        "ABCDEFGHIJKLMNOPQ /x HTTP/1.1",
      ]
    ) {
      const text = await exchange(server, [`${line}\r\nHost: x\r\n\r\n`]);
      assert.equal(text.slice(9, 12), "400", JSON.stringify(line));
    }
    // Well formed: no header lines at all, another method, a target with bytes past ASCII.
    for (
      const [line, body] of [
        ["GET /x HTTP/1.0", "GET /x"],
        ["PURGE /x?a=%20 HTTP/1.1", "PURGE /x?a=%20"],
        ["GET /\xe9 HTTP/1.1", "GET /\xc3\xa9"],
      ]
    ) {
      const text = await exchange(server, [`${line}\r\nConnection: close\r\n\r\n`]);
      assert.equal(text.slice(9, 12), "200", JSON.stringify(line));
      assert.equal(bodies(text)[0], body);
    }
    const bare = await exchange(server, ["GET /y HTTP/1.0\r\n\r\n"]);
    assert.deepEqual(bodies(bare), ["GET /y"]);
  } finally {
    await server.close();
  }
});

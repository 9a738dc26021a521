/**
 * The floor under the UDP figures of `deno task bench` (bench/main.ts): a bare
 * `Deno.listenDatagram` echo loop, the fastest a Deno UDP server can answer on one core (one
 * receive and one send per datagram, nothing else). Prints `ready <port>` on stdout, then serves
 * until killed.
 *
 * Usage: `deno run -A bench/udp_echo.ts [--port P]`
 *
 * @module
 */
const port = Number(Deno.args[Deno.args.indexOf("--port") + 1] ?? 0) || 0;
const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
console.log(`ready ${(conn.addr as Deno.NetAddr).port}`);
const buf = new Uint8Array(4096);
for (;;) {
  const [data, from] = await conn.receive(buf);
  await conn.send(data, from);
}

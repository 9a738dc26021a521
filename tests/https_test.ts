import { strict as assert } from "node:assert/strict";
import { decode } from "../src/protocol/bencode.ts";
import { parseServeArgs, UsageError } from "../src/cli/args.ts";
import { startHefur } from "../src/app.ts";
import { TlsConfigError } from "../src/net/tls.ts";
import { freePort, pct as percentAll, testConfig } from "./helpers.ts";
import { hash20, startPageServer } from "./support/page_server.ts";
import { hasOpenssl, makeCertificates } from "./support/certificates.ts";

Deno.test({
  name: "announce, scrape and /stat over HTTPS",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur_tls_" });
    const certs = await makeCertificates(dir);
    const s = await startPageServer({ tls: certs });
    const client = Deno.createHttpClient({ caCerts: [certs.ca] });
    try {
      const ih = percentAll(hash20(0x61));
      const bytes = async (path: string) => {
        const res = await fetch(s.origin + path, { client });
        assert.equal(res.status, 200, path);
        return new Uint8Array(await res.arrayBuffer());
      };
      await bytes(`/announce?info_hash=${ih}&peer_id=-TT0001-000000000001&port=6881&left=0`);
      const reply = decode(
        await bytes(`/announce?info_hash=${ih}&peer_id=-TT0001-000000000002&port=6882&left=9`),
      ) as Map<string, unknown>;
      assert.equal(reply.get("complete"), 1);
      assert.equal(reply.get("incomplete"), 1);
      // The other peer, 127.0.0.1:6881, in compact form.
      assert.deepEqual([...(reply.get("peers") as Uint8Array)], [127, 0, 0, 1, 0x1a, 0xe1]);

      const scrape = decode(await bytes(`/scrape?info_hash=${ih}`)) as Map<string, unknown>;
      const files = scrape.get("files") as Map<string, Map<string, number>>;
      const counts = files.get(hash20(0x61))!;
      assert.equal(counts.get("complete"), 1);
      assert.equal(counts.get("incomplete"), 1);

      // The page gives the https URL (the original always says http).
      const stat = await fetch(s.origin + "/stat", { client });
      const text = await stat.text();
      assert.ok(text.includes(`<code>https://localhost:${s.port}/announce</code>`));
      assert.ok(!text.includes("http://localhost"));
    } finally {
      client.close();
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "hefur serve: HTTPS from --http-cert / --http-key; bad key material stops start-up",
  ignore: !hasOpenssl,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "hefur_tls_" });
    const certs = await makeCertificates(dir);
    try {
      const port = freePort();
      const base = ["--http-port", "0", "--udp-port", "0", "--bind-addr", "127.0.0.1"];
      // From the command line, as `hefur serve` reads it.
      const hefur = await startHefur(
        parseServeArgs([
          ...base,
          "--https-port",
          String(port),
          "--http-cert",
          certs.certPath,
          "--http-key",
          certs.keyPath,
        ]),
      );
      const client = Deno.createHttpClient({ caCerts: [certs.ca] });
      try {
        assert.equal(hefur.http, undefined);
        assert.equal(hefur.https?.addr.port, port);
        const res = await fetch(
          `https://localhost:${port}/announce?info_hash=${percentAll(hash20(1))}` +
            `&peer_id=-TT0001-000000000001&port=1&left=0`,
          { client },
        );
        assert.equal(res.status, 200);
        assert.ok((await res.text()).startsWith("d"));
      } finally {
        client.close();
        await hefur.close();
      }

      const start = (httpCert: string, httpKey: string) =>
        startHefur(testConfig({ httpsPort: freePort(), httpCert, httpKey }));
      const fails = (cert: string, key: string, path: string, re: RegExp) =>
        assert.rejects(
          start(cert, key),
          (e) => e instanceof TlsConfigError && e.path === path && re.test(e.message),
        );
      await fails(
        `${dir}/missing.pem`,
        certs.keyPath,
        `${dir}/missing.pem`,
        /cannot read the certificate/,
      );
      await fails(
        certs.certPath,
        `${dir}/missing.key`,
        `${dir}/missing.key`,
        /cannot read the private key/,
      );
      await fails(
        certs.keyPath,
        certs.keyPath,
        certs.keyPath,
        /does not contain a PEM certificate/,
      );
      await fails(
        certs.certPath,
        certs.certPath,
        certs.certPath,
        /does not contain a PEM private key/,
      );
      await fails(dir, certs.keyPath, dir, /not a regular file/);
      // A key that is PEM but garbage inside.
      await Deno.writeTextFile(
        `${dir}/bad.key`,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      );
      await fails(certs.certPath, `${dir}/bad.key`, certs.certPath, /cannot use/);
      // A valid key that is not the certificate's.
      await fails(certs.certPath, `${dir}/ca.key`, certs.certPath, /cannot use .*ca\.key/);

      for (const only of [["--http-cert", certs.certPath], ["--http-key", certs.keyPath]]) {
        assert.throws(
          () => parseServeArgs([...base, ...only]),
          (e) => e instanceof UsageError && /go together/.test(e.message),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

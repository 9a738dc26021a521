// Certificate reload: a renewed HTTPS certificate is used for new connections without a restart.
import { strict as assert } from "node:assert/strict";
import { join } from "node:path";
import { freePort, startTestHefur } from "./helpers.ts";
import { tempDir } from "./process_helpers.ts";
import {
  hasOpenssl,
  makeCertificates,
  makeRenewal,
  servedCertificate,
} from "./support/certificates.ts";

/** Writes `text` to `path` the way ACME clients do: a new file renamed over the old one. */
async function replace(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path + ".new", text);
  await Deno.rename(path + ".new", path);
}

/** An HTTPS-only Hefur serving `cert.pem` / `key.pem` from `dir`, and its CA-trusting client. */
async function httpsHefur(dir: string) {
  const first = await makeCertificates(dir);
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  await Deno.writeTextFile(certPath, first.cert);
  await Deno.writeTextFile(keyPath, first.key);
  const hefur = await startTestHefur({
    httpPort: 0,
    httpsPort: freePort(),
    httpCert: certPath,
    httpKey: keyPath,
  });
  const client = Deno.createHttpClient({ caCerts: [first.ca] });
  const port = hefur.https!.addr.port;
  return {
    hefur,
    first,
    certPath,
    keyPath,
    port,
    /** GETs /stat over a new connection; returns the status. */
    async get(): Promise<number> {
      const res = await fetch(`https://localhost:${port}/stat`, {
        client,
        headers: { connection: "close" },
      });
      await res.body?.cancel();
      return res.status;
    },
    async [Symbol.asyncDispose]() {
      client.close();
      await hefur.close();
    },
  };
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not in time: ${what}`);
}

Deno.test({
  name: "a renewed certificate is picked up by the watcher and used for new connections",
  ignore: !hasOpenssl,
  async fn() {
    await using tmp = await tempDir();
    await using s = await httpsHefur(tmp.path);
    assert.equal(await servedCertificate(s.port), s.first.cert.trim());
    assert.equal(await s.get(), 200);
    assert.ok(s.hefur.certs!.expiresAt! > Date.now());

    const renewed = await makeRenewal(tmp.path, "renewed");
    assert.notEqual(renewed.cert, s.first.cert);
    await replace(s.certPath, renewed.cert);
    await replace(s.keyPath, renewed.key);
    await eventually("the renewed certificate is served", async () => {
      return (await servedCertificate(s.port)) === renewed.cert.trim();
    });
    assert.equal(s.hefur.certs!.counters.reloads, 1);
    assert.equal(await s.get(), 200, "same port, trusted chain, served");
    assert.equal(s.hefur.https!.addr.port, s.port);
    const client = Deno.createHttpClient({ caCerts: [s.first.ca] });
    const metrics = await (await fetch(`https://localhost:${s.port}/metrics`, { client })).text();
    client.close();
    assert.match(metrics, /^hefur_tls_certificate_reloads_total\{result="ok"\} 1$/m);
    assert.match(metrics, /^hefur_tls_certificate_expiry_timestamp_seconds \d+/m);
  },
});

Deno.test({
  name: "a broken or mismatched new certificate keeps the old one; the fix is then picked up",
  ignore: !hasOpenssl,
  async fn() {
    await using tmp = await tempDir();
    await using s = await httpsHefur(tmp.path);
    const certs = s.hefur.certs!;

    await replace(s.certPath, "not a certificate\n");
    certs.check();
    assert.equal(certs.counters.failures, 1);
    assert.match(certs.lastError!, /cert\.pem does not contain a PEM certificate/);
    assert.equal(await servedCertificate(s.port), s.first.cert.trim());
    assert.equal(await s.get(), 200);

    // The ACME client has written the new certificate but not yet its key.
    const renewed = await makeRenewal(tmp.path, "renewed");
    await replace(s.certPath, renewed.cert);
    certs.check();
    assert.equal(certs.counters.failures, 2);
    assert.match(certs.lastError!, /cannot use .*cert\.pem with .*key\.pem/);
    assert.equal(await servedCertificate(s.port), s.first.cert.trim());

    // Checking again without a change does not retry (nor log again).
    certs.check();
    assert.equal(certs.counters.failures, 2);

    await replace(s.keyPath, renewed.key);
    certs.check();
    assert.equal(certs.counters.reloads, 1);
    assert.equal(certs.lastError, undefined);
    assert.equal(await servedCertificate(s.port), renewed.cert.trim());
    assert.equal(await s.get(), 200);
  },
});

Deno.test({
  name: "the HTTPS port is still exclusive: a second Hefur on it fails to start",
  ignore: !hasOpenssl,
  async fn() {
    await using tmp = await tempDir();
    await using s = await httpsHefur(tmp.path);
    await assert.rejects(
      startTestHefur({
        httpPort: 0,
        httpsPort: s.port,
        httpCert: s.certPath,
        httpKey: s.keyPath,
      }),
      Deno.errors.AddrInUse,
    );
  },
});

// Throw-away TLS certificates for tests, made with the openssl command.

/** Whether the openssl command is installed (the certificates are made with it). */
export const hasOpenssl: boolean = await (async () => {
  try {
    const { success } = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
})();

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null" })
    .output();
  if (!success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

/**
 * A throw-away CA and a certificate it signs for localhost / 127.0.0.1 (a self-signed leaf with
 * CA:TRUE is refused as a server certificate by rustls, so the test does what a real site does).
 */
export async function makeCertificates(dir: string) {
  await openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
  await openssl(
    dir,
    ..."req -x509 -new -key ca.key -days 2 -subj /CN=Hefur-test-CA -out ca.pem".split(" "),
  );
  await openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "leaf.key");
  await openssl(dir, ..."req -new -key leaf.key -subj /CN=localhost -out leaf.csr".split(" "));
  await Deno.writeTextFile(
    `${dir}/leaf.ext`,
    "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  await openssl(
    dir,
    ..."x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out leaf.pem"
      .split(" "),
  );
  return {
    ca: await Deno.readTextFile(`${dir}/ca.pem`),
    cert: await Deno.readTextFile(`${dir}/leaf.pem`),
    key: await Deno.readTextFile(`${dir}/leaf.key`),
    certPath: `${dir}/leaf.pem`,
    keyPath: `${dir}/leaf.key`,
  };
}

/**
 * Another certificate for localhost / 127.0.0.1 signed by the CA of {@link makeCertificates} in
 * `dir` (a renewal), with its own key: `<name>.pem` and `<name>.key`.
 */
export async function makeRenewal(dir: string, name: string) {
  await openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
  await openssl(
    dir,
    ..."req -new -subj /CN=localhost".split(" "),
    "-key",
    `${name}.key`,
    "-out",
    `${name}.csr`,
  );
  await openssl(
    dir,
    ..."x509 -req -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext".split(" "),
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.pem`,
  );
  return {
    cert: await Deno.readTextFile(`${dir}/${name}.pem`),
    key: await Deno.readTextFile(`${dir}/${name}.key`),
  };
}

/** The leaf certificate (PEM) a TLS server at 127.0.0.1:`port` presents, as openssl sees it. */
export async function servedCertificate(port: number): Promise<string> {
  const { stdout } = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const m = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(text);
  if (m === null) throw new Error(`no certificate from 127.0.0.1:${port}: ${text.slice(0, 200)}`);
  return m[0];
}

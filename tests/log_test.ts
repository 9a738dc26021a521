import assert from "node:assert/strict";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { join } from "node:path";
import {
  getLogger,
  type LogOptionValues,
  originsText,
  parseLogConfig,
  startLogging,
} from "../src/log/mod.ts";
import { parseLevel, parseLogFilter } from "../src/log/levels.ts";
import { hasTimeField, strftime } from "../src/log/strftime.ts";
import { compressFile, parseCompression } from "../src/log/compress.ts";
import { LogFile } from "../src/log/log_file.ts";
import { escapeControls, formatLine } from "../src/log/format.ts";

const defaults: LogOptionValues = {
  logLevel: "warning",
  logColor: false,
  logFile: "",
  logRotationInterval: 0,
  logCompression: "identity",
};

Deno.test("levels and filters parse, and reject unknown words", () => {
  assert.equal(parseLevel("CRITICAL"), "critical");
  assert.throws(() => parseLevel("verbose"), /unknown log level "verbose"/);
  assert.deepEqual(
    parseLogFilter("http:debug, -udp ,+whitelist,control,http:error"),
    new Map([["http", "error"], ["udp", "critical"], ["whitelist", "debug"], ["control", "info"]]),
  );
  assert.throws(() => parseLogFilter("+nope"), /unknown log origin "nope"/);
  assert.throws(() => parseLogFilter("http:loud"), /unknown log level "loud"/);
});

Deno.test("--log-origins lists every origin with its effective level", () => {
  const config = parseLogConfig({ ...defaults, logLevel: "error", logFilter: "+http,-udp" });
  assert.equal(
    originsText(config),
    " - hefur (error)\n - http (debug)\n - udp (critical)\n - whitelist (error)\n" +
      " - control (error)\n - audit (info)\n - store (error)\n",
  );
});

Deno.test("compression: xz is refused with a pointer to zstd, unknown names too", () => {
  assert.throws(() => parseCompression("xz"), /Deno cannot write xz.*zstd/);
  assert.throws(() => parseCompression("bzip2"), /unknown log compression/);
  assert.equal(parseCompression("Zstd"), "zstd");
  assert.throws(() => parseLogConfig({ ...defaults, logCompression: "xz" }), /xz/);
});

Deno.test("strftime expands the usual fields in local time and rejects unknown ones", () => {
  const d = new Date(2023, 0, 9, 7, 8, 9);
  assert.equal(strftime("%Y-%m-%d %H:%M:%S %j %%Y", d), "2023-01-09 07:08:09 009 %Y");
  assert.equal(strftime("%F_%T", d), "2023-01-09_07:08:09");
  assert.equal(strftime("%s", d), String(Math.floor(d.getTime() / 1000)));
  assert.throws(() => strftime("%Q", d), /unknown field %Q/);
  assert.throws(() => strftime("x%", d), /unknown field %/);
  assert.equal(hasTimeField("hefur.log"), false);
  assert.equal(hasTimeField("100%%.log"), false);
  assert.equal(hasTimeField("h-%H.log"), true);
});

Deno.test("a line has an ISO time, origin and level; values are escaped; colour wraps it", () => {
  const record = {
    category: ["http"],
    level: "fatal" as const,
    message: ["got ", "a\nfake 2024 line\x1b[31m", ""],
    rawMessage: "got {x}",
    timestamp: Date.UTC(2024, 0, 2, 3, 4, 5, 6),
    properties: { "hefur.critical": true },
  };
  const line = formatLine(record);
  assert.match(
    line,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.006[+-]\d\d:\d\d http: critical: got a\\nfake 2024 line\\x1b\[31m\n$/,
  );
  assert.equal(formatLine(record, true), `\x1b[1;31m${line}\x1b[0m`);
  assert.equal(escapeControls("a\tb\r\x7f"), "a\\tb\\r\\x7f");
});

Deno.test("startLogging: per-origin levels decide what reaches the log file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = parseLogConfig({
      ...defaults,
      logLevel: "warning",
      logFilter: "+http,udp:fatal",
      logFile: join(dir, "hefur-%Y.log"),
    });
    const logging = await startLogging(config);
    getLogger("hefur").info("hidden info");
    getLogger("hefur").warning("shown {what}", { what: "warning" });
    getLogger("http").debug("shown http debug");
    getLogger("udp").critical("hidden critical");
    getLogger("udp").fatal("shown fatal");
    assert.equal(getLogger("http").enabled("debug"), true);
    assert.equal(getLogger("hefur").enabled("info"), false);
    const path = logging.file!.path;
    await logging.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.replace(/^\S+ /, "")), [
      "hefur: warning: shown warning",
      "http: debug: shown http debug",
      "udp: fatal: shown fatal",
    ]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    // After close, loggers are silent again.
    getLogger("hefur").fatal("after close");
    assert.equal((await Deno.readTextFile(path)).includes("after close"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A LogFile on fake clocks, so rotation needs no waiting. */
function fakeClocks() {
  const t = { mono: 0, wall: new Date(2024, 4, 6, 10, 0, 0).getTime() };
  return {
    t,
    clock: () => t.mono,
    now: () => t.wall,
    advance(seconds: number) {
      t.mono += seconds * 1000;
      t.wall += seconds * 1000;
    },
  };
}

/**
 * Splits concatenated zstd frames (RFC 8878 §3.1.1). Deno's zstdDecompressSync stops after the
 * first frame, while the zstd tool reads them all; this decodes each frame on its own.
 */
function zstdDecompressAll(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    assert.equal(view.getUint32(0, true), 0xfd2fb528, "zstd frame magic");
    const fhd = bytes[at + 4];
    const singleSegment = (fhd >> 5) & 1;
    const fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fhd >> 6];
    const dictSize = [0, 1, 2, 4][fhd & 3];
    at += 5 + (singleSegment ? 0 : 1) + dictSize + fcsSize;
    for (let last = 0; last === 0;) {
      const header = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
      last = header & 1;
      const type = (header >> 1) & 3;
      at += 3 + (type === 1 ? 1 : header >> 3);
    }
    if ((fhd >> 2) & 1) at += 4; // content checksum
    out.push(...zstdDecompressSync(bytes.subarray(start, at)));
  }
  return new Uint8Array(out);
}

for (const compression of ["gzip", "zstd"] as const) {
  const decompress = compression === "gzip" ? gunzipSync : zstdDecompressAll;
  const suffix = compression === "gzip" ? ".gz" : ".zst";

  Deno.test(`rotation with ${compression}: each period gets its file, old ones readable`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const clocks = fakeClocks();
      const errors: string[] = [];
      const file = new LogFile({
        pattern: join(dir, "%H%M%S.log"),
        rotationInterval: 60,
        compression,
        clock: clocks.clock,
        now: clocks.now,
        onError: (m) => errors.push(m),
      });
      file.write("first period\n");
      clocks.advance(30);
      file.write("still first\n");
      clocks.advance(31);
      file.write("second period\n"); // rotates before writing
      await file.settled();
      assert.equal(file.path, join(dir, "100101.log"));
      const first = decompress(await Deno.readFile(join(dir, "100000.log" + suffix)));
      assert.equal(new TextDecoder().decode(first), "first period\nstill first\n");
      await assert.rejects(Deno.stat(join(dir, "100000.log")), Deno.errors.NotFound);
      await file.close(); // compresses the last file, like the original at exit
      const second = decompress(await Deno.readFile(join(dir, "100101.log" + suffix)));
      assert.equal(new TextDecoder().decode(second), "second period\n");
      assert.deepEqual(errors, []);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
        ["100000.log" + suffix, "100101.log" + suffix],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${compression}: a name without time fields rotates into one growing archive`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const clocks = fakeClocks();
      const file = new LogFile({
        pattern: join(dir, "hefur.log"),
        rotationInterval: 1,
        compression,
        clock: clocks.clock,
        now: clocks.now,
      });
      file.write("one\n");
      clocks.advance(1);
      file.write("two\n");
      file.rotate(); // release-logs
      file.write("three\n");
      file.flush();
      await file.settled();
      // The live file was moved aside before compression: it holds only the newest line.
      assert.equal(await Deno.readTextFile(join(dir, "hefur.log")), "three\n");
      await file.close();
      const all = new TextDecoder().decode(
        decompress(await Deno.readFile(join(dir, "hefur.log" + suffix))),
      );
      assert.equal(all, "one\ntwo\nthree\n");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["hefur.log" + suffix]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("identity: release only reopens, so an outside rotation gets a fresh file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = new LogFile({
      pattern: join(dir, "h.log"),
      rotationInterval: 0,
      compression: "identity",
    });
    file.write("before\n");
    file.flush();
    await Deno.rename(join(dir, "h.log"), join(dir, "h.log.1")); // logrotate
    file.rotate();
    file.write("after\n");
    await file.close();
    assert.equal(await Deno.readTextFile(join(dir, "h.log.1")), "before\n");
    assert.equal(await Deno.readTextFile(join(dir, "h.log")), "after\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compressFile leaves a missing file alone and keeps the source on failure", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(await compressFile(join(dir, "gone.log"), "gzip"), undefined);
    await Deno.writeTextFile(join(dir, "a.log"), "x\n");
    await assert.rejects(compressFile(join(dir, "a.log"), "zstd", join(dir, "no/such/dir.zst")));
    assert.equal(await Deno.readTextFile(join(dir, "a.log")), "x\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a log file that cannot be opened is an error at start", () => {
  assert.throws(
    () =>
      new LogFile({ pattern: "/proc/hefur/x.log", rotationInterval: 0, compression: "identity" }),
    /cannot open log file \/proc\/hefur\/x\.log/,
  );
});

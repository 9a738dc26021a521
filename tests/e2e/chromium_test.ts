/**
 * A real browser loads /stat and /peers: headless Chromium (Debian's `chromium`) driven over the
 * DevTools protocol. Checks that nothing is logged as an error (scripts, CSP, missing assets),
 * that the sorting script runs, and that the phone layout does not scroll sideways.
 */
import { strict as assert } from "node:assert/strict";
import { addPeer, hash20, startPageServer } from "../support/page_server.ts";
import { CHROMIUM, HEADLESS_FLAGS } from "../support/chromium.ts";

const hasChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** Everything waits at most this long. */
const TIMEOUT_MS = 30_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** A DevTools protocol connection: commands with replies, and events per session. */
class Cdp {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  #listeners: ((method: string, params: Json, sessionId?: string) => void)[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.#ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.#ws.onopen = () => resolve();
      this.#ws.onerror = () => reject(new Error("DevTools WebSocket failed"));
    });
    this.closed = new Promise((resolve) => (this.#ws.onclose = () => resolve()));
    this.#ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg.method, msg.params, msg.sessionId);
      }
    };
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    return withTimeout(
      new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject })),
      method,
    );
  }

  on(listener: (method: string, params: Json, sessionId?: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves on the next `method` event of `sessionId`. */
  next(method: string, sessionId: string): Promise<Json> {
    return withTimeout(
      new Promise((resolve) => {
        const l = (m: string, p: Json, s?: string) => {
          if (m === method && s === sessionId) {
            this.#listeners.splice(this.#listeners.indexOf(l), 1);
            resolve(p);
          }
        };
        this.#listeners.push(l);
      }),
      method,
    );
  }

  close(): Promise<void> {
    this.#ws.close();
    return this.closed;
  }
}

/** Starts Chromium with remote debugging on an ephemeral port; returns its DevTools URL. */
async function launch(userDataDir: string) {
  const child = new Deno.Command(CHROMIUM, {
    args: [
      ...HEADLESS_FLAGS,
      `--user-data-dir=${userDataDir}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Read stderr until the DevTools URL shows, then keep draining it (bounded) so Chromium never
  // blocks on a full pipe.
  let log = "";
  let found: (url: string) => void = () => {};
  const url = new Promise<string>((resolve) => (found = resolve));
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      if (log.length < 1 << 20) log += chunk;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
      if (m !== null) found(m[1]);
    }
  })();
  try {
    return { child, drained, url: await withTimeout(url, "Chromium start-up") };
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    await drained;
    throw new Error(`${(e as Error).message}\n${log}`);
  }
}

Deno.test({
  name: "Chromium loads /stat and /peers without console errors; sorting and phone layout work",
  ignore: !hasChromium,
  async fn() {
    const s = await startPageServer();
    const names = ["zeta.iso", `<img src=x onerror="alert(1)">`, "alpha.iso", "Mid é.iso"];
    names.forEach((name, i) => {
      const h = hash20(0x20 + i);
      s.tracker.addTorrent(h, { name, length: 1000 ** (i + 1), version: 1, fullHash: h });
      for (let p = 0; p <= i; p++) addPeer(s.tracker, h, `192.0.2.${p + 1}`, 6000 + p, p % 2);
    });
    addPeer(s.tracker, hash20(0x7f), "2001:db8::7", 6881, 3); // open mode, no name

    const dir = await Deno.makeTempDir({ prefix: "hefur_chromium_" });
    const browser = await launch(dir);
    const cdp = new Cdp(browser.url);
    try {
      await withTimeout(cdp.opened, "DevTools connection");
      const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
      const errors: string[] = [];
      cdp.on((method, p, sid) => {
        if (sid !== sessionId) return;
        if (method === "Runtime.exceptionThrown") {
          errors.push(
            `exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`,
          );
        } else if (method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(p.type)) {
          errors.push(
            `console.${p.type}: ${p.args.map((a: Json) => a.value ?? a.description).join(" ")}`,
          );
        } else if (method === "Log.entryAdded" && p.entry.level === "error") {
          errors.push(`${p.entry.source}: ${p.entry.text} ${p.entry.url ?? ""}`);
        }
      });
      const logged = (): string[] => errors; // read later, past assertions that narrow `errors`
      for (const domain of ["Page", "Runtime", "Log"]) {
        await cdp.send(`${domain}.enable`, {}, sessionId);
      }
      const evaluate = async (expression: string) => {
        const r = await cdp.send(
          "Runtime.evaluate",
          { expression, returnByValue: true },
          sessionId,
        );
        if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
        return r.result.value;
      };
      const load = async (path: string) => {
        const loaded = cdp.next("Page.loadEventFired", sessionId);
        const nav = await cdp.send("Page.navigate", { url: s.origin + path }, sessionId);
        assert.equal(nav.errorText, undefined, `${path}: ${nav.errorText}`);
        await loaded;
      };

      // The collector works: a deliberate console.error is seen (so the test can fail).
      await evaluate(`console.error("probe")`);
      await evaluate(`1`); // a round trip, so the event above has arrived
      assert.deepEqual(errors, ["console.error: probe"]);
      errors.length = 0;

      await load("/stat");
      assert.equal(await evaluate("document.title"), "Torrents · Hefur");
      // The hostile name is text, not an element.
      assert.equal(await evaluate(`document.querySelectorAll("td.name img").length`), 0);
      // The sorting script ran: by name on load, the nameless torrent last.
      const byName = await evaluate(
        `[...document.querySelectorAll("#torrents tbody td.name")].map((td) => td.textContent)`,
      );
      assert.deepEqual(byName, [
        `<img src=x onerror="alert(1)">`,
        "alpha.iso",
        "Mid é.iso",
        "zeta.iso",
        "—",
      ]);
      // Click "Size" twice: descending by bytes.
      await evaluate(`[...document.querySelectorAll("#torrents th button")]
        .find((b) => b.textContent === "Size").click()`);
      await evaluate(`[...document.querySelectorAll("#torrents th button")]
        .find((b) => b.textContent === "Size").click()`);
      const bySize = await evaluate(
        `[...document.querySelectorAll("#torrents tbody td.name")].map((td) => td.textContent)`,
      );
      assert.deepEqual(bySize.slice(0, 4), [
        "Mid é.iso",
        "alpha.iso",
        `<img src=x onerror="alert(1)">`,
        "zeta.iso",
      ]);
      // Stylesheet applied.
      assert.equal(
        await evaluate(`getComputedStyle(document.querySelector("header.top")).display`),
        "block",
      );

      await load(`/peers?info_hash=${"23".repeat(20)}`);
      assert.equal(await evaluate("document.title"), "Peers · Hefur");
      assert.equal(await evaluate(`document.querySelectorAll("#peers tbody tr").length`), 4);
      await load(`/peers?info_hash=${"7f".repeat(20)}`);
      assert.equal(await evaluate(`document.querySelectorAll("#peers tbody tr").length`), 1);

      // A phone: nothing wider than the screen.
      await cdp.send("Emulation.setDeviceMetricsOverride", {
        width: 390,
        height: 844,
        deviceScaleFactor: 2,
        mobile: true,
      }, sessionId);
      for (const path of ["/stat", `/peers?info_hash=${"23".repeat(20)}`]) {
        await load(path);
        const [scroll, inner] = await evaluate(
          `[document.documentElement.scrollWidth, window.innerWidth]`,
        );
        assert.ok(scroll <= inner, `${path}: ${scroll}px wide on a ${inner}px screen`);
      }

      assert.deepEqual(errors, []);

      // Negative control: a layout with a missing script and an inline one (refused by the CSP)
      // is reported.
      await Deno.mkdir(`${dir}/www/tpl`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/www/tpl/page.html`,
        `<!doctype html><title>{{title}}</title><script src="/js/missing.js"></script>` +
          `<script>document.title = "inline"</script>{{content}}`,
      );
      const broken = await startPageServer({ config: { wwwDir: `${dir}/www` } });
      try {
        const loaded = cdp.next("Page.loadEventFired", sessionId);
        await cdp.send("Page.navigate", { url: broken.origin + "/stat" }, sessionId);
        await loaded;
        await evaluate("1");
        const seen = logged().join("\n");
        assert.match(seen, /404/);
        assert.match(seen, /Content Security Policy/i);
        assert.equal(await evaluate("document.title"), "Torrents");
      } finally {
        await broken.close();
      }
      await cdp.send("Browser.close").catch(() => {});
    } finally {
      await cdp.close();
      const timer = setTimeout(() => browser.child.kill("SIGKILL"), 5000);
      await browser.child.status;
      clearTimeout(timer);
      await browser.drained;
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** A tab of a fresh headless Chromium: load a page, evaluate an expression in it. */
interface Tab {
  load(url: string): Promise<void>;
  evaluate(expression: string): Promise<Json>;
  /** Emulates a phone screen of `width` × `height` CSS pixels. */
  phone(width: number, height: number): Promise<void>;
}

/** Runs `fn` with a tab of a Chromium started for it, and stops that Chromium afterwards. */
async function withTab(fn: (tab: Tab) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hefur_chromium_" });
  const browser = await launch(dir);
  const cdp = new Cdp(browser.url);
  try {
    await withTimeout(cdp.opened, "DevTools connection");
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
    for (const domain of ["Page", "Runtime"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await fn({
      async load(url) {
        const loaded = cdp.next("Page.loadEventFired", sessionId);
        const nav = await cdp.send("Page.navigate", { url }, sessionId);
        assert.equal(nav.errorText, undefined, `${url}: ${nav.errorText}`);
        await loaded;
      },
      async evaluate(expression) {
        const r = await cdp.send(
          "Runtime.evaluate",
          { expression, returnByValue: true },
          sessionId,
        );
        if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
        return r.result.value;
      },
      async phone(width, height) {
        await cdp.send("Emulation.setDeviceMetricsOverride", {
          width,
          height,
          deviceScaleFactor: 2,
          mobile: true,
        }, sessionId);
      },
    });
    await cdp.send("Browser.close").catch(() => {});
  } finally {
    await cdp.close();
    const timer = setTimeout(() => browser.child.kill("SIGKILL"), 5000);
    await browser.child.status;
    clearTimeout(timer);
    await browser.drained;
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "Chromium on a phone: 1000 peers stay one line each; /stat sorts info hashes as text",
  ignore: !hasChromium,
  async fn() {
    const s = await startPageServer({ config: { maxPeers: 2000 } });
    try {
      const h = hash20(0x23);
      s.tracker.addTorrent(h, { name: "big swarm", length: 4160752058, version: 1, fullHash: h });
      for (let i = 0; i < 1000; i++) {
        addPeer(s.tracker, h, `10.${i >> 8}.${i & 255}.7`, 6000 + i, i % 3 === 0 ? 0 : 1e9 + i);
      }
      // Hashes whose digit runs sort differently as numbers ("9" < "10") and as text ("10" < "9f").
      for (const hex of ["9f", "10", "0a", "a0"]) {
        const k = String.fromCharCode(parseInt(hex, 16)).repeat(20);
        s.tracker.addTorrent(k, { name: `t${hex}`, length: 1, version: 1, fullHash: k });
      }
      await withTab(async (tab) => {
        await tab.phone(390, 844);
        await tab.load(`${s.origin}/peers?info_hash=${"23".repeat(20)}`);
        assert.equal(
          await tab.evaluate(`document.querySelectorAll("#peers tbody tr").length`),
          1000,
        );
        const [pageHeight, tallestRow, scroll, inner] = await tab.evaluate(`[
          document.documentElement.scrollHeight,
          Math.max(...[...document.querySelectorAll("#peers tbody tr")].map((r) => r.offsetHeight)),
          document.documentElement.scrollWidth,
          window.innerWidth,
        ]`);
        // As cards (one labelled line a cell) the page was about 246 000 px tall.
        assert.ok(pageHeight < 40_000, `/peers with 1000 peers is ${pageHeight} px tall`);
        assert.ok(tallestRow < 48, `a peer's row is ${tallestRow} px tall: not one line`);
        assert.ok(scroll <= inner, `/peers: ${scroll}px wide on a ${inner}px screen`);

        await tab.load(`${s.origin}/stat`);
        await tab.evaluate(`[...document.querySelectorAll("#torrents th button")]
          .find((b) => b.textContent === "Info hash").click()`);
        const byHash = await tab.evaluate(
          `[...document.querySelectorAll("#torrents tbody td.hash code")]
            .map((c) => c.textContent.slice(0, 2))`,
        );
        assert.deepEqual(byHash, ["0a", "10", "23", "9f", "a0"]);
        // Number columns still sort by value: seeders descending puts the big swarm first.
        const seeders = `[...document.querySelectorAll("#torrents th button")]
          .find((b) => b.textContent === "Seeders")`;
        await tab.evaluate(`${seeders}.click(); ${seeders}.click()`);
        assert.equal(
          await tab.evaluate(`document.querySelector("#torrents tbody td.name").textContent`),
          "big swarm",
        );
      });
    } finally {
      await s.close();
    }
  },
});

/**
 * A throw-away `redis-server` for tests: loopback only, a free port, no persistence, stopped at
 * the end. `kill()` and `start()` again on the same port simulate losing the store mid-test.
 */
import { freePort } from "../helpers.ts";

/** Where Debian's package puts the server. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** True when redis-server is installed; the Redis tests are ignored otherwise. */
export const hasRedis = await Deno.stat(REDIS_SERVER).then((s) => s.isFile).catch(() => false);

/** A running (or stopped) redis-server on 127.0.0.1. */
export class RedisServer {
  readonly port: number;
  readonly #password: string;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, password: string) {
    this.port = port;
    this.#password = password;
  }

  /** Starts a server on a free port; with `password`, clients must give it (`requirepass`). */
  static async start(password = ""): Promise<RedisServer> {
    const server = new RedisServer(freePort(), password);
    await server.start();
    return server;
  }

  /** The URL clients use (with the password in it, when there is one). */
  get url(): string {
    const auth = this.#password === "" ? "" : `:${encodeURIComponent(this.#password)}@`;
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server on its port; resolves once it answers. */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error("redis-server is already running");
    const args = [
      "--port",
      String(this.port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
      "--logfile",
      "",
    ];
    if (this.#password !== "") args.push("--requirepass", this.#password);
    this.#child = new Deno.Command(REDIS_SERVER, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    // Ready when the port accepts a connection (at most 5 s).
    for (let i = 0; i < 100; i++) {
      try {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
        c.close();
        return;
      } catch {
        await new Promise((ok) => setTimeout(ok, 50));
      }
    }
    await this.kill();
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** Kills the server at once (SIGKILL: no goodbye to clients) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }

  /** Stops the server (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }
}

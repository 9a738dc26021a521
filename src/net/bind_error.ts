/**
 * What an operator reads when a listener cannot bind. Deno says "Address already in use (os error
 * 98)" without saying which of Hefur's listeners, address or port; this names them and the option
 * that sets the port.
 *
 * @module
 */
import { formatHostPort } from "./host_port.ts";

/**
 * Opens a listener with `open`; when the system refuses, throws the same kind of error (e.g.
 * `Deno.errors.AddrInUse`, so callers can still tell them apart) with a message naming `protocol`
 * (e.g. "UDP", "HTTP"), the address and the `option` that chose it. Other errors pass unchanged.
 */
export function bindOrExplain<T>(
  protocol: string,
  option: string,
  hostname: string,
  port: number,
  open: () => T,
): T {
  try {
    return open();
  } catch (e) {
    const where = `cannot listen for ${protocol} on ${formatHostPort(hostname, port)}`;
    if (e instanceof Deno.errors.AddrInUse) {
      throw new Deno.errors.AddrInUse(
        `${where}: the address is already in use (another Hefur or another program holds it; ` +
          `stop it or choose another ${option})`,
        { cause: e },
      );
    }
    if (e instanceof Deno.errors.AddrNotAvailable) {
      throw new Deno.errors.AddrNotAvailable(
        `${where}: ${hostname} is not an address of this machine`,
        {
          cause: e,
        },
      );
    }
    if (e instanceof Deno.errors.PermissionDenied && port > 0 && port < 1024) {
      throw new Deno.errors.PermissionDenied(
        `${where}: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability`,
        { cause: e },
      );
    }
    throw e;
  }
}

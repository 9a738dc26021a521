// Headless Chromium for the browser end-to-end tests.

/** Where the distribution package installs Chromium; tests that need it skip when it is absent. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Flags every headless run shares: no sandbox (tests may run as root), no GPU, no QUIC, and none
 * of the background traffic (updates, sync) that would reach beyond loopback.
 */
export const HEADLESS_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

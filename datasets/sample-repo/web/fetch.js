// Fetches balances from the Go reporter and hands them to a callback.

const DEFAULT_URL = "http://127.0.0.1:8080/balances";

export const toBalances = (json) =>
  Object.entries(json).map(([sku, quantity]) => ({ sku, quantity }));

export async function loadBalances(url = DEFAULT_URL, fetchImpl = fetch) {
  const response = await fetchImpl(url);
  if (!response.ok) {
    throw new Error(`reporter answered ${response.status}`);
  }
  return toBalances(await response.json());
}

export class Poller {
  constructor(intervalMs, onBalances) {
    this.intervalMs = intervalMs;
    this.onBalances = onBalances;
    this.timer = null;
  }

  start() {
    const tick = async () => this.onBalances(await loadBalances());
    this.timer = setInterval(tick, this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
}

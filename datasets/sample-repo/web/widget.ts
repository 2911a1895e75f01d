// A stock badge for the intranet page: green, amber or red by quantity.

export interface Balance {
  sku: string;
  quantity: number;
}

export type Level = "ok" | "low" | "out";

export enum Threshold {
  Low = 10,
  Out = 0,
}

export function levelOf(balance: Balance): Level {
  if (balance.quantity <= Threshold.Out) return "out";
  if (balance.quantity <= Threshold.Low) return "low";
  return "ok";
}

export class BadgeRenderer {
  private readonly labels: Record<Level, string> = { ok: "in stock", low: "running low", out: "sold out" };

  constructor(private readonly document: Document) {}

  render(balance: Balance): HTMLElement {
    const badge = this.document.createElement("span");
    const level = levelOf(balance);
    badge.className = `badge badge-${level}`;
    badge.textContent = `${balance.sku}: ${this.labels[level]}`;
    return badge;
  }
}

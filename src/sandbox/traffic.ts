/**
 * Sends the scenario's webhooks at a steady rate (the simulated marketplace signs them) and now
 * and then makes the marketplace fail one API call, alternately 503 and 429 with Retry-After:
 * failures the service must absorb by retrying, never by losing or dead-lettering an event.
 * Counts what ingest answered.
 */
import type { InjectedFailure, WebhookAnswer } from './marketplace/index.js';
import type { Delivery, Scenario } from './scenario.js';

export interface TrafficCounters {
  sent: number;
  accepted: number;
  duplicates: number;
  ignored: number;
  /** Answered, but not with 200 (401, 429, 503…). */
  refused: number;
  /** Not answered at all (connection refused, reset). */
  unanswered: number;
  /** Marketplace API failures injected so far. */
  failuresInjected: number;
}

export interface TrafficOptions {
  scenario: Scenario;
  /** Signs and POSTs one webhook to ingest. */
  send(delivery: Delivery): Promise<WebhookAnswer>;
  /** Makes the marketplace fail its next API call. */
  injectFailure(failure: InjectedFailure): void;
  /** Webhooks per second. */
  rate: number;
  /** One injected failure per this many webhooks; 0 for none. Default 25. */
  failEvery?: number;
  /** Webhooks awaiting an answer before sending pauses. Default 32. */
  maxInFlight?: number;
  tickMs?: number;
}

export interface Traffic {
  counters(): Readonly<TrafficCounters>;
  /** Stops sending and waits for the webhooks in flight. Idempotent. */
  close(): Promise<void>;
}

const FAILURES: readonly InjectedFailure[] = [{ status: 503 }, { status: 429, retryAfter: 1 }];

export function startTraffic(options: TrafficOptions): Traffic {
  const { scenario, rate } = options;
  const failEvery = options.failEvery ?? 25;
  const maxInFlight = options.maxInFlight ?? 32;
  const counters: TrafficCounters = {
    sent: 0,
    accepted: 0,
    duplicates: 0,
    ignored: 0,
    refused: 0,
    unanswered: 0,
    failuresInjected: 0,
  };
  const inFlight = new Set<Promise<void>>();
  // One credit at start: the first webhook goes at once.
  let credit = 1;
  let last = Date.now();

  function record(answer: WebhookAnswer): void {
    if (answer.status !== 200) {
      counters.refused += 1;
      return;
    }
    let parsed: { duplicate?: unknown; ignored?: unknown } = {};
    try {
      parsed = JSON.parse(answer.body) as typeof parsed;
    } catch {
      // A 200 is an acceptance whatever its body says.
    }
    if (parsed.duplicate === true) counters.duplicates += 1;
    else if (parsed.ignored === true) counters.ignored += 1;
    else counters.accepted += 1;
  }

  function launch(): void {
    const delivery = scenario.next();
    counters.sent += 1;
    if (failEvery > 0 && counters.sent % failEvery === 0) {
      options.injectFailure(FAILURES[counters.failuresInjected % FAILURES.length]!);
      counters.failuresInjected += 1;
    }
    const sending: Promise<void> = options
      .send(delivery)
      .then(record, () => {
        counters.unanswered += 1;
      })
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  }

  function tick(): void {
    const now = Date.now();
    // Capped, so a slow ingest is not answered with a burst once it recovers.
    credit = Math.min(credit + ((now - last) / 1000) * rate, maxInFlight);
    last = now;
    while (credit >= 1 && inFlight.size < maxInFlight) {
      credit -= 1;
      launch();
    }
  }

  tick();
  const timer = setInterval(tick, options.tickMs ?? 100);
  let closing: Promise<void> | undefined;
  return {
    counters: () => ({ ...counters }),
    close() {
      clearInterval(timer);
      closing ??= Promise.all(inFlight).then(() => undefined);
      return closing;
    },
  };
}

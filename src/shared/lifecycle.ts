/**
 * Graceful shutdown for role processes (ingest, worker, reconcile).
 *
 * On the first SIGTERM/SIGINT the components are closed in the order given (e.g. the HTTP server
 * before the Redis client it writes to), the whole sequence bounded by `timeoutMs`; then the
 * process exits: 0 when everything closed, 1 when a close failed or the time ran out. A second
 * signal exits at once (an operator pressing Ctrl-C twice means it). Calling `shutdown()` more
 * than once returns the same promise.
 */
import type { Logger } from './logger.js';

export interface Closable {
  /** Shown in logs, e.g. "http" or "redis". */
  name: string;
  close(): Promise<void>;
}

/** The part of `process` this helper uses; tests pass an EventEmitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface GracefulShutdownOptions {
  components: readonly Closable[];
  timeoutMs: number;
  logger: Logger;
  signals?: readonly NodeJS.Signals[];
  source?: SignalSource;
  /** Defaults to process.exit; tests pass a recorder. */
  exit?: (code: number) => void;
}

export interface GracefulShutdown {
  /**
   * Closes everything once and exits; resolves with the exit code (just before exit is called).
   * `failed` (a component died) makes the exit code 1 even when everything closed cleanly, so a
   * supervisor with restart-on-failure restarts the process.
   */
  shutdown(reason: string, options?: { failed?: boolean }): Promise<number>;
  /** Resolves with the exit code once a shutdown has finished, however it was started. */
  readonly finished: Promise<number>;
  /** Removes the signal listeners (for tests and for callers that stop without exiting). */
  dispose(): void;
}

export const EXIT_CLEAN = 0;
export const EXIT_UNCLEAN = 1;

export function installGracefulShutdown(options: GracefulShutdownOptions): GracefulShutdown {
  const { components, timeoutMs, logger } = options;
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const source: SignalSource = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = logger.child({ component: 'lifecycle' });

  let running: Promise<number> | undefined;
  let resolveFinished: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    resolveFinished = resolve;
  });

  async function closeAll(): Promise<number> {
    let code = EXIT_CLEAN;
    for (const component of components) {
      try {
        await component.close();
        log.debug({ component: component.name }, 'closed');
      } catch (error) {
        code = EXIT_UNCLEAN;
        log.error({ err: error, closing: component.name }, 'close failed');
      }
    }
    return code;
  }

  function shutdown(reason: string, shutdownOptions: { failed?: boolean } = {}): Promise<number> {
    running ??= (async () => {
      log.info({ reason, timeoutMs }, 'shutting down');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<number>((resolve) => {
        timer = setTimeout(() => {
          log.error({ timeoutMs }, 'shutdown timed out; exiting anyway');
          resolve(EXIT_UNCLEAN);
        }, timeoutMs);
      });
      const closed = await Promise.race([closeAll(), timedOut]);
      const code = shutdownOptions.failed ? EXIT_UNCLEAN : closed;
      clearTimeout(timer);
      dispose();
      if (code === EXIT_CLEAN) log.info('shut down cleanly');
      resolveFinished(code);
      exit(code);
      return code;
    })();
    return running;
  }

  const onSignal = (signal: NodeJS.Signals) => {
    if (running) {
      log.warn({ signal }, 'second signal during shutdown; exiting now');
      dispose();
      exit(EXIT_UNCLEAN);
      return;
    }
    void shutdown(signal);
  };

  let disposed = false;
  function dispose(): void {
    if (disposed) return;
    disposed = true;
    for (const signal of signals) source.off(signal, onSignal);
  }

  for (const signal of signals) source.on(signal, onSignal);
  return { shutdown, finished, dispose };
}

#!/usr/bin/env node
/** Entry point of the `market-ingest` executable: wire real process I/O to the dispatcher. */
import { COMMANDS } from './cli/commands.js';
import { dispatch, EXIT_FAILURE } from './cli/dispatch.js';
import { messageOf } from './shared/errors.js';

// ./.env, when present, for every command (so `npm start` and `shops add` read the same
// settings); variables already set in the environment win over the file.
try {
  process.loadEnvFile('.env');
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
    process.stderr.write(`market-ingest: .env cannot be read: ${(error as Error).message}\n`);
    process.exit(EXIT_FAILURE);
  }
}

try {
  process.exitCode = await dispatch(COMMANDS, process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    // eslint-disable-next-line no-restricted-properties -- the one hand-off of the environment
    env: process.env,
    isTTY: process.stdout.isTTY === true,
  });
} catch (error) {
  // Commands report their own failures; anything reaching here is a bug: say so briefly.
  process.stderr.write(`market-ingest: ${messageOf(error)}\n`);
  process.exitCode = EXIT_FAILURE;
}

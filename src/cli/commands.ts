/**
 * Every command `market-ingest` knows, in the order `--help` lists them.
 * Each role contributes its own commands; this file only collects them.
 */
import { workerCommand } from '../consumer/command.js';
import { OPS_COMMANDS } from '../consumer/ops-commands.js';
import { ingestCommand } from '../ingest/command.js';
import { reconcileCommand, reconcileRunCommand } from '../reconcile/command.js';
import type { CommandSpec } from '../shared/command.js';
import { configCommand } from './config-command.js';
import { shopsConnectCommand } from './connect-command.js';
import { sandboxCommand } from './sandbox-command.js';
import { shopsAddCommand, shopsListCommand, shopsRemoveCommand } from './shops-command.js';
import { startCommand } from './start-command.js';
import { traceCommand } from './trace-command.js';
import { webhookSendCommand } from './webhook-command.js';

export const COMMANDS: readonly CommandSpec[] = [
  startCommand,
  ingestCommand,
  workerCommand,
  reconcileCommand,
  reconcileRunCommand,
  ...OPS_COMMANDS,
  shopsAddCommand,
  shopsListCommand,
  shopsRemoveCommand,
  shopsConnectCommand,
  traceCommand,
  configCommand,
  sandboxCommand,
  webhookSendCommand,
];

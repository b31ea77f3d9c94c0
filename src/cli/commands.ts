/**
 * Every command `market-ingest` knows, in the order `--help` lists them.
 * Each role contributes its own commands; this file only collects them.
 */
import { configCommand } from './config-command.js';
import type { CommandSpec } from './dispatch.js';

export const COMMANDS: readonly CommandSpec[] = [configCommand];

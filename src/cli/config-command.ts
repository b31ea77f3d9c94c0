import { redactUrl, VARIABLES, type VariableSpec } from '../shared/config.js';
import { EXIT_OK, type CommandSpec } from '../shared/command.js';

/** `market-ingest config`: validates the environment and shows what the service will use. */
export const configCommand: CommandSpec = {
  name: 'config',
  usage: '[--json]',
  summary: 'validate the environment and print the effective configuration (secrets hidden)',
  options: { json: { type: 'boolean' } },
  run({ config, io, flags }) {
    config(); // throws ConfigError (reported by the dispatcher, exit 1) when anything is invalid
    const effective: Record<string, string | null> = {};
    for (const spec of VARIABLES as readonly VariableSpec[]) {
      effective[spec.name] = describe(spec, io.env[spec.name]);
    }
    if (flags.json) {
      io.stdout(`${JSON.stringify(effective, null, 2)}\n`);
    } else {
      const width = Math.max(...Object.keys(effective).map((k) => k.length));
      io.stdout(
        Object.entries(effective)
          .map(([name, value]) => `${name.padEnd(width)}  ${value ?? '(unset)'}\n`)
          .join(''),
      );
    }
    return Promise.resolve(EXIT_OK);
  },
};

function describe(spec: VariableSpec, raw: string | undefined): string | null {
  const value = raw?.trim() ? raw : spec.default;
  if (value === undefined) return null;
  if (spec.secret) return '(set, hidden)';
  return spec.url ? redactUrl(value) : value;
}

/** The environment names Hostwork knows by name; any other name is allowed too. */
export const EnvironmentNames = {
  Development: 'Development',
  Test: 'Test',
  Staging: 'Staging',
  Production: 'Production',
} as const;

/**
 * The name of the environment the app runs in, which selects `hostwork.<Name>.json`.
 * `HOSTWORK_ENVIRONMENT` wins and is used as given; otherwise `NODE_ENV`, whose lower-case convention is
 * mapped to Hostwork's casing (`development` → `Development`, `staging` → `Staging`); otherwise `Production`,
 * as in .NET, so that a forgotten variable never turns on development behaviour in production.
 */
export function resolveEnvironmentName(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const explicit = env.HOSTWORK_ENVIRONMENT?.trim();
  if (explicit) return explicit;
  const nodeEnv = env.NODE_ENV?.trim();
  if (nodeEnv) {
    const known = Object.values(EnvironmentNames).find((n) => n.toLowerCase() === nodeEnv.toLowerCase());
    return known ?? nodeEnv[0]!.toUpperCase() + nodeEnv.slice(1);
  }
  return EnvironmentNames.Production;
}

/** True for the `Development` environment, ignoring case. */
export function isDevelopment(environmentName: string): boolean {
  return environmentName.toLowerCase() === 'development';
}

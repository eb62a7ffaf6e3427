import { createToken } from '../di/token.ts';

/** Facts about where the application runs. Injectable through {@link HostEnvironment}. */
export interface HostEnvironment {
  /** 'Development', 'Production', 'Test', or any other name given by HOSTWORK_ENVIRONMENT / NODE_ENV. */
  readonly name: string;
  /** The folder configuration files are read from (default: the working directory). */
  readonly contentRoot: string;
  /** Whether development defaults apply (pretty logs, debug level). */
  readonly isDevelopment: boolean;
}

/** The key of the {@link HostEnvironment}. */
export const HostEnvironment = createToken<HostEnvironment>('HostEnvironment');

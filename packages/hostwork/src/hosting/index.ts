export { ApplicationLifetime } from './application-lifetime.ts';
export { BackgroundService } from './background-service.ts';
export { ExitCodes } from './exit-codes.ts';
export { Host, type RunOptions } from './host.ts';
export { createHostBuilder, HostBuilder, type HostBuilderSettings } from './host-builder.ts';
export { HostEnvironment } from './host-environment.ts';
export { HostOptions, hostOptionDefaults } from './host-options.ts';
export { HostServiceCollection } from './host-services.ts';
export type { HostedLifecycleHooks, HostedService, HostedServiceWithHooks } from './hosted-service.ts';

export { Container, ServiceScope } from './container.ts';
export type {
  CheckInject,
  Factory,
  FactoryImplementation,
  Implementation,
  Injectable,
  Lifetime,
  ValueImplementation,
} from './registration.ts';
export { type Scope, ScopeFactory } from './scope.ts';
export { type BuildOptions, ServiceCollection } from './service-collection.ts';
export { ServiceProvider } from './service-provider.ts';
export { type Constructor, createToken, type ServiceKey, type ServiceOf, type Token } from './token.ts';

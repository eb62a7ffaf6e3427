import type {
  CheckInject,
  FactoryImplementation,
  Implementation,
  Injectable,
  ValueImplementation,
} from '../di/registration.ts';
import { ServiceCollection } from '../di/service-collection.ts';
import type { ServiceKey } from '../di/token.ts';
import type { HostedService } from './hosted-service.ts';

/**
 * The host's service collection: the DI registrations plus which of them are hosted services.
 * Hosted services are singletons and start in the order they were added.
 */
export class HostServiceCollection extends ServiceCollection {
  readonly #hosted: ServiceKey<HostedService>[] = [];

  /** Registers a hosted service (a singleton started and stopped by the host). */
  addHostedService<C extends Injectable<HostedService>>(cls: C & CheckInject<C>): this;
  addHostedService<T extends HostedService, C extends Injectable<T> = Injectable<T>>(
    key: ServiceKey<T>,
    impl: (C & CheckInject<C>) | FactoryImplementation<NoInfer<T>> | ValueImplementation<NoInfer<T>>,
  ): this;
  addHostedService(key: ServiceKey<HostedService>, impl?: Implementation<HostedService>): this {
    this.add('singleton', key, impl ?? (key as unknown as Injectable<HostedService>));
    if (!this.#hosted.includes(key)) this.#hosted.push(key);
    return this;
  }

  /** The hosted services' keys, in start order. */
  hostedServices(): readonly ServiceKey<HostedService>[] {
    return [...this.#hosted];
  }
}

/** The host's services as request handlers see them: the job client and the publisher, resolved when first used. */
import { JobClient, MessagePublisher, type ServiceProvider } from 'hostwork';

/** What a request handler gets from the host (`jobs(req)`, `request.hostwork`, `c.var.hostwork`). */
export interface HostworkContext {
  /** The host's root services, for anything else the host registered. */
  readonly services: ServiceProvider;
  /** The job client (`addJobs`); throws naming the missing registration when the host has no jobs. */
  readonly jobs: JobClient;
  /** The message publisher (`addMessaging`); throws naming the missing registration when the host has no messaging. */
  readonly publisher: MessagePublisher;
}

/** Wraps the host's services; each service is resolved on first use, so a host without messaging still serves jobs. */
export function hostworkContext(services: ServiceProvider): HostworkContext {
  return {
    services,
    get jobs() {
      return services.get(JobClient);
    },
    get publisher() {
      return services.get(MessagePublisher);
    },
  };
}

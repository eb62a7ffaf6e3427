/** A host run as systemd would run a Type=notify service with WatchdogSec: NOTIFY_SOCKET and WATCHDOG_USEC set. */
import { addSystemdNotify } from '../../src/health/systemd-notifier.ts';
import { createHostBuilder } from '../../src/hosting/host-builder.ts';

const builder = createHostBuilder({ env: {}, args: [], logging: { level: 'info', pretty: false } });
addSystemdNotify(builder);
await builder.build().run();

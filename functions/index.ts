/**
 * The Functions host's entry point (package.json `main`): registers every function of the list with
 * `@azure/functions`. The only module that calls `app`.
 */
import { app } from '@azure/functions';
import type { FunctionRegistration } from './registration';
import { functionRegistrations } from './registrations';

function register(registration: FunctionRegistration): void {
  switch (registration.kind) {
    case 'eventGrid':
      return app.eventGrid(registration.name, registration.options);
    case 'timer':
      return app.timer(registration.name, registration.options);
    case 'storageQueue':
      return app.storageQueue(registration.name, registration.options);
    case 'http':
      return app.http(registration.name, registration.options);
  }
}

// HTTP responses may be streams (`GET /api/usage` writes the fleet's rows as it reads them): Functions
// host 4.28+ (see README, Deployment).
app.setup({ enableHttpStream: true });
for (const registration of functionRegistrations()) register(registration);

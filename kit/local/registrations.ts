/**
 * The functions the local host serves: the app's own registration list (`functions/registrations.ts`),
 * the same objects `@azure/functions` gets in Azure, so the local host serves exactly what the Functions
 * host would, with the same handlers and options.
 */
import type { FunctionOutput } from '@azure/functions';
import type { ContextFactory, FunctionRegistration } from '../../functions/registration';
import { functionRegistrations } from '../../functions/registrations';

export type Registration = FunctionRegistration;
export type RegistrationKind = Registration['kind'];

/**
 * The app's functions, or those of them named (tests, benchmarks; an unknown name is an error), their
 * handlers on `contextOf` (default: the app settings of this process, as in Azure).
 */
export function appRegistrations(
  names?: readonly string[],
  contextOf?: ContextFactory,
): readonly Registration[] {
  const all = functionRegistrations(contextOf);
  if (names === undefined) return all;
  return names.map((name) => {
    const registration = all.find((r) => r.name === name);
    if (registration === undefined) throw new Error(`no function named ${JSON.stringify(name)}`);
    return registration;
  });
}

/** Output bindings of a registration that the local host writes (storage queues). */
export function queueOutputsOf(registration: Registration): (FunctionOutput & { queueName: string })[] {
  const outputs = registration.options.extraOutputs ?? [];
  return outputs.filter(
    (o): o is FunctionOutput & { queueName: string } =>
      o.type === 'queue' && typeof o['queueName'] === 'string',
  );
}

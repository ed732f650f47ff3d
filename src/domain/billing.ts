import { PowerState } from './power-state';

export const Billing = { billed: 'billed', notBilled: 'notBilled', unknown: 'unknown' } as const;
export type Billing = (typeof Billing)[keyof typeof Billing];

/**
 * Compute billing per power state, exactly as "States and billing status of Azure Virtual Machines"
 * tabulates it. Disks and networking keep charging in every state; this is about compute only.
 */
const billingByState: Readonly<Record<PowerState, Billing>> = {
  creating: Billing.notBilled,
  starting: Billing.billed,
  running: Billing.billed,
  stopping: Billing.billed,
  stopped: Billing.billed,
  deallocating: Billing.notBilled,
  deallocated: Billing.notBilled,
  hibernated: Billing.notBilled,
  deleted: Billing.notBilled,
  unknown: Billing.unknown,
};

export function billingOf(state: PowerState): Billing {
  return billingByState[state];
}

/**
 * Why a power change happened (a Resource Health annotation, an availability change, the availability
 * metric): the type every layer keeps on a change, apart from the health events that carry it.
 */

/** Where a change's reason came from. */
export const ReasonSource = {
  /** A Resource Health annotation (`ResourceAnnotated`). */
  resourceHealth: 'resourceHealth',
  /** A Resource Health availability change (`AvailabilityStatusChanged`). */
  availability: 'availability',
  /** The VM availability metric (`VmAvailabilityMetric`) read by the reconciler to narrow its window. */
  availabilityMetric: 'availabilityMetric',
} as const;
export type ReasonSource = (typeof ReasonSource)[keyof typeof ReasonSource];

/** Why a power change happened, as Resource Health told it; kept on the segment the change opened. */
export interface ChangeReason {
  source: ReasonSource;
  /** Annotation name (`VirtualMachineStoppedInternally`), or `Available` / `Unavailable` / … for availability. */
  name: string;
  /** When Resource Health says it happened (epoch ms, `occurredTime`). */
  at: number;
  summary?: string | undefined;
  /** `Customer Initiated`, `Platform Initiated`, `VM Initiated`, as written. */
  context?: string | undefined;
  /** `Planned`, `Unplanned`, `Not Applicable`, as written. */
  category?: string | undefined;
}

/** Power and provisioning states of an Azure VM, parsed from instance-view status codes. */

export const PowerState = {
  creating: 'creating',
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  deallocating: 'deallocating',
  deallocated: 'deallocated',
  hibernated: 'hibernated',
  deleted: 'deleted',
  unknown: 'unknown',
} as const;
export type PowerState = (typeof PowerState)[keyof typeof PowerState];

const powerStates: ReadonlySet<string> = new Set(Object.values(PowerState));
export function isPowerState(value: unknown): value is PowerState {
  return typeof value === 'string' && powerStates.has(value);
}

export const ProvisioningState = {
  creating: 'creating',
  updating: 'updating',
  succeeded: 'succeeded',
  failed: 'failed',
  deleting: 'deleting',
  migrating: 'migrating',
  canceled: 'canceled',
  unknown: 'unknown',
} as const;
export type ProvisioningState = (typeof ProvisioningState)[keyof typeof ProvisioningState];

/** `ProvisioningState/<state>[/<sub-state or error code>]`. */
export interface Provisioning {
  state: ProvisioningState;
  /** OS-provisioning sub-state (`osProvisioningInProgress`, `osProvisioningComplete`) as written. */
  subState?: string;
  /** Error code after `ProvisioningState/failed/`. */
  errorCode?: string;
}

export interface InstanceViewStatus {
  code?: string | undefined;
  level?: string | undefined;
  displayStatus?: string | undefined;
  time?: Date | string | undefined;
}

export interface ParsedInstanceView {
  powerState: PowerState;
  provisioning?: Provisioning;
  /** `HibernationState/Hibernated` was present. */
  hibernated: boolean;
}

/** Instance-view power codes (lower-cased, after `PowerState/`) to our states. */
const powerCodes: Readonly<Record<string, PowerState>> = {
  creating: PowerState.creating,
  starting: PowerState.starting,
  running: PowerState.running,
  stopping: PowerState.stopping,
  stopped: PowerState.stopped,
  deallocating: PowerState.deallocating,
  deallocated: PowerState.deallocated,
  hibernated: PowerState.hibernated,
};

const provisioningCodes: ReadonlySet<string> = new Set(Object.values(ProvisioningState));

function prefixed(code: string, prefix: string): string[] | undefined {
  if (code.length <= prefix.length || code.slice(0, prefix.length).toLowerCase() !== prefix) return undefined;
  return code.slice(prefix.length).split('/');
}

/** Parses one `PowerState/...` code; an unknown or malformed code is `unknown`. */
export function parsePowerCode(code: string | undefined): PowerState {
  if (code === undefined) return PowerState.unknown;
  const parts = prefixed(code.trim(), 'powerstate/');
  const head = parts?.[0]?.toLowerCase();
  return (head !== undefined && powerCodes[head]) || PowerState.unknown;
}

/** Parses one `ProvisioningState/...` code, keeping sub-states and error codes. */
export function parseProvisioningCode(code: string | undefined): Provisioning | undefined {
  if (code === undefined) return undefined;
  const parts = prefixed(code.trim(), 'provisioningstate/');
  if (parts === undefined) return undefined;
  const [head = '', ...rest] = parts;
  const lowered = head.toLowerCase();
  const state: ProvisioningState = provisioningCodes.has(lowered)
    ? (lowered as ProvisioningState)
    : ProvisioningState.unknown;
  const tail = rest.join('/');
  const result: Provisioning = { state };
  if (tail !== '') {
    if (state === ProvisioningState.failed) result.errorCode = tail;
    else result.subState = tail;
  }
  return result;
}

/**
 * Parses the `statuses` array of an instance view. Codes are matched by prefix, case-insensitively,
 * never by position. A missing power state is `unknown`; `PowerState/deallocated` together with
 * `HibernationState/Hibernated` is `hibernated`.
 */
export function parseInstanceView(
  statuses: readonly InstanceViewStatus[] | undefined | null,
): ParsedInstanceView {
  let powerState: PowerState = PowerState.unknown;
  let provisioning: Provisioning | undefined;
  let hibernated = false;
  for (const status of statuses ?? []) {
    const code = typeof status?.code === 'string' ? status.code : undefined;
    if (code === undefined) continue;
    const lowered = code.trim().toLowerCase();
    if (lowered.startsWith('powerstate/')) {
      const parsed = parsePowerCode(code);
      if (parsed !== PowerState.unknown) powerState = parsed;
    } else if (lowered.startsWith('provisioningstate/')) {
      provisioning = parseProvisioningCode(code);
    } else if (lowered === 'hibernationstate/hibernated') {
      hibernated = true;
    }
  }
  if (hibernated && powerState === PowerState.deallocated) powerState = PowerState.hibernated;
  const result: ParsedInstanceView = { powerState, hibernated };
  if (provisioning !== undefined) result.provisioning = provisioning;
  return result;
}

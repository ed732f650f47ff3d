/** Azure resource ids of VMs and scale-set instances, and the table keys derived from them. */

export const ResourceKind = {
  vm: 'vm',
  scaleSetInstance: 'scaleSetInstance',
  scaleSet: 'scaleSet',
} as const;
export type ResourceKind = (typeof ResourceKind)[keyof typeof ResourceKind];

export interface ComputeResource {
  kind: ResourceKind;
  /** The id as given (original casing, for display), normalised to start with `/` and without a trailing `/`. */
  resourceId: string;
  subscriptionId: string;
  resourceGroup: string;
  /** VM name, or scale-set name for scale sets and their instances. */
  name: string;
  /** Scale-set instance id, for `scaleSetInstance`. */
  instanceId?: string;
}

/** Longest resource id we accept; keys must stay under Table Storage's 1 KiB. */
export const maxResourceIdLength = 512;

// Resource group names: letters, digits, _ - . ( ) and Unicode letters; VM names: no control characters.
// We only check structure here; characters Table keys forbid are escaped by vmKey, not rejected.
const segmentsPattern =
  /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.compute\/(virtualmachines|virtualmachinescalesets)\/([^/]+)(?:\/virtualmachines\/([^/]+))?$/i;

/**
 * Parses the id of a VM, a uniform scale set or one of its instances. Returns undefined for anything
 * else (other providers, child resources such as extensions, malformed ids).
 */
export function parseComputeResourceId(id: string): ComputeResource | undefined {
  if (typeof id !== 'string') return undefined;
  let trimmed = id.trim();
  if (trimmed.length === 0 || trimmed.length > maxResourceIdLength) return undefined;
  if (!trimmed.startsWith('/')) trimmed = `/${trimmed}`;
  if (trimmed.endsWith('/')) trimmed = trimmed.slice(0, -1);
  const match = segmentsPattern.exec(trimmed);
  if (!match) return undefined;
  const [, subscriptionId = '', resourceGroup = '', type = '', name = '', instanceId] = match;
  const isScaleSet = type.toLowerCase() === 'virtualmachinescalesets';
  if (!isScaleSet && instanceId !== undefined) return undefined;
  const base = { resourceId: trimmed, subscriptionId, resourceGroup, name };
  if (!isScaleSet) return { kind: ResourceKind.vm, ...base };
  if (instanceId === undefined) return { kind: ResourceKind.scaleSet, ...base };
  return { kind: ResourceKind.scaleSetInstance, ...base, instanceId };
}

// Table keys may not contain / \ # ? or control characters (U+0000-U+001F, U+007F-U+009F).
// `/` becomes `|` (readable); `|`, `%` and every forbidden character become %XX (UTF-8 bytes).
const escapedInKey = /[%|\\#?\u0000-\u001f\u007f-\u009f]/gu;

function percentEncode(char: string): string {
  return Array.from(
    Buffer.from(char, 'utf8'),
    (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');
}

/**
 * The VM key: the lower-cased resource id without its leading `/`, with `/` written as `|` and the
 * characters Table keys forbid percent-encoded. Readable, reversible (to the lower-cased id) and safe as
 * a PartitionKey, e.g. `subscriptions|0000…|resourcegroups|rg-app|providers|microsoft.compute|virtualmachines|vm-1`.
 */
export function vmKey(resourceId: string): string {
  const lowered = resourceId.toLowerCase().replace(/^\/+/, '').replace(/\/+$/, '');
  return escapeKeyPart(lowered).replace(/\//g, '|');
}

/** Escapes `%`, `|` and the characters Table keys forbid (other than `/`) as %XX, keeping case. */
export function escapeKeyPart(value: string): string {
  return value.replace(escapedInKey, percentEncode);
}

/** Escapes a value for use inside a Table key, including `/`. Reversible with decodeURIComponent. */
export function escapeKeyValue(value: string): string {
  return escapeKeyPart(value).replace(/\//g, '%2F');
}

/** A VM key that does not decode (a bad `%` escape, or escaped bytes that are not UTF-8). */
export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError';
}

/** Inverse of `vmKey`: the lower-cased resource id with its leading `/`. Throws `InvalidKeyError`. */
export function resourceIdFromKey(key: string): string {
  const withSlashes = key.replace(/\|/g, '/');
  try {
    return `/${decodeURIComponent(withSlashes)}`;
  } catch (error) {
    if (error instanceof URIError) throw new InvalidKeyError('not a VM key: a % escape does not decode');
    throw error;
  }
}

/**
 * Longest PartitionKey or RowKey Table Storage stores: 1 KiB ("a string value up to 1,024 characters").
 * Checked on the escaped key: `%` becomes `%25` and U+0085 `%C2%85`, so a resource id well under
 * `maxResourceIdLength` may still not fit.
 */
export const maxTableKeyLength = 1024;

/** What an observation RowKey puts before the escaped event id, at its longest: `o|<13 digits>|instanceView|`. */
const observationRowKeyOverhead = 'o|'.length + 13 + '|instanceView|'.length;

/**
 * Why the Table keys of a VM (and of an event about it) cannot be stored, or undefined when they can: a
 * lone UTF-16 surrogate (no UTF-8 form; in Azurite it breaks every later transaction), or a key over
 * `maxTableKeyLength` once escaped. A permanent property of the input: reject, never retry.
 */
export function keyProblemOf(resourceId: string, eventId?: string): string | undefined {
  if (!resourceId.isWellFormed()) return 'resource id is not well-formed UTF-16 (lone surrogate)';
  if (vmKey(resourceId).length > maxTableKeyLength)
    return `resource id longer than a table key allows once escaped (${maxTableKeyLength} characters)`;
  if (eventId === undefined) return undefined;
  if (!eventId.isWellFormed()) return 'event id is not well-formed UTF-16 (lone surrogate)';
  if (observationRowKeyOverhead + escapeKeyValue(eventId).length > maxTableKeyLength)
    return `event id longer than a table key allows once escaped (${maxTableKeyLength} characters)`;
  return undefined;
}

/** Splits a VM key into the VmCurrent keys: PartitionKey = subscription id, RowKey = the rest. */
export function currentKeys(key: string): { partitionKey: string; rowKey: string } {
  const match = /^subscriptions\|([^|]+)\|(.+)$/.exec(key);
  if (!match || match[1] === undefined || match[2] === undefined) {
    throw new RangeError(`not a subscription-scoped VM key: ${key}`);
  }
  return { partitionKey: match[1], rowKey: match[2] };
}

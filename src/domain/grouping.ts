/** How usage rows are grouped: by VM, subscription, resource group, size, location or one tag. */
import type { VmAttributes } from './daily-usage';
import { parseComputeResourceId } from './resource-id';

export const GroupKind = {
  vm: 'vm',
  subscription: 'subscription',
  resourceGroup: 'resourceGroup',
  vmSize: 'vmSize',
  location: 'location',
  tag: 'tag',
} as const;
export type GroupKind = (typeof GroupKind)[keyof typeof GroupKind];

export interface GroupBy {
  kind: GroupKind;
  /** Tag name, for `tag:<name>` (matched case-insensitively, as Azure tag names are). */
  tag?: string;
}

export const groupByValues = 'vm|subscription|resourceGroup|vmSize|location|tag:<name>';

/** Parses `vm`, `subscription`, `resourceGroup`, `vmSize`, `location` or `tag:<name>`; undefined otherwise. */
export function parseGroupBy(text: string): GroupBy | undefined {
  const trimmed = text.trim();
  const tag = /^tag:(.+)$/i.exec(trimmed);
  if (tag?.[1] !== undefined && tag[1].trim() !== '') return { kind: GroupKind.tag, tag: tag[1].trim() };
  const kind = (Object.values(GroupKind) as string[]).find(
    (k) => k !== GroupKind.tag && k.toLowerCase() === trimmed.toLowerCase(),
  );
  return kind === undefined ? undefined : { kind: kind as GroupKind };
}

/**
 * The group a VM's usage belongs to, given the details that held then; null when the VM has no value
 * (no such tag, size not yet listed). For `vm`, the resource id.
 */
export function groupKeyOf(
  groupBy: GroupBy,
  resourceId: string,
  details: VmAttributes | undefined,
): string | null {
  switch (groupBy.kind) {
    case GroupKind.vm:
      return resourceId;
    case GroupKind.subscription:
      return parseComputeResourceId(resourceId)?.subscriptionId.toLowerCase() ?? null;
    case GroupKind.resourceGroup:
      return parseComputeResourceId(resourceId)?.resourceGroup.toLowerCase() ?? null;
    case GroupKind.vmSize:
      return details?.vmSize ?? null;
    case GroupKind.location:
      return details?.location?.toLowerCase() ?? null;
    case GroupKind.tag: {
      const name = (groupBy.tag ?? '').toLowerCase();
      const entry = Object.entries(details?.tags ?? {}).find(([k]) => k.toLowerCase() === name);
      return entry?.[1] ?? null;
    }
  }
}

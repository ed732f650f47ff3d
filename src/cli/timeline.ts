/** `vm-timeline timeline <resourceId>`: one VM's billed / not-billed segments. */
import { InputError } from '../app/errors';
import {
  getTimelineView,
  NotFoundError,
  parseInstant,
  type SegmentView,
  type TimelineView,
} from '../app/queries';
import { parseComputeResourceId, ResourceKind } from '../domain/resource-id';
import { isTableMissing } from '../adapters/storage';
import { ExitCode, stringOption, type Command } from './command';
import { hours, json, table } from './format';

/** Billed seconds of the listed segments inside `[from, to)`; an open segment counts up to `now`. */
export function billedSeconds(
  segments: readonly SegmentView[],
  now: number,
  from = -Infinity,
  to = Infinity,
): number {
  let ms = 0;
  for (const s of segments) {
    if (s.billing !== 'billed') continue;
    const start = Math.max(Date.parse(s.start), from);
    const end = Math.min(s.end === null ? now : Date.parse(s.end), to, now);
    if (end > start) ms += end - start;
  }
  return ms / 1000;
}

export const timelineCommand: Command = {
  name: 'timeline',
  synopsis: '<resourceId>',
  summary: "one VM's power-state segments (billed / not billed)",
  description: [
    'Prints the power-state segments of one VM or scale-set instance (by resource id, any casing):',
    'start, end (or "open"), state, billing, source, caller and why (who or what made the change, e.g.',
    'a guest shutdown from its Resource Health annotation), and the billed hours of the listed',
    'segments (an open segment counts up to now, or --to). With --from / --to, only the segments',
    'overlapping that range. Exit code 1 when nothing is recorded for the VM.',
    '',
    'Example: vm-timeline timeline /subscriptions/<sub>/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/web-01 --from 2026-11-01 --to 2026-11-02',
  ].join('\n'),
  options: {
    from: {
      type: 'string',
      value: '<ISO>',
      description: 'only segments ending after this instant (ISO 8601, UTC unless an offset is given)',
    },
    to: { type: 'string', value: '<ISO>', description: 'only segments starting before this instant' },
  },
  arguments: ['<resourceId>'],
  async run(invocation) {
    const resourceId = invocation.args[0] ?? '';
    const resource = parseComputeResourceId(resourceId);
    if (resource === undefined || resource.kind === ResourceKind.scaleSet) {
      throw new InputError('<resourceId> must be the resource id of a VM or of a scale-set instance');
    }
    const from = parseInstant(stringOption(invocation.options, 'from'), '--from');
    const to = parseInstant(stringOption(invocation.options, 'to'), '--to');
    const ctx = invocation.context();
    let view: TimelineView;
    try {
      view = await getTimelineView(ctx.store, resourceId, { from, to });
    } catch (error) {
      // No tables under this prefix yet: nothing was ever recorded.
      if (isTableMissing(error)) throw new NotFoundError(`no timeline recorded for ${resourceId}`);
      throw error;
    }
    if (invocation.json) {
      invocation.print(json(view));
      return ExitCode.ok;
    }
    invocation.print(view.resourceId);
    const rows = view.segments.map((s) => [
      s.start,
      s.end ?? 'open',
      s.state,
      s.billing,
      s.source,
      s.caller ?? '',
      s.why ?? '',
    ]);
    for (const line of table([['START', 'END', 'STATE', 'BILLING', 'SOURCE', 'CALLER', 'WHY'], ...rows]))
      invocation.print(line);
    invocation.print(`billed hours: ${hours(billedSeconds(view.segments, Date.now(), from, to))}`);
    return ExitCode.ok;
  },
};

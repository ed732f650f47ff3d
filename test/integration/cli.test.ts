import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { uniquePrefix } from '../support/app';
import { tableConnectionString } from '../support/azurite';
import {
  cloudEvent,
  eventGridEvent,
  scaleSetResourceId,
  subscriptionId,
  vmEvent,
  vmResourceId,
  type EventSpec,
} from '../support/events';
import { runCli } from '../support/cli';

const day = '2025-03-10';
const next = '2025-03-11';
const at = (time: string, date = day) => `${date}T${time}:00.000Z`;
const h = 3600;

const vmA = vmResourceId('vm-a');
const vmB = vmResourceId('vm-b');
const vmC = vmResourceId('vm-c');
const vmW = vmResourceId('vm-w');
const instance = `${scaleSetResourceId('vmss-api')}/virtualMachines/0`;

function spec(
  resourceUri: string,
  operation: string,
  type: string,
  time: string,
  id: string,
  url?: string,
): EventSpec {
  return {
    id,
    resourceUri,
    operationName: `Microsoft.Compute/${operation}`,
    type,
    time,
    ...(url === undefined ? {} : { url }),
  };
}

/** Every operation of the design's table, in both schemas, plus a duplicate, a skipped and a malformed event. */
function fixtureEvents(): Record<string, unknown>[] {
  const powerOffA = vmEvent('vm-a', 'powerOff', at('12:00'), 'a-2');
  const malformed = vmEvent('vm-a', 'powerOff', at('21:00'), 'a-bad');
  delete malformed['eventTime'];
  return [
    // vm-a: start, powerOff, start (CloudEvents), restart (no change), deallocate (CloudEvents).
    vmEvent('vm-a', 'start', at('08:00'), 'a-1'),
    powerOffA,
    vmEvent('vm-a', 'start', at('13:00'), 'a-3', 'cloudEvents'),
    vmEvent('vm-a', 'restart', at('15:00'), 'a-4'),
    vmEvent('vm-a', 'deallocate', at('18:00'), 'a-5', 'cloudEvents'),
    powerOffA, // delivered twice
    malformed,
    // vm-b (CloudEvents): start, deallocate with hibernate=true, then delete (Event Grid) the next day.
    vmEvent('vm-b', 'start', at('09:00'), 'b-1', 'cloudEvents'),
    cloudEvent(
      spec(
        vmB,
        'virtualMachines/deallocate/action',
        'ResourceActionSuccess',
        at('17:00'),
        'b-2',
        `https://management.azure.com${vmB}/deallocate?hibernate=true&api-version=2024-07-01`,
      ),
    ),
    vmEvent('vm-b', 'delete', at('10:00', next), 'b-3'),
    // vm-c: the deallocate arrives first; a failed powerOff and a cancelled deallocate change nothing.
    vmEvent('vm-c', 'deallocate', at('14:00'), 'c-4'),
    vmEvent('vm-c', 'start', at('10:00'), 'c-1'),
    eventGridEvent(spec(vmC, 'virtualMachines/powerOff/action', 'ResourceActionFailure', at('11:00'), 'c-2')),
    cloudEvent(spec(vmC, 'virtualMachines/deallocate/action', 'ResourceActionCancel', at('12:00'), 'c-3')),
    // vm-w: a write's outcome is read from ARM (the emulator says running).
    vmEvent('vm-w', 'deallocate', at('07:00'), 'w-1'),
    cloudEvent(spec(vmW, 'virtualMachines/write', 'ResourceWriteSuccess', at('20:00'), 'w-2')),
    // A scale-set instance: start (CloudEvents), powerOff (Event Grid).
    cloudEvent(
      spec(
        instance,
        'virtualMachineScaleSets/virtualMachines/start/action',
        'ResourceActionSuccess',
        at('06:00'),
        's-1',
      ),
    ),
    eventGridEvent(
      spec(
        instance,
        'virtualMachineScaleSets/virtualMachines/powerOff/action',
        'ResourceActionSuccess',
        at('22:00'),
        's-2',
      ),
    ),
    // Not a VM: skipped.
    eventGridEvent({
      id: 'st-1',
      resourceUri: `/subscriptions/${subscriptionId}/resourceGroups/rg-app/providers/Microsoft.Storage/storageAccounts/stdata`,
      operationName: 'Microsoft.Storage/storageAccounts/write',
      type: 'ResourceWriteSuccess',
      time: at('14:30'),
    }),
  ];
}

interface IngestJson {
  events: number;
  recorded: number;
  duplicate: number;
  skipped: number;
  rejected: Array<{ eventId: string | null; reason: string }>;
  failed: Array<{ eventId: string | null; error: string }>;
}

interface TimelineJson {
  resourceId: string;
  segments: Array<{
    state: string;
    billing: string;
    start: string;
    end: string | null;
    startWindowFrom: string | null;
    source: string;
    operation: string | null;
    caller: string | null;
  }>;
}

interface UsageJson {
  from: string;
  to: string;
  rows: Array<{
    resourceId: string;
    billedSeconds: number;
    notBilledSeconds: number;
    unknownSeconds: number;
    billedSecondsMin: number;
    billedSecondsMax: number;
  }>;
  total: { billedSeconds: number; notBilledSeconds: number; unknownSeconds: number };
}

describe('vm-timeline CLI against Azurite and the ARM emulator', () => {
  let emulator: ArmEmulator;
  let dir: string;
  let fixture: string;
  let common: string[];
  let firstIngest: Awaited<ReturnType<typeof runCli>>;
  let ingestStarted: number;
  let ingestEnded: number;

  beforeAll(async () => {
    emulator = await startArmEmulator();
    emulator.fleet.addVm({ subscriptionId, resourceGroup: 'rg-app', name: 'vm-w', powerState: 'running' });
    dir = await mkdtemp(path.join(tmpdir(), 'vm-timeline-cli-'));
    fixture = path.join(dir, 'events.json');
    await writeFile(fixture, JSON.stringify(fixtureEvents(), null, 2));
    common = [
      '--storage',
      tableConnectionString(),
      '--table-prefix',
      uniquePrefix(),
      '--arm-endpoint',
      emulator.url,
    ];
    ingestStarted = Date.now();
    firstIngest = await runCli(['ingest', fixture, ...common, '--json']);
    ingestEnded = Date.now();
  });

  afterAll(async () => {
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records every VM event of a file, counts the duplicate, the skipped and the rejected one', () => {
    expect(firstIngest.stderr).toBe('');
    expect(firstIngest.code).toBe(0);
    const report = JSON.parse(firstIngest.stdout) as IngestJson;
    expect(report).toEqual({
      events: 19,
      recorded: 16,
      duplicate: 1,
      skipped: 1,
      rejected: [{ eventId: 'a-bad', reason: 'missing eventTime' }],
      failed: [],
    });
    expect(emulator.requests.vmInstanceView).toBe(1);
  });

  it('records nothing new when the same file is ingested again', async () => {
    const again = await runCli(['ingest', fixture, ...common, '--json']);

    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as IngestJson;
    expect(report.recorded).toBe(0);
    expect(report.duplicate).toBe(17);
    expect(report.skipped).toBe(1);
    expect(report.rejected).toHaveLength(1);
    expect(emulator.requests.vmInstanceView).toBe(1);
  });

  it('prints a VM timeline whose segments follow start, powerOff, restart and deallocate', async () => {
    const run = await runCli(['timeline', vmA, ...common, '--json']);

    expect(run.code).toBe(0);
    const view = JSON.parse(run.stdout) as TimelineJson;
    expect(view.resourceId.toLowerCase()).toBe(vmA.toLowerCase());
    expect(view.segments.map((s) => [s.state, s.billing, s.start, s.end])).toEqual([
      ['running', 'billed', at('08:00'), at('12:00')],
      ['stopped', 'billed', at('12:00'), at('13:00')],
      ['running', 'billed', at('13:00'), at('18:00')],
      ['deallocated', 'notBilled', at('18:00'), null],
    ]);
    expect(view.segments[0]).toMatchObject({
      source: 'event',
      operation: 'Microsoft.Compute/virtualMachines/start/action',
      caller: 'alice@contoso.com',
      startWindowFrom: null,
    });
  });

  it('shows hibernate and delete, ignores failed and cancelled operations, and orders late events', async () => {
    const b = JSON.parse((await runCli(['timeline', vmB, ...common, '--json'])).stdout) as TimelineJson;
    expect(b.segments.map((s) => [s.state, s.start, s.end])).toEqual([
      ['running', at('09:00'), at('17:00')],
      ['hibernated', at('17:00'), at('10:00', next)],
      ['deleted', at('10:00', next), null],
    ]);

    const c = JSON.parse((await runCli(['timeline', vmC, ...common, '--json'])).stdout) as TimelineJson;
    expect(c.segments.map((s) => [s.state, s.start, s.end])).toEqual([
      ['running', at('10:00'), at('14:00')],
      ['deallocated', at('14:00'), null],
    ]);

    const s = JSON.parse(
      (await runCli(['timeline', instance.toUpperCase(), ...common, '--json'])).stdout,
    ) as TimelineJson;
    expect(s.segments.map((x) => [x.state, x.billing, x.start, x.end])).toEqual([
      ['running', 'billed', at('06:00'), at('22:00')],
      ['stopped', 'billed', at('22:00'), null],
    ]);
  });

  it('places the state read after a write within the window from the last sighting to the read', async () => {
    const w = JSON.parse((await runCli(['timeline', vmW, ...common, '--json'])).stdout) as TimelineJson;

    expect(w.segments).toHaveLength(2);
    expect(w.segments[0]).toMatchObject({ state: 'deallocated', start: at('07:00') });
    const read = w.segments[1]!;
    // Not from the write's event (20:00): it reports the write's completion, and the VM, last seen
    // deallocated at 07:00, may have changed at any time since (a start whose event was lost, the write).
    expect(read).toMatchObject({
      state: 'running',
      source: 'instanceView',
      startWindowFrom: at('07:00'),
      end: null,
    });
    expect(Date.parse(read.start)).toBeGreaterThanOrEqual(ingestStarted);
    expect(Date.parse(read.start)).toBeLessThanOrEqual(ingestEnded);
  });

  it('prints the timeline as an aligned table with the billed hours', async () => {
    const run = await runCli(['timeline', vmA, ...common, '--to', at('00:00', next)]);

    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(vmA);
    expect(lines[1]).toMatch(/^START\s+END\s+STATE\s+BILLING\s+SOURCE\s+CALLER\s+WHY$/);
    expect(lines[2]).toMatch(
      /^2025-03-10T08:00:00\.000Z {2}2025-03-10T12:00:00\.000Z {2}running\s+billed\s+event\s+alice@contoso\.com\s+started by alice@contoso\.com \(Event Grid\)$/,
    );
    expect(lines[5]).toMatch(/^2025-03-10T18:00:00\.000Z {2}open\s+deallocated\s+notBilled/);
    expect(lines[6]).toBe('billed hours: 10.00');
  });

  it('reports billed, not billed and unknown seconds per VM over a day', async () => {
    const run = await runCli(['usage', '--from', day, '--to', next, ...common, '--json']);

    expect(run.code).toBe(0);
    const usage = JSON.parse(run.stdout) as UsageJson;
    expect(usage.from).toBe(at('00:00'));
    expect(usage.to).toBe(at('00:00', next));
    const row = (id: string) => usage.rows.find((r) => r.resourceId.toLowerCase() === id.toLowerCase());
    expect(row(vmA)).toMatchObject({ billedSeconds: 10 * h, notBilledSeconds: 6 * h, unknownSeconds: 8 * h });
    expect(row(vmB)).toMatchObject({ billedSeconds: 8 * h, notBilledSeconds: 7 * h, unknownSeconds: 9 * h });
    expect(row(vmC)).toMatchObject({
      billedSeconds: 4 * h,
      notBilledSeconds: 10 * h,
      unknownSeconds: 10 * h,
    });
    expect(row(instance)).toMatchObject({
      billedSeconds: 18 * h,
      notBilledSeconds: 0,
      unknownSeconds: 6 * h,
    });
    // vm-w started at some time after it was last seen deallocated (07:00); the estimate places it long
    // after this day, and the bounds say it may have run for the 17 hours since.
    expect(row(vmW)).toMatchObject({
      billedSeconds: 0,
      notBilledSeconds: 17 * h,
      unknownSeconds: 7 * h,
      billedSecondsMin: 0,
      billedSecondsMax: 17 * h,
    });
    expect(usage.rows).toHaveLength(5);
    expect(usage.total).toMatchObject({
      billedSeconds: 40 * h,
      notBilledSeconds: 40 * h,
      unknownSeconds: 40 * h,
    });
  });

  it('prints usage as a table with hours and a total line', async () => {
    const run = await runCli(['usage', '--from', day, '--to', next, ...common]);

    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('usage from 2025-03-10T00:00:00.000Z to 2025-03-11T00:00:00.000Z (hours)');
    expect(lines[1]).toMatch(/^BILLED\s+NOT BILLED\s+UNKNOWN\s+BILLED MIN-MAX\s+VM$/);
    expect(lines.find((l) => l.endsWith(vmA))).toMatch(/^\s*10\.00\s+6\.00\s+8\.00\s+10\.00-10\.00\s/);
    expect(lines.at(-1)).toMatch(/^\s*40\.00\s+40\.00\s+40\.00\s+\S+\s+total$/);
  });

  it('ingests NDJSON from stdin, one event or one array of events per line', async () => {
    const prefix = ['--storage', tableConnectionString(), '--table-prefix', uniquePrefix()];
    const ndjson = [
      JSON.stringify(vmEvent('vm-n', 'start', at('08:00'), 'n-1')),
      JSON.stringify([
        vmEvent('vm-n', 'powerOff', at('09:00'), 'n-2', 'cloudEvents'),
        vmEvent('vm-n', 'deallocate', at('10:00'), 'n-3'),
      ]),
      '',
    ].join('\n');

    const run = await runCli(['ingest', '-', ...prefix], ndjson);

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^events\s+3$/m);
    expect(run.stdout).toMatch(/^recorded\s+3$/m);
    expect(run.stdout).toMatch(/^failed\s+0$/m);
    const view = JSON.parse(
      (await runCli(['timeline', vmResourceId('vm-n'), ...prefix, '--json'])).stdout,
    ) as TimelineJson;
    expect(view.segments.map((s) => s.state)).toEqual(['running', 'stopped', 'deallocated']);
  });

  it('ingests nothing from input that is not JSON or NDJSON, naming the line, exit 2', async () => {
    const prefix = ['--storage', tableConnectionString(), '--table-prefix', uniquePrefix()];
    const text = `${JSON.stringify(vmEvent('vm-x', 'start', at('08:00'), 'x-1'))}\nnot json\n`;

    const run = await runCli(['ingest', '-', ...prefix], text);

    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toBe(
      'vm-timeline: line 2 is not valid JSON (input must be a JSON array, a JSON object or NDJSON)',
    );
    const timeline = await runCli(['timeline', vmResourceId('vm-x'), ...prefix]);
    expect(timeline.code).toBe(1);
  });

  it('reports a rejected event with its reason in text output, and still records the good ones', async () => {
    const prefix = ['--storage', tableConnectionString(), '--table-prefix', uniquePrefix()];
    const bad = vmEvent('vm-r', 'start', at('09:00'), 'r-2', 'cloudEvents');
    bad['specversion'] = '0.3';
    const run = await runCli(
      ['ingest', '-', ...prefix],
      JSON.stringify([vmEvent('vm-r', 'start', at('08:00'), 'r-1'), bad]),
    );

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^recorded\s+1$/m);
    expect(run.stdout).toMatch(/^rejected\s+1\n\s+1 {2}CloudEvents specversion must be "1\.0"$/m);
  });

  it('answers an unknown VM with one line and exit 1', async () => {
    const id = vmResourceId('vm-never-seen');
    const run = await runCli(['timeline', id, ...common]);

    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`vm-timeline: no timeline recorded for ${id}\n`);
    expect(run.stdout).toBe('');
  });

  it('rejects bad dates and a reversed range with exit 2 and a clear message', async () => {
    const bad = await runCli(['usage', '--from', '10/03/2025', '--to', next, ...common]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe(
      'vm-timeline: --from must be an ISO 8601 date or date-time, got "10/03/2025"',
    );

    const reversed = await runCli(['timeline', vmA, '--from', next, '--to', day, ...common]);
    expect(reversed.code).toBe(2);
    expect(reversed.stderr.split('\n')[0]).toBe('vm-timeline: --to must be after --from');
  });

  it('fails within seconds with one line naming the endpoint when storage is unreachable', async () => {
    const endpoint = 'http://127.0.0.1:9/devstoreaccount1';

    const run = await runCli(['ingest', fixture, '--storage', endpoint, '--table-prefix', uniquePrefix()]);

    expect(run.code).toBe(1);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^vm-timeline: cannot reach table storage at http:\/\/127\.0\.0\.1:9\/devstoreaccount1: .*ECONNREFUSED/,
    );
    expect(run.stdout).toBe('');
    expect(run.elapsedInMs).toBeLessThan(10_000);
  });

  it('never prints the account key of the connection string', async () => {
    const key = /AccountKey=([^;]+)/.exec(tableConnectionString())?.[1] ?? 'no-key';
    const runs = [
      await runCli(['timeline', vmResourceId('vm-none'), ...common]),
      await runCli(['usage', '--from', day, '--to', next, ...common]),
    ];
    for (const run of runs) expect(`${run.stdout}${run.stderr}`).not.toContain(key);
  });
});

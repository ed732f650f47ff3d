import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { evaluateAlerts, type EvaluationSummary } from '../../src/app/evaluate-alerts';
import { alertOptionsFrom } from '../../src/composition';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { testContext, testSettings } from '../support/app';
import { runCli } from '../support/cli';

/** `vm-timeline stopped --json`, as a user reads it: VM name → [exempt, alertState]. */
type Listing = Record<string, [boolean, string]>;

const subscriptionId = '00000000-0000-0000-0000-0000000057a1';
const tagged = { 'Expected-Stopped': 'TRUE' };

describe('vm-timeline stopped after vm-timeline reconcile: exemption as the tags and patterns are now', () => {
  let arm: ArmEmulator;
  let settings: Record<string, string>;

  beforeAll(async () => {
    arm = await startArmEmulator();
  });
  afterAll(async () => {
    await arm.close();
  });
  beforeEach(() => {
    for (const s of arm.fleet.listSubscriptions()) arm.fleet.removeSubscription(s.subscriptionId);
    arm.fleet.addSubscription(subscriptionId);
    settings = testSettings(arm.url);
  });

  const idOf = (name: string): string =>
    arm.fleet.listVms(subscriptionId).find((vm) => vm.name === name)?.id ?? '';

  async function reconcile(): Promise<void> {
    const run = await runCli(
      ['reconcile', '--subscription', subscriptionId, '--details', '--json'],
      undefined,
      {
        ...settings,
      },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  }

  async function stopped(env: Record<string, string> = {}): Promise<Listing> {
    const run = await runCli(['stopped', '--json'], undefined, { ...settings, ...env });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      vms: Array<{ resourceId: string; exempt: boolean; alertState: string }>;
    };
    return Object.fromEntries(
      report.vms.map((vm) => [vm.resourceId.split('/').at(-1) ?? '', [vm.exempt, vm.alertState]]),
    );
  }

  /** The alert path on the same tables: the timer's use case with the given settings. */
  async function evaluate(env: Record<string, string>): Promise<EvaluationSummary> {
    const ctx = await testContext({ ...settings, ...env });
    return evaluateAlerts(ctx, { ...alertOptionsFrom(ctx.config), sync: true });
  }

  it('lists a VM first found stopped with the tag Expected-Stopped: TRUE as exempt, as the alerts treat it', async () => {
    arm.fleet.addVm({
      subscriptionId,
      resourceGroup: 'rg',
      name: 'kept-01',
      powerState: 'stopped',
      tags: tagged,
    });
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'plain-01', powerState: 'stopped' });

    await reconcile();

    expect(await stopped()).toEqual({ 'kept-01': [true, 'exempt'], 'plain-01': [false, 'withinGrace'] });
    const now = { STOPPED_ALERT_GRACE_MINUTES: '0' };
    expect(await stopped(now)).toEqual({ 'kept-01': [true, 'exempt'], 'plain-01': [false, 'due'] });
    expect(await evaluate(now)).toMatchObject({
      stopped: 2,
      exempt: 1,
      pastGrace: 1,
      enqueued: { detected: 1 },
    });
    expect(await stopped(now)).toEqual({ 'kept-01': [true, 'exempt'], 'plain-01': [false, 'sent'] });
  });

  it('follows the tag added to a VM already stopped, and removed again', async () => {
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'lab-01', powerState: 'stopped' });
    await reconcile();
    expect(await stopped()).toEqual({ 'lab-01': [false, 'withinGrace'] });

    arm.fleet.updateVm(idOf('lab-01'), { tags: { 'expected-stopped': 'true' } });
    await reconcile();
    expect(await stopped()).toEqual({ 'lab-01': [true, 'exempt'] });
    const now = { STOPPED_ALERT_GRACE_MINUTES: '0' };
    expect(await evaluate(now)).toMatchObject({ exempt: 1, pastGrace: 0, enqueued: { detected: 0 } });

    arm.fleet.updateVm(idOf('lab-01'), { tags: { owner: 'lab' } });
    await reconcile();
    expect(await stopped()).toEqual({ 'lab-01': [false, 'withinGrace'] });
    expect(await stopped(now)).toEqual({ 'lab-01': [false, 'due'] });
    expect(await evaluate(now)).toMatchObject({ exempt: 0, pastGrace: 1, enqueued: { detected: 1 } });
    expect(await stopped(now)).toEqual({ 'lab-01': [false, 'sent'] });
  });

  it('lists a running VM that got the tag as exempt once stopped, whether the stop or the tag is found first', async () => {
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'tag-first', powerState: 'running' });
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'together', powerState: 'running' });
    await reconcile();
    expect(await stopped()).toEqual({});

    // tag-first: the tag is recorded by one run, the guest shutdown by the next.
    arm.fleet.updateVm(idOf('tag-first'), { tags: tagged });
    await reconcile();
    arm.fleet.setPowerState(idOf('tag-first'), 'stopped');
    // together: shut down and tagged between two runs: the run records the stop, then refreshes the tags.
    arm.fleet.updateVm(idOf('together'), { tags: tagged, powerState: 'stopped' });
    await reconcile();

    expect(await stopped()).toEqual({ 'tag-first': [true, 'exempt'], together: [true, 'exempt'] });
    expect(await evaluate({ STOPPED_ALERT_GRACE_MINUTES: '0' })).toMatchObject({ exempt: 2, pastGrace: 0 });
  });

  it('exempts by EXPECTED_STOPPED_PATTERNS (a VM name) as configured for the listing, not as an evaluation last saw it', async () => {
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'build-07', powerState: 'stopped' });
    await reconcile();
    const pattern = { EXPECTED_STOPPED_PATTERNS: 'build-*', STOPPED_ALERT_GRACE_MINUTES: '0' };
    expect(await stopped(pattern)).toEqual({ 'build-07': [true, 'exempt'] });
    expect(await evaluate(pattern)).toMatchObject({ exempt: 1, pastGrace: 0 });

    // The pattern is dropped: the VM is due, as the next evaluation finds.
    const none = { STOPPED_ALERT_GRACE_MINUTES: '0' };
    expect(await stopped(none)).toEqual({ 'build-07': [false, 'due'] });
    expect(await evaluate(none)).toMatchObject({ exempt: 0, pastGrace: 1, enqueued: { detected: 1 } });
    expect(await stopped(none)).toEqual({ 'build-07': [false, 'sent'] });
  });
});

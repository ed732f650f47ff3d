/**
 * The poison path end to end, through a real queue: a reconcile message that fails on every delivery
 * goes through the local host's queue runner on the Azurite queue service (Azure's `maxDequeueCount`
 * of 5), lands in `<queue>-poison`, and coverage (the row, `GET /api/coverage`) shows it poisoned with
 * the reason.
 */
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/adapters/logger';
import { createAppContext, type AppContext } from '../../src/composition';
import { loadConfig } from '../../src/config';
import { startArmEmulator, type ArmEmulator } from '../../kit/emulator/arm-emulator';
import { startLocalHost, type LocalHost } from '../../kit/local/host';
import { decodeMessage, maxDequeueCount, StorageLocalQueues } from '../../kit/local/queues';
import { appRegistrations } from '../../kit/local/registrations';
import { testSettings, uniquePrefix } from '../support/app';
import { tableConnectionString } from '../support/azurite';

const subscriptionId = '40000000-0000-0000-0000-000000000001';
const functionKey = 'poison-test-key';

describe('a reconcile message that keeps failing ends in the poison queue, and coverage shows it', () => {
  let arm: ArmEmulator;
  let host: LocalHost;
  let ctx: AppContext;
  // A queue of its own (other test files run their hosts on `reconcile-subscriptions` at the same time).
  const queueName = `reconcile-${uniquePrefix()}`;
  const service = QueueServiceClient.fromConnectionString(tableConnectionString());

  beforeAll(async () => {
    arm = await startArmEmulator();
    arm.fleet.addVm({ subscriptionId, resourceGroup: 'rg', name: 'vm-1' });
    const settings = { ...testSettings(arm.url), SUBSCRIPTION_IDS: subscriptionId };
    ctx = createAppContext(loadConfig(settings), { log: silentLogger });
    await ctx.ensureTables();
    // The app's own registrations (their handlers on this context), the queue function on a queue of
    // its own.
    const registrations = appRegistrations(['reconcileSubscription', 'coverage'], () =>
      Promise.resolve(ctx),
    ).map((registration) =>
      registration.kind === 'storageQueue'
        ? { ...registration, options: { ...registration.options, queueName } }
        : registration,
    );
    const queues = new StorageLocalQueues(tableConnectionString());
    host = await startLocalHost({
      registrations,
      queues,
      log: silentLogger,
      port: 0,
      functionKey,
      env: settings,
      timers: false,
      maxQueuePollIntervalInMs: 100,
    });
  });

  afterAll(async () => {
    await host?.stop();
    await arm?.close();
    for (const name of [queueName, `${queueName}-poison`])
      await service.getQueueClient(name).deleteIfExists();
    for (const name of Object.values(ctx.tableNames))
      await ctx.tables
        .table(name)
        .deleteTable()
        .catch(() => undefined);
  });

  it('fails five deliveries, moves the message to <queue>-poison, and records poisoned with the reason', async () => {
    // The run's lease table is gone: every delivery throws (the reconcile cannot take its lease).
    await ctx.tables.table(ctx.tableNames.reconcileRuns).deleteTable();
    await service.getQueueClient(queueName).createIfNotExists();
    await service
      .getQueueClient(queueName)
      .sendMessage(Buffer.from(JSON.stringify({ subscriptionId })).toString('base64'));

    await expect
      .poll(async () => (await ctx.coverage.get(subscriptionId))?.lastOutcome, {
        timeout: 30_000,
        interval: 200,
      })
      .toBe('poisoned');
    const poisonQueue = service.getQueueClient(`${queueName}-poison`);
    await expect
      .poll(async () => (await poisonQueue.getProperties()).approximateMessagesCount ?? 0, {
        timeout: 10_000,
        interval: 200,
      })
      .toBe(1);
    const [poisoned] = (await poisonQueue.peekMessages({ numberOfMessages: 5 })).peekedMessageItems;
    expect(decodeMessage(poisoned?.messageText ?? '')).toEqual({ subscriptionId });
    expect((await service.getQueueClient(queueName).getProperties()).approximateMessagesCount).toBe(0);

    const row = await ctx.coverage.get(subscriptionId);
    expect(maxDequeueCount).toBe(5);
    expect(row?.poisonReason).toMatch(/TableNotFound|table.*not exist|not found/i);
    expect(row?.poisonedAt).toBeGreaterThan(0);

    const response = await fetch(`${host.url}/api/coverage?code=${functionKey}`);
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      subscriptions: { subscriptionId: string; lastOutcome: string; poisonReason: string | null }[];
    };
    expect(report.subscriptions.find((s) => s.subscriptionId === subscriptionId)).toMatchObject({
      lastOutcome: 'poisoned',
      poisonReason: row?.poisonReason,
    });
  });

  it('the next complete run clears the poison mark', async () => {
    await ctx.tables.table(ctx.tableNames.reconcileRuns).createTable();
    await service
      .getQueueClient(queueName)
      .sendMessage(Buffer.from(JSON.stringify({ subscriptionId })).toString('base64'));
    await expect
      .poll(async () => (await ctx.coverage.get(subscriptionId))?.lastOutcome, {
        timeout: 30_000,
        interval: 200,
      })
      .toBe('complete');
    expect(await ctx.coverage.get(subscriptionId)).toMatchObject({
      poisonedAt: undefined,
      poisonReason: undefined,
    });
  });
});

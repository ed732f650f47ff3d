import { TableClient, type TransactionAction } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tableConnectionString, uniqueTableName } from '../support/azurite';

interface Sample {
  partitionKey: string;
  rowKey: string;
  state: string;
  count: number;
}

describe('Azurite from the vitest global setup', () => {
  let table: TableClient;

  beforeAll(async () => {
    table = TableClient.fromConnectionString(tableConnectionString(), uniqueTableName('azurite'), {
      allowInsecureConnection: true,
    });
    await table.createTable();
  });

  afterAll(async () => {
    await table.deleteTable();
  });

  it('gives workers the endpoints both through inject() and the environment', () => {
    const endpoints = inject('azurite');

    expect(endpoints.tableEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    expect(process.env.AZURITE_TABLE_ENDPOINT).toBe(endpoints.tableEndpoint);
    expect(process.env.AZURITE_QUEUE_ENDPOINT).toBe(endpoints.queueEndpoint);
    expect(process.env.AZURITE_BLOB_ENDPOINT).toBe(endpoints.blobEndpoint);
    expect(process.env.AZURE_STORAGE_CONNECTION_STRING).toBe(endpoints.connectionString);
    expect(endpoints.connectionString).toContain(`TableEndpoint=${endpoints.tableEndpoint}`);
  });

  it('reads back an upserted entity, and an upsert replaces the stored values', async () => {
    await table.upsertEntity<Sample>(
      { partitionKey: 'vm1', rowKey: 'r1', state: 'running', count: 1 },
      'Replace',
    );
    await table.upsertEntity<Sample>(
      { partitionKey: 'vm1', rowKey: 'r1', state: 'stopped', count: 2 },
      'Replace',
    );

    const entity = await table.getEntity<Sample>('vm1', 'r1');

    expect(entity).toMatchObject({ partitionKey: 'vm1', rowKey: 'r1', state: 'stopped', count: 2 });
    expect(entity.etag).toMatch(/^W\/"/);
  });

  it('commits a 100-operation transaction atomically and lists all its entities back', async () => {
    const actions: TransactionAction[] = Array.from({ length: 100 }, (_, i) => [
      'upsert',
      { partitionKey: 'batch', rowKey: `row${String(i).padStart(3, '0')}`, state: 'deallocated', count: i },
    ]);

    const response = await table.submitTransaction(actions);

    expect(response.status).toBe(202);
    expect(response.subResponses).toHaveLength(100);
    expect(response.subResponses.every((r) => r.status === 204)).toBe(true);
    const stored: Sample[] = [];
    for await (const entity of table.listEntities<Sample>({
      queryOptions: { filter: "PartitionKey eq 'batch'" },
    })) {
      stored.push(entity);
    }
    expect(stored).toHaveLength(100);
    expect(stored.map((e) => e.count).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('rejects the whole transaction when one operation fails, leaving the partition unchanged', async () => {
    await table.createEntity({ partitionKey: 'atomic', rowKey: 'taken', state: 'running', count: 0 });
    const actions: TransactionAction[] = [
      ['create', { partitionKey: 'atomic', rowKey: 'fresh', state: 'running', count: 1 }],
      ['create', { partitionKey: 'atomic', rowKey: 'taken', state: 'running', count: 2 }],
    ];

    await expect(table.submitTransaction(actions)).rejects.toMatchObject({ statusCode: 409 });

    const keys: string[] = [];
    for await (const entity of table.listEntities({ queryOptions: { filter: "PartitionKey eq 'atomic'" } })) {
      keys.push(entity.rowKey ?? '');
    }
    expect(keys).toEqual(['taken']);
  });
});

import {
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

/** Table names the example functions read from ORDERS_TABLE_NAME, CHARGES_TABLE_NAME, SEATS_TABLE_NAME. */
export interface ExampleTableNames {
  readonly orders: string;
  readonly charges: string;
  readonly seats: string;
}

/**
 * The example tables' key schemas, the same as the CDK stack's, for local runs (e2e tests, the demo).
 * On AWS the stack creates them.
 */
export function exampleTableDefinitions(names: ExampleTableNames): CreateTableCommandInput[] {
  const s = 'S' as const;
  return [
    {
      TableName: names.orders,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'orderId', AttributeType: s }],
      KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }],
    },
    {
      TableName: names.charges,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'idempotencyKey', AttributeType: s }],
      KeySchema: [{ AttributeName: 'idempotencyKey', KeyType: 'HASH' }],
    },
    {
      TableName: names.seats,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'eventId', AttributeType: s },
        { AttributeName: 'seatId', AttributeType: s },
      ],
      KeySchema: [
        { AttributeName: 'eventId', KeyType: 'HASH' },
        { AttributeName: 'seatId', KeyType: 'RANGE' },
      ],
    },
  ];
}

/** Creates the example tables if missing (local use only) and waits until they are active. */
export async function createExampleTables(client: DynamoDBClient, names: ExampleTableNames): Promise<void> {
  for (const input of exampleTableDefinitions(names)) {
    try {
      await client.send(new CreateTableCommand(input));
    } catch (err) {
      if (!(err instanceof ResourceInUseException)) throw err;
    }
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: input.TableName! });
  }
}

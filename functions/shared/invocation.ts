/** The part of the Lambda context the examples use: a lease never outlives the invocation. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
  readonly awsRequestId?: string;
}

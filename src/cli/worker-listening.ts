// The message a cluster worker sends its primary once its listeners are bound and it is warm.

export interface WorkerListening {
  readonly type: 'cheq-rti-authz:listening';
  readonly grpcPort: number;
  readonly grpcSecurity: string;
  readonly httpPort: number;
}

export function isWorkerListening(message: unknown): message is WorkerListening {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { type?: unknown }).type === 'cheq-rti-authz:listening'
  );
}

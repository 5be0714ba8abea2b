// What a caller of `serve` (the demo) is told about the server it runs.

export interface ListeningPorts {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
}

export interface ServeHooks {
  /** Called once listening and ready, with the bound ports. */
  readonly onListening?: (ports: ListeningPorts) => void;
  /** Called after the graceful stop, before the process exits. */
  readonly onStopped?: () => Promise<void>;
}

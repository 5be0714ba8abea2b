// How an adapter tells the core, and the core the RTI client, that the proxy gave up on a check.

/**
 * A callback registration rather than an AbortSignal: there is one per check, and an
 * AbortController (EventTarget set-up, listener bookkeeping, a DOMException per abort) cost
 * more than the rest of a check's bookkeeping on the hot path. A listener may be called after
 * the check was answered (a transport reports every close); listeners ignore that.
 */
export interface Cancellation {
  /** Calls `listener` once when the proxy gives up, at once if it already has. */
  onCancel(listener: () => void): void;
}

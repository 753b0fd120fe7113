// User code (callbacks and listeners) runs in the middle of the client's own
// bookkeeping; these keep a throw in it from stopping that half-way.

/**
 * Runs user code (a callback, or an event's listeners) so that a throw in it
 * cannot stop the connection half-way through its bookkeeping: the exception
 * is rethrown on a tick of its own (an uncaught exception, as EventTarget
 * reports a throwing listener) and the connection goes on.
 */
export function guard(userCode: () => void): void {
  try {
    userCode();
  } catch (error) {
    rethrowLater(error);
  }
}

/** Rethrows `error` on a tick of its own: an uncaught exception, not a broken connection. */
export function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

// `wspipe URL`: each line of stdin is sent as a message; each message received
// is printed on stdout. At the end of stdin (or after --wait N messages) it
// waits for the handshake and for every message to be written, closes, and
// resolves with the exit status of what happened.
import type { Readable, Writable } from 'node:stream';
import { ErrorCode, HandshakeError, UsageError, WebSocketClient, WebSocketError, type WebSocketClientOptions } from '../index.js';
import type { ClientConfig } from './args.js';
import { ExitStatus, exitStatusForError } from './exit-status.js';
import { readInputLines, type InputLines } from './input.js';
import { formatMessage, StatusLine } from './output.js';

/** Where the run reads and writes; the process's own streams in the command. */
export interface ClientIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** stdin is a terminal: prompt and status lines on stderr. */
  interactive: boolean;
}

/** A run in progress. */
export interface ClientRun {
  /** Resolves with the exit status once the connection is over. */
  done: Promise<ExitStatus>;
  /** Ctrl-C: close now (a second call gives up on the closing handshake). */
  interrupt(): void;
}

/** Once stdin has ended, at most this many more reconnections to deliver what is left. */
export const MAX_RECONNECTS_AFTER_INPUT_END = 3;
/** How often the end-of-input flush looks at `bufferedAmount` (no event says "all written"). */
const FLUSH_POLL_MS = 10;
/** Above this, stop reading stdin until the client has written some out. */
const INPUT_HIGH_WATER_BYTES = 1024 * 1024;

export function runClient(config: ClientConfig, io: ClientIo): ClientRun {
  let resolveDone!: (status: ExitStatus) => void;
  const done = new Promise<ExitStatus>((resolve) => (resolveDone = resolve));
  const run = new Run(config, io, resolveDone);
  run.start();
  return { done, interrupt: () => run.interrupt() };
}

class Run {
  private client: WebSocketClient | undefined;
  private readonly status: StatusLine;
  private lines: InputLines | undefined;
  /** The exit status of the last failure; cleared when a later attempt opens. */
  private failure: ExitStatus | undefined;
  /** Some input was not sent (a queue dropped, a send refused). */
  private inputLost = false;
  /** The current attempt finished its handshake. */
  private opened = false;
  private inputEnded = false;
  /** We decided to close: end of input, --wait reached, Ctrl-C, stdout gone. */
  private closeRequested = false;
  /** We called close(): a close code equal to ours is the echo of our closing handshake. */
  private closeSent = false;
  private waitReached = false;
  private interrupted = false;
  private received = 0;
  /** The client announced a reconnection after the last close. */
  private reconnecting = false;
  private reconnectsAfterInputEnd = 0;
  private outputPaused = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private inputTimer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly io: ClientIo,
    private readonly resolve: (status: ExitStatus) => void,
  ) {
    this.status = new StatusLine(io.stderr, io.interactive);
  }

  start(): void {
    try {
      this.client = new WebSocketClient(this.config.url, this.clientOptions());
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      this.status.error(`${error.code}: ${error.message}`);
      this.failure = ExitStatus.Usage;
      this.finish();
      return;
    }
    const client = this.client;
    client.onWebSocketConnect = (_conn, response) => this.handshakeDone(response.status, response.protocol ?? '');
    client.onMessage = (_conn, data, isBinary) => this.message(data as string | Buffer | Buffer[], isBinary);
    client.onError = (_conn, code, message, error) => this.error(code, message, error);
    client.onClose = (_conn, code, reason) => this.closed(code, reason);
    client.on('reconnecting', ({ attempt, delayMs }: { attempt: number; delayMs: number }) => {
      this.reconnecting = true;
      if (this.inputEnded) this.reconnectsAfterInputEnd++;
      this.status.error(`reconnecting in ${delayMs} ms (attempt ${attempt})`);
    });
    this.io.stdout.on('error', () => this.stop());
    client.connect();
    this.readInput();
  }

  interrupt(): void {
    if (this.finished) return;
    if (this.interrupted) {
      // The second Ctrl-C: no more waiting for the server.
      this.client?.terminate();
      this.finish();
      return;
    }
    this.interrupted = true;
    this.stop();
  }

  private clientOptions(): WebSocketClientOptions {
    const c = this.config;
    return {
      headers: c.headers,
      protocols: c.protocols,
      pingIntervalMs: c.pingIntervalMs,
      messageType: c.binary ? 'binary' : 'text',
      reconnect: c.reconnect,
      ...(c.origin !== undefined ? { origin: c.origin } : {}),
      ...(c.proxy !== undefined ? { proxy: c.proxy } : {}),
      ...(c.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: c.handshakeTimeoutMs } : {}),
      ...(c.compression ? {} : { perMessageDeflate: false }),
      tls: {
        ...(c.ca ? { ca: c.ca } : {}),
        ...(c.insecure ? { rejectUnauthorized: false } : {}),
      },
    };
  }

  private readInput(): void {
    this.lines = readInputLines(
      this.io.stdin,
      this.config.binary,
      (line) => {
        // After --wait N or Ctrl-C the input is no longer sent.
        if (this.finished || this.closeRequested) return;
        this.status.lineEntered();
        this.send(line);
      },
      () => {
        if (this.finished) return;
        this.inputEnded = true;
        if (this.config.waitForMessages === undefined) this.requestClose();
        else if (this.reconnecting && this.client!.readyState === 'closed' && this.client!.bufferedAmount === 0) this.giveUp();
      },
    );
  }

  private send(line: string | Buffer): void {
    const client = this.client!;
    let below: boolean;
    try {
      below = client.send(line);
    } catch (error) {
      if (!(error instanceof WebSocketError)) throw error;
      this.status.error(`${error.code}: ${error.message}`);
      this.inputLost = true;
      return;
    }
    if (!below && this.inputTimer === undefined) {
      // Backpressure: stop reading stdin until the client has written some out.
      this.lines!.pause();
      this.inputTimer = setInterval(() => {
        if (client.bufferedAmount >= INPUT_HIGH_WATER_BYTES) return;
        clearInterval(this.inputTimer);
        this.inputTimer = undefined;
        this.lines?.resume();
      }, 20);
    }
  }

  private handshakeDone(status: number, protocol: string): void {
    this.opened = true;
    this.reconnecting = false;
    this.failure = undefined;
    const hint = this.config.waitForMessages === undefined ? 'type a line to send it; Ctrl-D closes' : `waiting for ${this.config.waitForMessages} message(s)`;
    this.status.info(`connected to ${this.client!.url} (${status}${protocol ? `, subprotocol ${protocol}` : ''}); ${hint}`);
    if (this.closeRequested) this.flushThenClose();
    else this.status.prompt();
  }

  private message(data: string | Buffer | Buffer[], isBinary: boolean): void {
    // -w N prints exactly N messages: what arrives while the closing handshake runs is not shown.
    if (this.waitReached) return;
    this.status.clearPrompt();
    const below = this.io.stdout.write(`${formatMessage(data, isBinary, this.config.binaryOutput)}\n`);
    this.status.restorePrompt();
    if (!below && !this.outputPaused) {
      // A slow reader of stdout slows the server down, through TCP.
      this.outputPaused = true;
      this.client!.pause();
      this.io.stdout.once('drain', () => {
        this.outputPaused = false;
        this.client?.resume();
      });
    }
    this.received++;
    if (this.config.waitForMessages !== undefined && this.received === this.config.waitForMessages) {
      this.waitReached = true;
      this.requestClose();
    }
  }

  private error(code: string, message: string, error: WebSocketError): void {
    this.status.error(`${code}: ${message}`);
    if (code === ErrorCode.SendFailed || code === ErrorCode.QueueFull) {
      this.inputLost = true;
      return;
    }
    if (error instanceof HandshakeError && error.bodyStart) {
      this.status.error(`the server said: ${excerpt(error.bodyStart)}`);
    }
    if (code === ErrorCode.TlsFailed) this.status.error(tlsHint(error));
    this.failure = exitStatusForError(code, this.opened);
  }

  private closed(code: number, reason: string): void {
    const wasOpen = this.opened;
    this.opened = false;
    this.reconnecting = false;
    if (this.finished) return;
    const why = `${code}${reason ? ` ${JSON.stringify(reason)}` : ''}`;
    const ourEcho = this.closeSent && code === this.config.closeCode;
    this.closeSent = false;
    if (wasOpen && !ourEcho && this.failure === undefined) {
      if (code === 1000) {
        this.status.info(`the server closed the connection (${why})`);
      } else {
        this.status.error(`the server closed the connection (${why})`);
        this.failure = ExitStatus.ConnectionFailed;
      }
    } else {
      this.status.info(`closed (${why})`);
    }
    const client = this.client!;
    const leftToSend = client.bufferedAmount > 0;
    const stop =
      !this.config.reconnect ||
      this.waitReached ||
      this.interrupted ||
      (this.inputEnded && (!leftToSend || this.reconnectsAfterInputEnd >= MAX_RECONNECTS_AFTER_INPUT_END));
    if (stop) {
      this.giveUp();
      return;
    }
    // The client announces a reconnection right after onClose, or none (a reason not worth retrying).
    setImmediate(() => {
      if (!this.reconnecting && client.readyState === 'closed') this.giveUp();
    });
  }

  /** We are done with the connection: end of input, --wait reached, Ctrl-C, stdout closed. */
  private requestClose(): void {
    if (this.closeRequested) return;
    this.closeRequested = true;
    this.status.done();
    const client = this.client!;
    switch (client.readyState) {
      case 'open':
        this.flushThenClose();
        break;
      case 'closed':
        // Between reconnections: go on only to deliver what is left after the end of input.
        if (!this.inputEnded || client.bufferedAmount === 0) this.giveUp();
        break;
      default:
        // Connecting: onWebSocketConnect flushes and closes; closing: onClose finishes.
        break;
    }
  }

  /** Ctrl-C or stdout gone: close at once if open, else abandon the attempt. */
  private stop(): void {
    this.inputEnded = true;
    this.closeRequested = true;
    this.status.done();
    const client = this.client;
    if (client === undefined) return;
    if (client.readyState === 'open') this.sendClose();
    else if (client.readyState === 'connecting') client.terminate();
    else if (client.readyState !== 'closing') this.giveUp();
  }

  /**
   * RFC 6455 7.1.2 starts the closing handshake; wait first until every message
   * is handed to the operating system, so nothing sent is lost.
   */
  private flushThenClose(): void {
    clearTimeout(this.flushTimer);
    const client = this.client!;
    if (this.finished || client.readyState !== 'open') return; // onClose decides what comes next
    if (client.bufferedAmount === 0) {
      this.sendClose();
      return;
    }
    this.flushTimer = setTimeout(() => this.flushThenClose(), FLUSH_POLL_MS);
  }

  private sendClose(): void {
    this.closeSent = true;
    this.client!.close(this.config.closeCode, this.config.closeReason);
  }

  /** No more connections: report unsent input, finish. */
  private giveUp(): void {
    const client = this.client!;
    client.cancelReconnect();
    if (this.reconnecting) {
      this.status.error(`reconnection cancelled: ${this.interrupted ? 'interrupted' : 'stdin has ended and nothing is left to send'}`);
    }
    this.reconnecting = false;
    if (client.bufferedAmount > 0) {
      this.status.error(`${client.bufferedAmount} byte(s) of input were not sent`);
      this.inputLost = true;
    }
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.flushTimer);
    clearInterval(this.inputTimer);
    this.status.done();
    this.lines?.close();
    this.io.stdin.destroy();
    if (this.interrupted) this.resolve(ExitStatus.Interrupted);
    else this.resolve(this.failure ?? (this.inputLost ? ExitStatus.ConnectionFailed : ExitStatus.Ok));
  }
}

/**
 * What to try after a TLS failure. A certificate for another name is not
 * cured by --ca (the CA is not the problem): say to use a name it covers.
 */
function tlsHint(error: WebSocketError): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  if (cause?.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return "hint: the certificate is not for this host name or address: connect by a name it covers; -k/--insecure skips the check";
  }
  return 'hint: --ca FILE trusts the CA (PEM) that signed the server certificate; -k/--insecure skips the check';
}

/** The start of a refusal's body, on one line. */
function excerpt(body: string): string {
  const line = body.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

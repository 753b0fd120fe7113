// What `wspipe` writes: messages on stdout (one a line, nothing else),
// status and errors on stderr (the prompt and the chatty lines only on a terminal).
import type { Writable } from 'node:stream';
import type { BinaryOutput } from './args.js';

/** One received message as one line of stdout (without the newline). */
export function formatMessage(data: string | Buffer | Buffer[], isBinary: boolean, binaryOutput: BinaryOutput): string {
  if (!isBinary) return String(data);
  const bytes = Array.isArray(data) ? Buffer.concat(data) : data;
  return (bytes as Buffer).toString(binaryOutput);
}

/** The stderr side: errors always; the prompt, "connected" and "closed" only when stdin is a terminal. */
export class StatusLine {
  private prompted = false;

  constructor(
    private readonly stderr: Writable,
    /** stdin is a terminal: show a `> ` prompt and the status lines. */
    readonly interactive: boolean,
  ) {}

  /** An error or a warning: always shown. */
  error(line: string): void {
    this.clearPrompt();
    this.stderr.write(`wspipe: ${line}\n`);
    this.restorePrompt();
  }

  /** A status line for a person at a terminal; nothing when stdin is a pipe or a file. */
  info(line: string): void {
    if (!this.interactive) return;
    this.clearPrompt();
    this.stderr.write(`${line}\n`);
    this.restorePrompt();
  }

  /** Shows the `> ` prompt (terminal only). */
  prompt(): void {
    if (!this.interactive || this.prompted) return;
    this.prompted = true;
    this.stderr.write('> ');
  }

  /** The user pressed Enter: the prompt line is theirs now. */
  lineEntered(): void {
    this.prompted = false;
    this.prompt();
  }

  /** Before a message goes to stdout: take the prompt off the terminal line. */
  clearPrompt(): void {
    if (this.prompted) this.stderr.write('\r\x1b[K');
  }

  /** After a message went to stdout: put the prompt back. */
  restorePrompt(): void {
    if (this.prompted) this.stderr.write('> ');
  }

  /** No more prompts (the input ended or the connection is closing). */
  done(): void {
    this.clearPrompt();
    this.prompted = false;
  }
}

#!/usr/bin/env node
// The wspipe command. With no URL: the reference program against an embedded
// echo server. With a URL: send each stdin line, print each message.
import { CommandLineError, parseCommandLine } from './args.js';
import { runClient } from './client-run.js';
import { runDemo } from './demo.js';
import { ExitStatus } from './exit-status.js';
import { HELP } from './help.js';
import { packageVersion } from './version.js';

async function main(argv: string[]): Promise<ExitStatus> {
  let command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof CommandLineError)) throw error;
    process.stderr.write(`wspipe: ${error.message}\n`);
    return ExitStatus.Usage;
  }
  switch (command.kind) {
    case 'help':
      process.stdout.write(`${HELP}\n`);
      return ExitStatus.Ok;
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return ExitStatus.Ok;
    case 'demo':
      await runDemo();
      return ExitStatus.Ok;
    case 'client': {
      const run = runClient(command.config, {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
        interactive: process.stdin.isTTY === true,
      });
      process.on('SIGINT', () => run.interrupt());
      return run.done;
    }
  }
}

/** Exits once what was written to stdout has been handed over (a pipe may still hold it). */
function exit(status: number): void {
  process.stdout.write('', () => process.exit(status));
}

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  process.stderr.write(`wspipe: unexpected failure (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  exit(ExitStatus.Unexpected);
});

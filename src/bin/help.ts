// The text of `wspipe --help`.
import { EXIT_STATUS_HELP } from './exit-status.js';
import { MAX_RECONNECTS_AFTER_INPUT_END } from './client-run.js';

export const HELP = `usage: wspipe [options] URL      URL: ws://, wss://, ws+unix:///path/to/socket:/request
       wspipe                    a demo against an embedded echo server (takes no options)
       wspipe --version | --help

Sends each line of stdin as a message and prints each message received on
stdout, one a line (binary ones as hex or base64); nothing else goes to stdout.
Status and errors go to stderr; a "> " prompt and a "connected" line only when
stdin is a terminal. At the end of stdin, waits for the handshake and for every
line to be written, closes (1000) and exits.

options:
  -H, --header "Name: value"   extra handshake header (repeatable)
  -o, --origin ORIGIN          the Origin header
  -p, --protocol NAME          offer a subprotocol (repeatable)
      --proxy URL              through a proxy: http://[user:pass@]host:port,
                               socks5://... or socks5h://...
      --handshake-timeout MS   connect + TLS + handshake within MS (default 10000; 0: no limit)
      --ping MS                send a ping every MS milliseconds (a missing pong fails the connection)
  -b, --binary                 send each line as a binary message instead of text
                               (stdin read as bytes, split at \\n only)
      --binary-output FORMAT   print binary messages as hex (default) or base64
      --no-compression         do not offer permessage-deflate
  -w, --wait N                 print N messages received, then close and exit (the
                               end of stdin no longer closes)
      --close-code CODE        the close code to send on exit (default 1000)
      --close-reason TEXT      the close reason to send on exit
  -r, --reconnect              reconnect with exponential backoff when the connection is lost;
                               once stdin has ended, only to deliver what is left
                               (at most ${MAX_RECONNECTS_AFTER_INPUT_END} more attempts)
      --ca FILE                trust this CA certificate (PEM) for wss://
  -k, --insecure               do not verify the server certificate (testing only)
  -V, --version                print the version
  -h, --help                   this text

examples:
  wspipe ws://127.0.0.1:8080/chat                       type lines; Ctrl-D closes
  printf 'a\\nb\\n' | wspipe ws://127.0.0.1:8080/ > out   out holds the messages received
  wspipe -w 1 -H "Cookie: a=b" -p chat wss://host/feed </dev/null
                                                        print the first message, exit 0
  wspipe --binary ws://127.0.0.1:8080/ < file.bin       send a file's \\n-separated parts

${EXIT_STATUS_HELP}`;

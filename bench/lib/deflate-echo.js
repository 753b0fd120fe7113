// The load server's permessage-deflate (RFC 7692) side, for the /echo-deflate
// route: it accepts the client's offer with default parameters, inflates the
// client's compressed messages and deflates each echo, keeping both zlib
// contexts for the connection's life (context takeover).
//
// The server deflates at level 1: it pays for its half of every round trip on
// the same machine, so it is kept cheap; the client's zlib work is what the
// row compares.
import zlib from 'node:zlib';

/** RFC 7692 7.2.1: a sync flush ends with these bytes; they are not sent. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const SERVER_DEFLATE_LEVEL = 1;

/**
 * Picks the first permessage-deflate offer in a Sec-WebSocket-Extensions
 * header. Returns null when there is none, else the response value and the
 * parameters the server must honour.
 */
export function acceptDeflateOffer(header) {
  if (!header) return null;
  for (const offer of header.split(',')) {
    const [name, ...rawParams] = offer.split(';').map((s) => s.trim());
    if (name.toLowerCase() !== 'permessage-deflate') continue;
    const params = new Map(
      rawParams.filter(Boolean).map((p) => {
        const eq = p.indexOf('=');
        return eq < 0 ? [p.toLowerCase(), true] : [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/^"|"$/g, '')];
      }),
    );
    // RFC 7692 7.1.1.1 and 7.1.2.1: what the client asks of the server's
    // compressor must be echoed and obeyed. Nothing else is added: the
    // client's own window and context are its business (the inflater takes
    // any window up to 15 bits).
    const response = ['permessage-deflate'];
    const noContextTakeover = params.has('server_no_context_takeover');
    if (noContextTakeover) response.push('server_no_context_takeover');
    let windowBits = 15;
    if (params.has('server_max_window_bits')) {
      const bits = Number(params.get('server_max_window_bits'));
      if (!(bits >= 8 && bits <= 15)) continue; // an offer we cannot accept; try the next
      windowBits = Math.max(9, bits); // zlib's raw deflate has no 8-bit window
      response.push(`server_max_window_bits=${windowBits}`);
    }
    return { response: response.join('; '), windowBits, noContextTakeover };
  }
  return null;
}

/** Runs zlib stream work one call at a time and gathers what it outputs. */
function gather(stream, write, flushKind) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const onData = (chunk) => chunks.push(chunk);
    const onError = (error) => {
      stream.off('data', onData);
      reject(error);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    write();
    stream.flush(flushKind, () => {
      stream.off('data', onData);
      stream.off('error', onError);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
  });
}

/**
 * One connection's compression state. `echo(rsv1, opcode, payload)` answers
 * each whole message, in order, through `send(opcode, compressedPayload)`.
 */
export class DeflateEcho {
  constructor(accepted, send, fail) {
    this.accepted = accepted;
    this.send = send;
    this.fail = fail;
    this.inflater = zlib.createInflateRaw({ windowBits: 15 });
    this.deflater = zlib.createDeflateRaw({ windowBits: accepted.windowBits, level: SERVER_DEFLATE_LEVEL });
    // Two queues, so that one message can inflate while the one before it
    // deflates: the server keeps up with a client that pipelines.
    this.inflated = Promise.resolve();
    this.echoed = Promise.resolve();
    this.closed = false;
  }

  echo(rsv1, opcode, payload) {
    const message = (this.inflated = this.inflated.then(() => (rsv1 && !this.closed ? this.inflate(payload) : payload)));
    this.echoed = Promise.all([message, this.echoed])
      .then(async ([plain]) => {
        if (this.closed) return;
        const compressed = await this.deflate(plain);
        if (!this.closed) this.send(opcode, compressed);
      })
      .catch((error) => {
        // Both queues stay failed; the socket goes.
        if (!this.closed) this.fail(error);
      });
  }

  inflate(payload) {
    return gather(
      this.inflater,
      () => {
        this.inflater.write(payload);
        this.inflater.write(TRAILER);
      },
      zlib.constants.Z_SYNC_FLUSH,
    );
  }

  async deflate(message) {
    const out = await gather(this.deflater, () => this.deflater.write(message), zlib.constants.Z_SYNC_FLUSH);
    if (this.accepted.noContextTakeover) this.deflater.reset();
    // RFC 7692 7.2.1: remove the 4-byte tail of the sync flush.
    return out.subarray(0, out.length - TRAILER.length);
  }

  /** Frees both zlib contexts; call when the socket closes. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.inflater.close();
    this.deflater.close();
  }
}

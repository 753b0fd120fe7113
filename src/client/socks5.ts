// The client side of a SOCKS5 CONNECT (RFC 1928) with username/password
// authentication (RFC 1929), Sans-I/O: bytes in, bytes to send out. The
// socket, the timers and the name resolution belong to src/client/proxy.ts.

import { isIPv4, isIPv6 } from 'node:net';
import { ErrorCode } from '../protocol/errors.js';

const SOCKS_VERSION = 0x05;
/** RFC 1929 2: the version of the username/password subnegotiation. */
const USERPASS_VERSION = 0x01;

/** RFC 1928 3: the authentication methods we may offer. */
export const Socks5Method = {
  NoAuth: 0x00,
  UserPass: 0x02,
  NoAcceptable: 0xff,
} as const;

/** RFC 1928 5: the address types of a request and of a reply. */
export const Socks5AddressType = {
  IPv4: 0x01,
  Domain: 0x03,
  IPv6: 0x04,
} as const;

/** RFC 1928 6: the REP field of a reply. */
export const Socks5Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

/** The names RFC 1928 6 gives the reply codes, as users will read them. */
const REPLY_NAMES: Readonly<Record<number, string>> = {
  [Socks5Reply.GeneralFailure]: 'general SOCKS server failure',
  [Socks5Reply.NotAllowed]: 'connection not allowed by ruleset',
  [Socks5Reply.NetworkUnreachable]: 'network unreachable',
  [Socks5Reply.HostUnreachable]: 'host unreachable',
  [Socks5Reply.ConnectionRefused]: 'connection refused',
  [Socks5Reply.TtlExpired]: 'TTL expired',
  [Socks5Reply.CommandNotSupported]: 'command not supported',
  [Socks5Reply.AddressTypeNotSupported]: 'address type not supported',
};

/** The name of a SOCKS5 reply code, e.g. `connection refused` for 0x05. */
export function socks5ReplyName(reply: number): string {
  return REPLY_NAMES[reply] ?? `unassigned reply 0x${hex(reply)}`;
}

/**
 * The error code a failed SOCKS5 reply maps to: the three replies that say
 * the proxy could not reach the target are `ProxyTargetUnreachable`; the rest
 * are refusals or faults of the proxy itself.
 */
export function socks5ReplyErrorCode(reply: number): ErrorCode {
  switch (reply) {
    case Socks5Reply.NetworkUnreachable:
    case Socks5Reply.HostUnreachable:
    case Socks5Reply.ConnectionRefused:
      return ErrorCode.ProxyTargetUnreachable;
    default:
      return ErrorCode.ProxyFailed;
  }
}

/**
 * Where the proxy should connect: an IP literal (socks5, resolved by us) or a
 * domain name (socks5h, resolved by the proxy).
 */
export interface Socks5Target {
  host: string;
  port: number;
}

export interface Socks5Credentials {
  username: string;
  password: string;
}

/** Why the negotiation failed; the adapter turns it into a `ProxyError`. */
export interface Socks5Failure {
  code: ErrorCode;
  message: string;
  /** The REP byte, when the failure is a CONNECT reply. */
  reply?: number;
}

/** What the proxy answered once the tunnel is up. */
export interface Socks5Established {
  /** BND.ADDR and BND.PORT: the address the proxy connected from. */
  boundHost: string;
  boundPort: number;
  /** Bytes after the reply: the first bytes from the target. */
  leftover: Buffer;
}

/** What one `push()` asks of the caller. */
export type Socks5Step =
  | { kind: 'need-more' }
  | { kind: 'send'; bytes: Buffer }
  | { kind: 'established'; result: Socks5Established }
  | { kind: 'failed'; failure: Socks5Failure };

type State = 'MethodChoice' | 'AuthStatus' | 'ConnectReply' | 'Established' | 'Failed';

/**
 * One SOCKS5 CONNECT negotiation. Write `greeting()`, then feed every byte the
 * proxy sends to `push()` and do what each step says, until `established` or
 * `failed`. The exchange is strictly request/reply, so at most one message is
 * ever outstanding and nothing is sent before the proxy has answered.
 */
export class Socks5Negotiation {
  private state: State = 'MethodChoice';
  private pending: Buffer = Buffer.alloc(0);
  private readonly target: Socks5Target;
  private readonly credentials: Socks5Credentials | undefined;

  constructor(target: Socks5Target, credentials?: Socks5Credentials) {
    // Validate everything up front, so no malformed byte reaches the proxy.
    this.target = target;
    this.credentials = credentials;
    encodeConnectRequest(target);
    if (credentials) encodeUserPass(credentials);
  }

  /** RFC 1928 3: VER, NMETHODS, METHODS. */
  greeting(): Buffer {
    const methods: number[] = [Socks5Method.NoAuth];
    if (this.credentials) methods.push(Socks5Method.UserPass);
    return Buffer.from([SOCKS_VERSION, methods.length, ...methods]);
  }

  push(chunk: Buffer): Socks5Step {
    if (this.state === 'Established' || this.state === 'Failed') {
      throw new Error(`Socks5Negotiation.push() called in state ${this.state}`);
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    switch (this.state) {
      case 'MethodChoice':
        return this.onMethodChoice();
      case 'AuthStatus':
        return this.onAuthStatus();
      case 'ConnectReply':
        return this.onConnectReply();
    }
  }

  /** RFC 1928 3: the server answers VER and the METHOD it selected. */
  private onMethodChoice(): Socks5Step {
    if (this.pending.length < 2) return { kind: 'need-more' };
    const version = this.pending[0]!;
    const method = this.pending[1]!;
    if (version !== SOCKS_VERSION) {
      return this.fail(ErrorCode.ProxyFailed, `the proxy does not speak SOCKS5 (version byte 0x${hex(version)})`);
    }
    if (this.pending.length > 2) {
      return this.fail(ErrorCode.ProxyFailed, 'the proxy sent unexpected bytes after its method selection');
    }
    this.pending = Buffer.alloc(0);
    if (method === Socks5Method.NoAuth) return this.sendConnect();
    if (method === Socks5Method.UserPass && this.credentials) {
      this.state = 'AuthStatus';
      return { kind: 'send', bytes: encodeUserPass(this.credentials) };
    }
    // RFC 1928 3: X'FF' means none of the offered methods is acceptable;
    // "the client MUST close the connection".
    if (method === Socks5Method.NoAcceptable) {
      return this.fail(
        ErrorCode.ProxyAuthFailed,
        this.credentials
          ? 'the SOCKS5 proxy accepts none of the offered authentication methods'
          : 'the SOCKS5 proxy requires authentication and no credentials were given',
      );
    }
    return this.fail(ErrorCode.ProxyFailed, `the SOCKS5 proxy selected a method that was not offered (0x${hex(method)})`);
  }

  /** RFC 1929 2: VER and STATUS; X'00' is success, anything else a failure. */
  private onAuthStatus(): Socks5Step {
    if (this.pending.length < 2) return { kind: 'need-more' };
    const status = this.pending[1]!;
    if (this.pending.length > 2) {
      return this.fail(ErrorCode.ProxyFailed, 'the proxy sent unexpected bytes after its authentication status');
    }
    this.pending = Buffer.alloc(0);
    // The version byte is not checked: some servers echo 0x05 here, and the
    // status is what matters.
    if (status !== 0x00) {
      return this.fail(ErrorCode.ProxyAuthFailed, 'the SOCKS5 proxy rejected the username/password');
    }
    return this.sendConnect();
  }

  private sendConnect(): Socks5Step {
    this.state = 'ConnectReply';
    return { kind: 'send', bytes: encodeConnectRequest(this.target) };
  }

  /** RFC 1928 6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT. */
  private onConnectReply(): Socks5Step {
    const reply = this.pending;
    if (reply.length < 5) return { kind: 'need-more' };
    if (reply[0] !== SOCKS_VERSION) {
      return this.fail(ErrorCode.ProxyFailed, `malformed SOCKS5 reply (version byte 0x${hex(reply[0]!)})`);
    }
    const rep = reply[1]!;
    if (rep !== Socks5Reply.Succeeded) {
      // The server closes the connection after a failure reply (RFC 1928 6);
      // the address fields carry nothing useful, so there is no need to wait
      // for them.
      return this.fail(
        socks5ReplyErrorCode(rep),
        `the SOCKS5 proxy replied '${socks5ReplyName(rep)}' (0x${hex(rep)})`,
        rep,
      );
    }
    const addressType = reply[3]!;
    let addressEnd: number;
    switch (addressType) {
      case Socks5AddressType.IPv4:
        addressEnd = 4 + 4;
        break;
      case Socks5AddressType.IPv6:
        addressEnd = 4 + 16;
        break;
      case Socks5AddressType.Domain:
        addressEnd = 5 + reply[4]!;
        break;
      default:
        return this.fail(ErrorCode.ProxyFailed, `malformed SOCKS5 reply (address type 0x${hex(addressType)})`);
    }
    if (reply.length < addressEnd + 2) return { kind: 'need-more' };
    const boundHost = decodeAddress(addressType, reply.subarray(4, addressEnd));
    const boundPort = reply.readUInt16BE(addressEnd);
    this.state = 'Established';
    this.pending = Buffer.alloc(0);
    return { kind: 'established', result: { boundHost, boundPort, leftover: reply.subarray(addressEnd + 2) } };
  }

  private fail(code: ErrorCode, message: string, reply?: number): Socks5Step {
    this.state = 'Failed';
    this.pending = Buffer.alloc(0);
    return { kind: 'failed', failure: reply === undefined ? { code, message } : { code, message, reply } };
  }
}

/** RFC 1929 2: VER, ULEN, UNAME, PLEN, PASSWD; each field 1 to 255 bytes. */
export function encodeUserPass(credentials: Socks5Credentials): Buffer {
  const username = Buffer.from(credentials.username, 'utf8');
  const password = Buffer.from(credentials.password, 'utf8');
  // The values themselves stay out of the message: they are secrets.
  if (username.length < 1 || username.length > 255) {
    throw new RangeError('a SOCKS5 username must be 1 to 255 bytes long');
  }
  if (password.length > 255) throw new RangeError('a SOCKS5 password must be at most 255 bytes long');
  return Buffer.concat([
    Buffer.from([USERPASS_VERSION, username.length]),
    username,
    Buffer.from([password.length]),
    password,
  ]);
}

/** RFC 1928 4: VER, CMD (CONNECT), RSV, ATYP, DST.ADDR, DST.PORT. */
export function encodeConnectRequest(target: Socks5Target): Buffer {
  if (!Number.isInteger(target.port) || target.port < 0 || target.port > 0xffff) {
    throw new RangeError(`invalid target port ${String(target.port)}`);
  }
  const address = encodeAddress(target.host);
  const request = Buffer.alloc(3 + address.length + 2);
  request[0] = SOCKS_VERSION;
  request[1] = 0x01; // CONNECT
  request[2] = 0x00; // RSV
  address.copy(request, 3);
  request.writeUInt16BE(target.port, 3 + address.length);
  return request;
}

/** ATYP and DST.ADDR for a host: IP literals by value, anything else as a domain name. */
function encodeAddress(host: string): Buffer {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIPv4(bare)) {
    return Buffer.from([Socks5AddressType.IPv4, ...bare.split('.').map(Number)]);
  }
  if (isIPv6(bare)) return Buffer.concat([Buffer.from([Socks5AddressType.IPv6]), ipv6Bytes(bare)]);
  // RFC 1928 5: "the first octet of the address field contains the number of
  // octets of name that follow, there is no terminating NUL octet."
  const name = Buffer.from(bare, 'utf8');
  if (name.length < 1 || name.length > 255) {
    throw new RangeError('a SOCKS5 domain name must be 1 to 255 bytes long');
  }
  return Buffer.concat([Buffer.from([Socks5AddressType.Domain, name.length]), name]);
}

function decodeAddress(addressType: number, bytes: Buffer): string {
  if (addressType === Socks5AddressType.IPv4) return Array.from(bytes).join('.');
  if (addressType === Socks5AddressType.Domain) return bytes.toString('utf8', 1);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** The 16 bytes of an IPv6 literal (already checked by `isIPv6`). */
function ipv6Bytes(address: string): Buffer {
  let text = address;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...new Array<string>(zeros).fill('0'), ...restGroups];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

// Choosing a proxy from the environment, the way curl reads it. Nothing here
// runs unless the user opts in: the client never consults the environment on
// its own.

import { BlockList, isIP, isIPv4 } from 'node:net';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The proxy URL the environment gives for `target`, or undefined to connect
 * directly. As curl does:
 *
 * - `wss:` uses `https_proxy`/`HTTPS_PROXY`, `ws:` uses `http_proxy`/`HTTP_PROXY`;
 *   either falls back to `all_proxy`/`ALL_PROXY`. The lower-case name wins.
 * - `no_proxy`/`NO_PROXY` lists hosts to reach directly, separated by commas
 *   or spaces: `*` for all; a domain, with or without a leading dot, matches
 *   itself and its subdomains; an IP literal or CIDR range matches addresses;
 *   `host:port` limits the entry to one port.
 * - A value without a scheme is an `http://` proxy.
 *
 * `HTTP_PROXY` in upper case is ignored when `REQUEST_METHOD` is set: in a CGI
 * program it comes from the client's `Proxy:` header ("httpoxy").
 */
export function proxyForUrl(target: URL, env: Env = process.env): string | undefined {
  let proxy: string | undefined;
  switch (target.protocol) {
    case 'ws:':
    case 'http:':
      proxy = read(env, 'http_proxy') ?? (env['REQUEST_METHOD'] === undefined ? read(env, 'HTTP_PROXY') : undefined);
      break;
    case 'wss:':
    case 'https:':
      proxy = read(env, 'https_proxy') ?? read(env, 'HTTPS_PROXY');
      break;
    default:
      // ws+unix: and anything else never goes through a proxy.
      return undefined;
  }
  proxy ??= read(env, 'all_proxy') ?? read(env, 'ALL_PROXY');
  if (proxy === undefined) return undefined;
  const noProxy = read(env, 'no_proxy') ?? read(env, 'NO_PROXY');
  if (noProxy !== undefined && matchesNoProxy(target, noProxy)) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/** Whether a `no_proxy` list names the host (and port) of `target`. */
export function matchesNoProxy(target: URL, noProxy: string): boolean {
  const host = normalizeHost(target.hostname);
  const port = target.port === '' ? defaultPort(target.protocol) : Number(target.port);
  const hostFamily = isIP(host);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, port: entryPort } = splitPort(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (hostFamily !== 0) {
      if (matchesAddress(host, hostFamily, name)) return true;
      continue;
    }
    // A leading '.' (or '*.') is ignored: '.example.com' and 'example.com'
    // both match example.com and every name under it.
    const domain = normalizeHost(name.replace(/^\*?\./, ''));
    if (domain === '') continue;
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** Lower case, no IPv6 brackets, no trailing dot of a fully qualified name. */
function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** Splits `host:port`, `[v6]:port`, `[v6]`; a bare IPv6 literal (or CIDR) has no port. */
function splitPort(entry: string): { name: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, port: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const colon = entry.lastIndexOf(':');
  if (colon !== -1 && entry.indexOf(':') === colon && /^\d+$/.test(entry.slice(colon + 1))) {
    return { name: entry.slice(0, colon), port: Number(entry.slice(colon + 1)) };
  }
  return { name: entry, port: undefined };
}

/** An IP entry matches the same address; a CIDR entry matches its range. */
function matchesAddress(host: string, family: number, entry: string): boolean {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const entryFamily = isIP(address);
  if (entryFamily !== family) return false;
  const type = isIPv4(address) ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (slash === -1) {
    list.addAddress(address, type);
  } else {
    const prefix = Number(entry.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) return false;
    list.addSubnet(address, prefix, type);
  }
  return list.check(host, type);
}

function defaultPort(protocol: string): number {
  return protocol === 'wss:' || protocol === 'https:' ? 443 : 80;
}

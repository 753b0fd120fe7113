// wspipe/relay: a WebSocket relay for proxy authors.
export { createRelay, Relay, type RelayOptions, type RelayMetrics, type RelayEvents, type UpstreamTarget } from './relay.js';
export {
  RelayConnection,
  type Direction,
  type DirectionMetrics,
  type ConnectionMetrics,
  type RelayMessage,
  type MessageVerdict,
  type RelayFrame,
  type RelayCloseReport,
  type SideClose,
} from './connection.js';
export { HOP_BY_HOP_HEADERS, type RelayRequest, type RelayRefusal, type HeaderRewrite } from './request.js';
export type { UpstreamTransportOptions } from './upstream.js';

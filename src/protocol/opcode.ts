/** Frame opcodes (RFC 6455 5.2). */
export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/**
 * RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes
 * or less" (it fits the 7-bit length, so a control frame is never extended).
 */
export const MAX_CONTROL_PAYLOAD_BYTES = 125;

/** RFC 6455 5.5: control frames have the most significant bit of the opcode set. */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Opcodes 3-7 and 0xB-0xF are reserved (RFC 6455 5.2). */
export function isKnownOpcode(opcode: number): boolean {
  return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

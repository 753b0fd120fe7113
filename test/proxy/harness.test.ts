import { describe, expect, it } from 'vitest';
import { requireBinary } from './helpers.js';

describe('the proxy test harness', () => {
  it('fails with the install command when a proxy binary is missing (never skips)', () => {
    expect(() => requireBinary('wspipe-no-such-proxy', 'wspipe-no-such-package')).toThrow(
      "'wspipe-no-such-proxy' is not on PATH; these tests need a real proxy. Install it with: apt-get install -y wspipe-no-such-package",
    );
  });

  it('finds the proxies CI installs', () => {
    expect(requireBinary('tinyproxy', 'tinyproxy')).toMatch(/\/tinyproxy$/);
    expect(requireBinary('microsocks', 'microsocks')).toMatch(/\/microsocks$/);
  });
});

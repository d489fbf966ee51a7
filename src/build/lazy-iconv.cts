/**
 * What the bundled mysql2 gets for `require('iconv-lite')` (src/build/bundle.ts): the two functions
 * it calls (lib/parsers/string.js: getDecoder, getEncoder), loading iconv-lite (550 kB, about 12 ms
 * with its first decoder) only when a charset needs it.
 *
 * mysql2 decodes the server's version string in every handshake as cesu8, which Node's Buffer does
 * not know. For bytes below 0x80 cesu8 and utf8 decode alike (they differ only in how characters
 * beyond the BMP are encoded), so an ASCII-only cesu8 value is decoded by Node; anything else goes
 * to iconv-lite.
 */

interface Decoder {
  write(buffer: Buffer): string;
  end(): string | undefined;
}

interface Iconv {
  getDecoder(encoding: string, options?: unknown): Decoder;
  getEncoder(encoding: string, options?: unknown): unknown;
}

export function lazyIconv(load: () => Iconv): Iconv {
  let iconv: Iconv | undefined;
  const real = (): Iconv => (iconv ??= load());
  const shim: Iconv = {
    getDecoder(encoding, options) {
      if (encoding.toLowerCase() !== 'cesu8' || options !== undefined) return real().getDecoder(encoding, options);
      // mysql2 keeps one decoder per encoding and calls write() then end() for each value.
      let inner: Decoder | undefined;
      let pending = false;
      let written = false;
      return {
        write(buffer) {
          const first = !written;
          written = true;
          if (!pending && buffer.every((byte) => byte < 0x80)) return buffer.toString('latin1');
          pending = true;
          // iconv-lite strips a BOM from the first value a decoder sees, and only from that one:
          // a decoder made after values were passed here must not strip it from a later value.
          return (inner ??= real().getDecoder(encoding, first ? undefined : { stripBOM: false })).write(buffer);
        },
        end() {
          if (!pending) return undefined;
          pending = false;
          return inner?.end();
        },
      };
    },
    getEncoder: (encoding, options) => real().getEncoder(encoding, options),
  };
  // Any other member (a later mysql2 may use one) is iconv-lite's own.
  return new Proxy(shim, { get: (target, key) => (key in target ? target[key as keyof Iconv] : (real() as unknown as Record<PropertyKey, unknown>)[key]) });
}

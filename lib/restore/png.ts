// PPM (P6, what QEMU's screendump writes without format=png, and all QEMU < 7.1 can write) → PNG with
// node:zlib only (no native dependency): 8-bit RGB, filter 0 per row.
import { deflateSync } from "node:zlib";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function ppmToPng(ppm: Buffer): Buffer {
  // Header: "P6" ws width ws height ws maxval single-ws, comments (#…\n) allowed.
  let pos = 0;
  const token = (): string => {
    for (;;) {
      while (pos < ppm.length && /\s/.test(String.fromCharCode(ppm[pos]!))) pos++;
      if (ppm[pos] === 0x23) while (pos < ppm.length && ppm[pos] !== 0x0a) pos++;
      else break;
    }
    const start = pos;
    while (pos < ppm.length && !/\s/.test(String.fromCharCode(ppm[pos]!))) pos++;
    return ppm.subarray(start, pos).toString("ascii");
  };
  if (token() !== "P6") throw new Error("not a binary PPM (P6)");
  const width = Number(token());
  const height = Number(token());
  const max = Number(token());
  pos++;
  if (!(width > 0 && height > 0 && max === 255)) throw new Error("unsupported PPM header");
  const rowBytes = width * 3;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) ppm.copy(raw, y * (rowBytes + 1) + 1, pos + y * rowBytes, pos + (y + 1) * rowBytes);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export function isPng(buf: Buffer): boolean {
  return buf.length > 8 && buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
}

// Binary byte units as QEMU sizes guest memory and disks (B, KiB, MiB, GiB, TiB): the one scaling rule
// behind the dashboard's and the CLI's byte counts. Each of them rounds and marks "no value" its own way.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** 1536 → { value: 1.5, unit: "KiB" }: the largest unit that keeps value ≥ 1 (TiB at the most). */
export function toBinaryUnit(bytes: number): { value: number; unit: (typeof UNITS)[number] } {
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < UNITS.length - 1) {
    value /= 1024;
    i++;
  }
  return { value, unit: UNITS[i]! };
}

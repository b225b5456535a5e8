// Test assertion: a guest-kit VM is running and making progress — it prints `count` more complete
// `tick` lines on its serial console and the tick number moved on. Failure tests use it to prove that
// a failed or cancelled snapshot left the guest running (QEMU.md §2: a broken stream freezes it).
// expectGuestWritesPast: the guest wrote its disk well past a snapshot's instant (before a rollback),
// lastDiskN: the disk counter it reported last.
import { expect } from "vitest";
import { parseGuestTicks } from "./guest-kit";
import type { TestVm } from "./qemu";

/** The last disk counter value the guest reported (0 before its first complete tick line). */
export function lastDiskN(vm: TestVm): number {
  return parseGuestTicks(vm.serialOutput()).at(-1)?.diskN ?? 0;
}

export async function expectGuestAdvances(vm: TestVm, count = 2): Promise<void> {
  let offset = vm.serialOutput().length;
  const before = parseGuestTicks(vm.serialOutput()).at(-1)?.tick ?? 0;
  for (let i = 0; i < count; i++) {
    const m = await vm.waitForSerial(/^tick [^\n]*\n/m, 20_000, offset);
    offset = (m.index ?? 0) + m[0].length;
  }
  expect(parseGuestTicks(vm.serialOutput()).at(-1)!.tick).toBeGreaterThan(before);
}

/**
 * Lets the guest write on well past `atDiskN` (its disk counter at a snapshot): waits for three more
 * complete ticks and expects the counter to have moved more than 20 writes on. Returns the counter reached.
 */
export async function expectGuestWritesPast(vm: TestVm, atDiskN: number): Promise<number> {
  await vm.waitForSerial(
    /^tick \d+ [^\n]*\n(?:[^\n]*\n)*?tick \d+ [^\n]*\n(?:[^\n]*\n)*?tick \d+ /m,
    30_000,
    vm.serialOutput().length,
  );
  const reached = lastDiskN(vm);
  expect(reached).toBeGreaterThan(atDiskN + 20);
  return reached;
}

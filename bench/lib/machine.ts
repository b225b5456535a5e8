// The machine a benchmark ran on, and how loaded it was: every result file and table carries both,
// because on a shared 2-core host a figure means little without the load next to it.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cpus: number;
  /** "hypervisor" when this Linux itself runs in a VM (nested: page walks cost more). */
  virtualization: "hypervisor" | "bare-metal";
  memTotalGiB: number;
  kernel: string;
  qemu: string;
  kvm: boolean;
  node: string;
  thp: string;
}

export interface LoadSample {
  /** 1-minute load average. */
  load1: number;
  /** /proc/pressure/cpu "some avg10": % of the last 10 s some task waited for a CPU. */
  cpuPressure10: number | null;
}

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

export function qemuVersion(): string {
  try {
    return execFileSync(process.env.SNAPFLEET_QEMU ?? "qemu-system-x86_64", ["--version"], { encoding: "utf8" })
      .split("\n")[0]
      .trim();
  } catch {
    return "unknown";
  }
}

export function machineInfo(): MachineInfo {
  const cpuinfo = read("/proc/cpuinfo");
  return {
    hostname: os.hostname(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpus: os.cpus().length,
    virtualization: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo) ? "hypervisor" : "bare-metal",
    memTotalGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: os.release(),
    qemu: qemuVersion(),
    kvm: (() => {
      try {
        readFileSync("/dev/kvm");
        return true;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EISDIR";
      }
    })(),
    node: process.version,
    thp: /\[(\w+)\]/.exec(read("/sys/kernel/mm/transparent_hugepage/enabled"))?.[1] ?? "unknown",
  };
}

export function loadSample(): LoadSample {
  const m = /^some avg10=([\d.]+)/m.exec(read("/proc/pressure/cpu"));
  return { load1: Math.round(os.loadavg()[0] * 100) / 100, cpuPressure10: m ? Number(m[1]) : null };
}

export function describeMachine(m: MachineInfo): string {
  return `${m.cpus} × ${m.cpuModel} (${m.virtualization}), ${m.memTotalGiB} GiB, Linux ${m.kernel}, ${m.qemu}, ${m.kvm ? "KVM" : "TCG (no KVM)"}, THP ${m.thp}, Node ${m.node}`;
}

// A QEMU the dashboard started by itself (a rollback starts the VM's QEMU detached, in its own
// session) seen as a TestVm for the guest-kit helpers: same serial log and stderr file as the VM it
// replaced, its own pid. The test must kill it at the end: killDetached() does, for every pid adopted.
import { readFileSync } from "node:fs";
import type { TestVm } from "../support/qemu";

const adopted = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

export function adoptDetachedQemu(like: TestVm, pid: number): TestVm {
  adopted.add(pid);
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  const exited = new Promise<number | null>((resolve) => {
    const t = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(t);
        resolve(null);
      }
    }, 200);
    t.unref();
  });
  const vm: TestVm = {
    ...like,
    pid,
    serialOutput: () => read(like.serialPath).replaceAll("\r", ""),
    stderr: () => read(`${like.dir}/qemu.stderr`),
    exited,
    kill: (signal = "SIGKILL") => {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    },
    waitForSerial: async (pattern, timeoutMs = 30_000, fromOffset = 0) => {
      const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const out = vm.serialOutput();
        const m = re.exec(out.slice(fromOffset));
        if (m) {
          m.index = (m.index ?? 0) + fromOffset;
          return m;
        }
        if (Date.now() > deadline || !alive(pid))
          throw new Error(
            `${pattern} not seen on serial of pid ${pid}\n${out.slice(-2000)}\n${vm.stderr().slice(-1500)}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    dispose: async () => killDetached([pid]),
  };
  return vm;
}

/** SIGKILLs detached QEMUs the dashboard started (default: every one adopted) and waits for them. */
export async function killDetached(pids: Iterable<number> = adopted): Promise<void> {
  for (const pid of [...pids]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    adopted.delete(pid);
  }
}

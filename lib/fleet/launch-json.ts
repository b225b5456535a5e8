// The wire shape of a VM's launch facts (how its QEMU runs), stored on Vm.launch at discovery and
// copied onto each Snapshot.launch when the snapshot starts (the facts of its instant). Client-safe.
import { z } from "zod";

export const launchFactsSchema = z.object({
  readAt: z.string(),
  /** Where the facts come from: /proc on the dashboard's machine, over SSH, or not available (tls). */
  source: z.enum(["proc", "ssh", "unavailable"]),
  /** Why some facts are missing, when they are. */
  note: z.string().nullable(),
  pid: z.number().nullable(),
  startTicks: z.number().nullable(),
  /** QEMU's full argv (argv[0] included), exactly as the kernel has it. */
  argv: z.array(z.string()).nullable(),
  exe: z.string().nullable(),
  exeDeleted: z.boolean(),
  cwd: z.string().nullable(),
  uid: z.number().nullable(),
  stdout: z.string().nullable(),
  stderr: z.string().nullable(),
  /** Concrete machine type (qom-get /machine type, e.g. "pc-q35-7.2"). */
  machine: z.string().nullable(),
  qemuVersion: z.string(),
  memoryBackends: z.array(z.string()),
  manager: z.object({
    kind: z.enum(["plain", "libvirt", "systemd"]),
    name: z.string().optional(),
    user: z.boolean().optional(),
    reason: z.string(),
  }),
  vmgenid: z.boolean(),
  guestAgent: z.boolean(),
});
export type LaunchFacts = z.infer<typeof launchFactsSchema>;

export function parseLaunchFacts(raw: unknown): LaunchFacts | null {
  const r = launchFactsSchema.safeParse(raw);
  return r.success ? r.data : null;
}

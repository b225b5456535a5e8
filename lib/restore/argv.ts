// Command lines for restores, from the recorded launch facts (lib/fleet/launch-facts.ts):
//  - rollbackArgv: the VM's own command line, plus `-S -incoming defer` when RAM is to be loaded, minus
//    -daemonize (Snapfleet starts it in its own session instead) and any old -incoming; a vmgenid device
//    with a fixed guid gets a new one (guid=auto already changes on every start), so the guest learns it
//    was rolled back (as Proxmox does).
//  - sandboxArgv: the same machine and devices for a throw-away verification QEMU that can touch nothing
//    of the VM: its disks replaced by throw-away overlays, its NICs kept (the vmstate holds their state)
//    but each netdev replaced by an isolated hub port — no network —, every chardev nulled (a socket
//    path would otherwise steal the VM's own monitor or agent socket), serial ports to files in the
//    sandbox directory, no display, its own QMP socket. What cannot be made harmless is refused, with why.
// Pure functions (tests/restore/argv.test.ts).
import { formatQemuArgs, optionOf, parseQemuArgs, rewriteOption, type QemuOption } from "../fleet/qemu-argv";

/** newGuid absent: vmgenid devices unchanged (a failed rollback starts the VM again exactly as it was). */
export function rollbackArgv(argv: string[], opts: { incoming: boolean; newGuid?: () => string }): string[] {
  const out: QemuOption[] = [];
  let hasS = false;
  // A QEMU an earlier rollback started ends in what that rollback added: `-S -incoming defer`
  // (`-incoming defer` alone when the VM's own command line had -S). Its launch facts carry them.
  let args = argv.slice(1);
  const tail = args.slice(-3).join(" ");
  if (tail === "-S -incoming defer") args = args.slice(0, -3);
  else if (args.slice(-2).join(" ") === "-incoming defer") args = args.slice(0, -2);
  for (const o of parseQemuArgs(args)) {
    if (o.flag === "-incoming" || o.flag === "-daemonize") continue;
    if (o.flag === "-S") hasS = true;
    if (opts.newGuid && o.flag === "-device" && o.value !== undefined && optionOf(o).driver === "vmgenid") {
      const newGuid = opts.newGuid;
      out.push({
        flag: o.flag,
        value: rewriteOption(o.value, "driver", (d) => (d.guid === "auto" ? d : { ...d, guid: newGuid() })),
      });
      continue;
    }
    out.push(o);
  }
  if (opts.incoming) {
    if (!hasS) out.push({ flag: "-S" });
    out.push({ flag: "-incoming", value: "defer" });
  }
  return [argv[0]!, ...formatQemuArgs(out)];
}

export interface SandboxSpec {
  /** The sandbox's private directory. */
  dir: string;
  qmpSocket: string;
  /** VM image path → the throw-away overlay that replaces it. */
  disks: Map<string, string>;
  incoming: boolean;
  /** The guest agent's chardev id, to be given a socket in `dir`. */
  agentChardev?: string;
  agentSocket?: string;
  /** Whether a memory-backend-file mem-path is a directory (then QEMU makes its own file in it). */
  isDirectory: (p: string) => boolean;
}

export interface SandboxArgv {
  argv: string[];
  /** Reasons the command line cannot be sandboxed; non-empty → do not start it. */
  refusals: string[];
  serialLogs: string[];
}

const DROP_WITH_VALUE = new Set([
  "-incoming",
  "-pidfile",
  "-qmp",
  "-qmp-pretty",
  "-monitor",
  "-mon",
  "-vnc",
  "-spice",
  "-gdb",
  "-D",
  "-trace",
  "-chroot",
  "-loadvm",
  "-writeconfig",
  "-display",
  "-daemonize",
]);
const DROP_FLAG = new Set(["-daemonize", "-nographic", "-s", "-sdl", "-curses", "-full-screen", "-S"]);

/** Where a disk option names its image, and its implied first key (`-drive <file>`, `-blockdev <driver>`). */
const DISK_KEYS = {
  "-blockdev": { file: "filename", implied: "driver" },
  "-drive": { file: "file", implied: "file" },
} as const;

function readOnly(o: Record<string, unknown>): boolean {
  const v = o["read-only"] ?? o.readonly;
  return v === true || v === "on" || v === "true" || o.media === "cdrom";
}

export function sandboxArgv(argv: string[], spec: SandboxSpec): SandboxArgv {
  const out: QemuOption[] = [];
  const refusals: string[] = [];
  const serialLogs: string[] = [];
  let hub = 100;
  for (const o of parseQemuArgs(argv.slice(1))) {
    if (DROP_FLAG.has(o.flag) && o.value === undefined) continue;
    if (DROP_WITH_VALUE.has(o.flag)) continue;
    const value = o.value ?? "";
    switch (o.flag) {
      case "": {
        refusals.push(`the bare argument "${value}" (an image given without -drive) cannot be replaced by an overlay`);
        continue;
      }
      case "-readconfig":
      case "-add-fd":
        refusals.push(`${o.flag} ${value}: what it defines cannot be checked for the sandbox`);
        continue;
      case "-serial": {
        const log = `${spec.dir}/serial${serialLogs.length}.log`;
        serialLogs.push(log);
        out.push({ flag: "-serial", value: value === "none" ? "none" : `file:${log}` });
        continue;
      }
      case "-parallel":
        out.push({ flag: "-parallel", value: value === "none" ? "none" : "null" });
        continue;
      case "-chardev": {
        const c = optionOf(o);
        const id = typeof c.id === "string" ? c.id : undefined;
        if (!id) {
          refusals.push(`-chardev ${value} has no id`);
          continue;
        }
        const agent = id === spec.agentChardev && spec.agentSocket;
        out.push({
          flag: "-chardev",
          value: agent ? `socket,id=${id},path=${spec.agentSocket},server=on,wait=off` : `null,id=${id}`,
        });
        continue;
      }
      case "-netdev": {
        const n = optionOf(o);
        if (typeof n.id !== "string") {
          refusals.push(`-netdev ${value} has no id`);
          continue;
        }
        // The NIC stays (its state is in the vmstate); its backend becomes a hub port nothing else joins.
        out.push({ flag: "-netdev", value: `hubport,id=${n.id},hubid=${hub++}` });
        continue;
      }
      case "-nic":
      case "-net":
        if (value === "none") out.push(o);
        else
          refusals.push(
            `${o.flag} ${value}: a NIC and its network backend in one option cannot be kept without the network (use -netdev + -device)`,
          );
        continue;
      case "-device": {
        const d = optionOf(o);
        if (typeof d.driver === "string" && /vfio|vhost-user|vhost-vsock|ivshmem/.test(d.driver)) {
          refusals.push(
            `device ${d.driver}${d.id ? ` (${String(d.id)})` : ""} reaches outside the guest and cannot run in a sandbox`,
          );
          continue;
        }
        out.push(o);
        continue;
      }
      case "-object": {
        const ob = optionOf(o);
        if (
          ob["qom-type"] === "memory-backend-file" &&
          typeof ob["mem-path"] === "string" &&
          !spec.isDirectory(ob["mem-path"])
        ) {
          // A file mem-path may be the VM's own RAM (share=on): the sandbox gets its own file instead.
          out.push({
            flag: "-object",
            value: rewriteOption(value, "qom-type", (x) => ({ ...x, "mem-path": spec.dir })),
          });
          continue;
        }
        if (typeof ob["qom-type"] === "string" && /^input-linux$|^can-host/.test(ob["qom-type"])) {
          refusals.push(`object ${ob["qom-type"]} reaches a host device`);
          continue;
        }
        out.push(o);
        continue;
      }
      case "-blockdev":
      case "-drive": {
        const keys = DISK_KEYS[o.flag];
        const d = optionOf(o);
        const file = typeof d[keys.file] === "string" ? (d[keys.file] as string) : undefined;
        const overlay = file !== undefined ? spec.disks.get(file) : undefined;
        if (overlay) {
          out.push({
            flag: o.flag,
            value: rewriteOption(value, keys.implied, (x) => ({ ...x, [keys.file]: overlay })),
          });
          continue;
        }
        if (file && !readOnly(d))
          refusals.push(`disk ${file} is not part of the snapshot and is writable: the sandbox could change it`);
        else if (
          o.flag === "-blockdev" &&
          typeof d.driver === "string" &&
          /^(nbd|iscsi|rbd|gluster|ssh|http|https|curl)$/.test(d.driver) &&
          !readOnly(d)
        ) {
          refusals.push(`network disk (${d.driver}) is not part of the snapshot and is writable`);
        }
        out.push(o);
        continue;
      }
      default:
        out.push(o);
    }
  }
  out.push(
    { flag: "-display", value: "none" },
    { flag: "-qmp", value: `unix:${spec.qmpSocket},server=on,wait=off` },
    { flag: "-S" },
  );
  if (spec.incoming) out.push({ flag: "-incoming", value: "defer" });
  return { argv: [argv[0]!, ...formatQemuArgs(out)], refusals, serialLogs };
}

// QEMU command lines as data: split one into its options, read and rewrite an option's key=value list
// (QEMU's own escaping: "," inside a value is written ",,"; JSON objects for -blockdev/-device/-object
// in QEMU ≥ 6), and recognise what matters for restores — the VM's manager, a vmgenid device, a guest
// agent channel. Pure functions (tests/restore/qemu-argv.test.ts); no I/O.
// Invariants: format(parse(x)) keeps every option it does not change; values are never shell-quoted
// here (argv goes to execve, never to a shell).

export interface QemuOption {
  /** "-device", "-m", …; for a bare argument (an old-style disk image) the empty string. */
  flag: string;
  /** The option's argument, when it takes one. */
  value?: string;
}

/** QEMU options that take no argument (QEMU 7.2–10.0, qemu-options.hx); every other "-x" takes one. */
const NO_ARG = new Set([
  "-S",
  "-s",
  "-snapshot",
  "-nographic",
  "-nodefaults",
  "-no-user-config",
  "-no-reboot",
  "-no-shutdown",
  "-daemonize",
  "-enable-kvm",
  "-full-screen",
  "-no-hpet",
  "-no-acpi",
  "-no-fd-bootchk",
  "-no-quit",
  "-alt-grab",
  "-ctrl-grab",
  "-portrait",
  "-old-param",
  "-win2k-hack",
  "-no-frame",
  "-sdl",
  "-curses",
  "-enable-fips",
  "-only-migratable",
  "-preconfig",
  "-semihosting",
  "-version",
  "-help",
  "-h",
  "-enable-sync-profile",
  "-xen-attach",
  "-rtc-td-hack",
  "-usb",
  "-singlestep",
  "-one-insn-per-tb",
]);

function canonicalFlag(arg: string): string {
  return arg.startsWith("--") ? arg.slice(1) : arg;
}

/** argv without argv[0] → options in order. */
export function parseQemuArgs(args: string[]): QemuOption[] {
  const out: QemuOption[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("-") || a === "-") {
      out.push({ flag: "", value: a });
      continue;
    }
    const flag = canonicalFlag(a);
    if (NO_ARG.has(flag) || i + 1 >= args.length) out.push({ flag });
    else out.push({ flag, value: args[++i] });
  }
  return out;
}

export function formatQemuArgs(options: QemuOption[]): string[] {
  return options.flatMap((o) =>
    o.flag === "" ? [o.value ?? ""] : o.value === undefined ? [o.flag] : [o.flag, o.value],
  );
}

/** "a=1,b=x,,y,c" → [["a","1"],["b","x,y"],["c",undefined]] (",," is a literal comma). */
export function parseKeyValues(s: string): Array<[string, string | undefined]> {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === ",") {
      if (s[i + 1] === ",") {
        cur += ",";
        i++;
        continue;
      }
      parts.push(cur);
      cur = "";
    } else cur += s[i];
  }
  parts.push(cur);
  return parts.map((p) => {
    const eq = p.indexOf("=");
    return eq === -1 ? [p, undefined] : [p.slice(0, eq), p.slice(eq + 1)];
  });
}

export function formatKeyValues(kv: Array<[string, string | undefined]>): string {
  return kv.map(([k, v]) => (v === undefined ? k.replaceAll(",", ",,") : `${k}=${v.replaceAll(",", ",,")}`)).join(",");
}

/**
 * An option value as an object: JSON ({"driver":…}) or key=value with the leading implied key
 * (`-device virtio-blk-pci,drive=d0` → { driver: "virtio-blk-pci", drive: "d0" }).
 */
export function optionObject(value: string, impliedKey: string): Record<string, unknown> {
  if (value.trimStart().startsWith("{")) {
    try {
      return JSON.parse(value) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  const obj: Record<string, unknown> = {};
  for (const [i, [k, v]] of parseKeyValues(value).entries()) {
    if (v === undefined && i === 0) obj[impliedKey] = k;
    else obj[k] = v ?? "on";
  }
  return obj;
}

/** Rewrites an option value keeping its syntax (JSON stays JSON, key=value stays key=value). */
export function rewriteOption(
  value: string,
  impliedKey: string,
  change: (o: Record<string, unknown>) => Record<string, unknown>,
): string {
  if (value.trimStart().startsWith("{")) return JSON.stringify(change(optionObject(value, impliedKey)));
  const kv = parseKeyValues(value);
  const first = kv[0];
  const implied = first && first[1] === undefined ? first[0] : undefined;
  const next = change(optionObject(value, impliedKey));
  const out: Array<[string, string | undefined]> = [];
  if (implied !== undefined && typeof next[impliedKey] === "string") out.push([next[impliedKey] as string, undefined]);
  for (const [k, v] of Object.entries(next)) {
    if (implied !== undefined && k === impliedKey) continue;
    if (v === undefined || v === null) continue;
    out.push([k, String(v)]);
  }
  return formatKeyValues(out);
}

/** The implied first key of the options Snapfleet reads. */
export const IMPLIED_KEY: Record<string, string> = {
  "-device": "driver",
  "-object": "qom-type",
  "-netdev": "type",
  "-nic": "type",
  "-chardev": "backend",
  "-machine": "type",
  "-M": "type",
  "-display": "type",
  "-name": "guest",
  "-blockdev": "driver",
  "-drive": "file",
};

export function optionOf(o: QemuOption): Record<string, unknown> {
  return o.value === undefined ? {} : optionObject(o.value, IMPLIED_KEY[o.flag] ?? "_");
}

export interface ManagerFacts {
  kind: "plain" | "libvirt" | "systemd";
  /** libvirt domain name, or the systemd unit. */
  name?: string;
  /** systemd: a --user unit. */
  user?: boolean;
  /** Why Snapfleet thinks so, in words. */
  reason: string;
}

/**
 * Who owns the process: libvirt (`-name guest=<dom>` and paths under /var/lib/libvirt/), a systemd
 * service (the process's cgroup is a *.service other than the dashboard's own), or nobody (plain).
 */
export function detectManager(argv: string[], cgroup: string[], ownCgroup: string[]): ManagerFacts {
  const opts = parseQemuArgs(argv.slice(1));
  const name = opts.find((o) => o.flag === "-name");
  const guest = name?.value ? parseKeyValues(name.value).find(([k]) => k === "guest")?.[1] : undefined;
  if (guest && argv.some((a) => a.includes("/var/lib/libvirt/"))) {
    return {
      kind: "libvirt",
      name: guest,
      reason: `-name guest=${guest} with paths under /var/lib/libvirt/: libvirt domain "${guest}"`,
    };
  }
  const unitOf = (lines: string[]) => {
    const path = lines.map((l) => l.split(":").slice(2).join(":")).find((p) => p.startsWith("/")) ?? "";
    const services = path.split("/").filter((s) => s.endsWith(".service") && !/^user@\d+\.service$/.test(s));
    return { unit: services.at(-1), user: /\/user@\d+\.service\//.test(path) };
  };
  const own = unitOf(ownCgroup).unit;
  const { unit, user } = unitOf(cgroup);
  if (unit && unit !== own) {
    return {
      kind: "systemd",
      name: unit,
      user,
      reason: `its cgroup belongs to the systemd ${user ? "user " : ""}unit ${unit}`,
    };
  }
  return {
    kind: "plain",
    reason: unit ? `it runs in the dashboard's own unit ${unit}` : "no libvirt domain and no systemd service owns it",
  };
}

/** The vmgenid devices of a command line (id and guid as given; "auto" means QEMU picks one per start). */
export function vmgenidDevices(argv: string[]): Array<{ id?: string; guid?: string }> {
  return parseQemuArgs(argv.slice(1))
    .filter((o) => o.flag === "-device")
    .map(optionOf)
    .filter((d) => d.driver === "vmgenid")
    .map((d) => ({
      id: typeof d.id === "string" ? d.id : undefined,
      guid: typeof d.guid === "string" ? d.guid : undefined,
    }));
}

/** The chardev id of the guest agent channel (virtserialport name=org.qemu.guest_agent.0), if any. */
export function guestAgentChardev(argv: string[]): string | undefined {
  const port = parseQemuArgs(argv.slice(1))
    .filter((o) => o.flag === "-device")
    .map(optionOf)
    .find((d) => d.name === "org.qemu.guest_agent.0" && typeof d.chardev === "string");
  return port?.chardev as string | undefined;
}

// `snapfleet hosts list|add` and `snapfleet vms list`: the fleet as the dashboard sees it. `hosts add`
// builds the same body the Settings → Hosts form sends (lib/validations/host.ts hostCreateSchema) and
// lets the dashboard check it against reality; its per-field message comes back as a refusal (exit 3).
import type { DiscoveryResult } from "../../fleet/discovery";
import type { HostJson, VmListJson } from "../../fleet/vm-json";
import { parseFlags, UsageError } from "../args";
import { EXIT } from "../exit-codes";
import { formatBytes, formatTime, table } from "../format";
import { resolveHost } from "../resolve";
import { listOrPrintJson, printJson, wantsHelp, type VerbContext } from "./context";

export const HOSTS_USAGE = `Usage: snapfleet hosts list [--json]
       snapfleet hosts add local <name> --socket-dir <dir> --snapshot-dir <dir> [--json]
       snapfleet hosts add ssh <name> --address <host> [--port 22] --user <login> --private-key <file>
                                     --socket-dir <dir> --snapshot-dir <dir> [--host-key SHA256:…] [--json]
       snapfleet hosts add tls <name> --endpoint <host:port> [--endpoint …] --ca <file> --cert <file>
                                     --key <file> --snapshot-dir <dir> [--json]
  Adding a host needs the admin role. Paths must lie under the dashboard's SNAPFLEET_HOST_ROOTS.`;

export const VMS_USAGE = `Usage: snapfleet vms list [--host <name|id>] [--state running,paused,…] [--search <text>] [--json]`;

const VM_PAGE = 500;

export async function runHosts(args: string[], ctx: VerbContext): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || wantsHelp(args)) {
    ctx.io.stdout.write(`${HOSTS_USAGE}\n`);
    return action === undefined ? EXIT.usage : EXIT.done;
  }
  if (action === "list") return hostsList(rest, ctx);
  if (action === "add") return hostsAdd(rest, ctx);
  throw new UsageError(`unknown hosts action "${action}"\n${HOSTS_USAGE}`);
}

async function hostsList(args: string[], ctx: VerbContext): Promise<number> {
  const body = await listOrPrintJson<{ hosts: HostJson[] }>("hosts list", HOSTS_USAGE, args, ctx, "/api/hosts");
  if (!body) return EXIT.done;
  const rows = body.hosts.map((h) => {
    const present = Object.entries(h.vmCounts).reduce((n, [state, c]) => (state === "gone" ? n : n + c), 0);
    return [
      h.name,
      h.kind,
      h.healthy ? "healthy" : `unhealthy: ${h.healthError ?? "?"}`,
      `${present} (${h.vmCounts.running ?? 0} running)`,
      formatTime(h.lastDiscoveredAt),
      h.id,
    ];
  });
  ctx.io.stdout.write(table(["NAME", "KIND", "HEALTH", "VMS", "DISCOVERED", "ID"], rows));
  return EXIT.done;
}

function hostBody(
  kind: string,
  name: string,
  v: Record<string, string>,
  lists: Record<string, string[]>,
): Record<string, unknown> {
  const need = (flag: string) => {
    const value = v[flag];
    if (value === undefined) throw new UsageError(`hosts add ${kind} needs --${flag}\n${HOSTS_USAGE}`);
    return value;
  };
  switch (kind) {
    case "local":
      return { kind, name, socketDir: need("socket-dir"), snapshotDir: need("snapshot-dir") };
    case "ssh":
      return {
        kind,
        name,
        address: need("address"),
        ...(v.port !== undefined ? { port: v.port } : {}),
        user: need("user"),
        privateKeyPath: need("private-key"),
        socketDir: need("socket-dir"),
        snapshotDir: need("snapshot-dir"),
        ...(v["host-key"] !== undefined ? { hostKeySha256: v["host-key"] } : {}),
      };
    case "tls": {
      const endpoints = (lists.endpoint ?? []).map((e) => {
        const m = /^(.+):(\d+)$/.exec(e);
        if (!m) throw new UsageError(`--endpoint must be <host>:<port>, got "${e}"`);
        return { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
      });
      if (!endpoints.length)
        throw new UsageError(`hosts add tls needs at least one --endpoint <host:port>\n${HOSTS_USAGE}`);
      return {
        kind,
        name,
        tlsEndpoints: endpoints,
        tlsCaPath: need("ca"),
        tlsCertPath: need("cert"),
        tlsKeyPath: need("key"),
        snapshotDir: need("snapshot-dir"),
      };
    }
    default:
      throw new UsageError(`host kind must be local, ssh or tls, not "${kind}"\n${HOSTS_USAGE}`);
  }
}

const HOST_FLAGS: Record<string, string[]> = {
  local: ["socket-dir", "snapshot-dir"],
  ssh: ["address", "port", "user", "private-key", "socket-dir", "snapshot-dir", "host-key"],
  tls: ["ca", "cert", "key", "snapshot-dir"],
};

async function hostsAdd(args: string[], ctx: VerbContext): Promise<number> {
  const kind = args[0] ?? "";
  if (!HOST_FLAGS[kind])
    throw new UsageError(`host kind must be local, ssh or tls${kind ? `, not "${kind}"` : ""}\n${HOSTS_USAGE}`);
  const flags = parseFlags(args.slice(1), {
    valued: HOST_FLAGS[kind],
    repeatable: kind === "tls" ? ["endpoint"] : [],
    boolean: ["json"],
  });
  if (flags.positional.length !== 1) throw new UsageError(`hosts add ${kind} needs exactly one name\n${HOSTS_USAGE}`);
  const body = hostBody(kind, flags.positional[0]!, flags.values, flags.lists);
  const saved = await (
    await ctx.client()
  ).post<{ host: HostJson; discovery: DiscoveryResult | null }>("/api/hosts", body);
  if (flags.set.has("json")) {
    printJson(ctx, saved);
    return EXIT.done;
  }
  const d = saved.discovery;
  const found = d
    ? d.ok
      ? `discovered ${d.found} VM${d.found === 1 ? "" : "s"}`
      : `discovery failed: ${d.error ?? "?"}`
    : "discovery is still running";
  ctx.io.stdout.write(`added ${saved.host.kind} host ${saved.host.name} (${saved.host.id}): ${found}\n`);
  return EXIT.done;
}

export async function runVms(args: string[], ctx: VerbContext): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || wantsHelp(args)) {
    ctx.io.stdout.write(`${VMS_USAGE}\n`);
    return action === undefined ? EXIT.usage : EXIT.done;
  }
  if (action !== "list") throw new UsageError(`unknown vms action "${action}"\n${VMS_USAGE}`);
  const flags = parseFlags(rest, { valued: ["host", "state", "search"], boolean: ["json"] });
  if (flags.positional.length) throw new UsageError(`vms list takes no arguments\n${VMS_USAGE}`);
  const client = await ctx.client();
  const hostId = flags.values.host === undefined ? undefined : (await resolveHost(client, flags.values.host)).id;
  const vms: VmListJson["vms"] = [];
  let total: number;
  for (let offset = 0; ; offset += VM_PAGE) {
    const page = await client.get<VmListJson>("/api/vms", {
      hostId,
      state: flags.values.state,
      q: flags.values.search,
      limit: VM_PAGE,
      offset,
    });
    vms.push(...page.vms);
    total = page.total;
    if (!page.vms.length || vms.length >= page.total) break;
  }
  if (flags.set.has("json")) {
    printJson(ctx, { vms, total });
    return EXIT.done;
  }
  const rows = vms.map((v) => [
    v.name,
    v.hostName,
    v.state,
    formatBytes(v.memoryBytes),
    v.lastSnapshot ? `${v.lastSnapshot.status} ${formatTime(v.lastSnapshot.createdAt)}` : "-",
    v.id,
  ]);
  ctx.io.stdout.write(table(["NAME", "HOST", "STATE", "MEMORY", "LAST SNAPSHOT", "ID"], rows));
  return EXIT.done;
}

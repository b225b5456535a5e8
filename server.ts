// Snapfleet's one Node process: the Next.js request handler, one WebSocket upgrade router (`/ws` goes
// to the realtime hub, every other upgrade — e.g. dev HMR at /_next/hmr — to Next's own handler), and
// the background workers. The database comes up first (embedded PostgreSQL when no DATABASE_URL).
// Every request and upgrade passes the one gate (lib/auth/gate.ts, wired by lib/server/gated-server.ts):
// login, role per route, CSRF, allowed Host names, body cap, audit. A start with no admin prints a
// one-time set-up link.
import next from "next";
import { createSetupToken, hasAdmin, sessionStillValid } from "./lib/auth/store";
import { createGatedServer } from "./lib/server/gated-server";
import { loadConfig } from "./lib/config";
import { startMetricsServer } from "./lib/metrics/loopback-server";
import { startDatabase, type Database } from "./lib/db/database";
import { logger } from "./lib/logger";
import { RealtimeHub, setHub } from "./lib/realtime/hub";
import { reportStartFailure } from "./lib/start-failure";
import { startWorkers } from "./lib/workers";

/** Stopped when the start fails later on, so a failed start leaves no embedded PostgreSQL running. */
let startedDatabase: Database | undefined;

async function main(): Promise<void> {
  const nodeMajor = Number(process.versions.node.split(".")[0]);
  if (nodeMajor < 24) {
    // The vmstate sink runs as a TypeScript child process on Node's own type stripping (Node ≥ 24).
    throw new Error(
      `Snapfleet needs Node.js 24, this is ${process.version}: start it with \`npm start\` or \`npm run dev\`, which use the Node.js 24 installed into node_modules/.bin`,
    );
  }
  const config = loadConfig();
  const dev = config.dev;
  const log = logger.child({ component: "server" });

  const database = await startDatabase(config, log);
  startedDatabase = database;
  const hub = new RealtimeHub(logger.child({ component: "realtime" }), {
    sessionStillValid: (id) => sessionStillValid(id),
  });
  await hub.start(database.url);
  setHub(hub);
  const workers = await startWorkers({
    databaseUrl: database.url,
    discoveryIntervalMs: config.discoveryIntervalMs,
    hub,
    log: logger.child({ component: "workers" }),
  });

  const app = next({ dev, dir: import.meta.dirname, hostname: config.host, port: config.port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const nextUpgrade = app.getUpgradeHandler();

  const server = createGatedServer({
    host: config.host,
    allowedHosts: config.allowedHosts,
    tlsCertPath: config.tlsCertPath,
    tlsKeyPath: config.tlsKeyPath,
    secureCookies: config.secureCookies,
    production: !dev,
    handle: (req, res) => handle(req, res),
    upgradeWs: (req, socket, head, identity) => hub.handleUpgrade(req, socket, head, identity),
    upgradeOther: (req, socket, head) => {
      nextUpgrade(req, socket, head).catch((err: unknown) => {
        log.error({ err }, "Next's upgrade handler failed");
        socket.destroy();
      });
    },
    log,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  const metricsServer = config.metricsPort
    ? await startMetricsServer(config.metricsPort, logger.child({ component: "metrics" }))
    : undefined;
  const scheme = config.tlsCertPath && config.tlsKeyPath ? "https" : "http";
  const shownHost =
    config.host === "0.0.0.0" || config.host === "::"
      ? "localhost"
      : config.host.includes(":")
        ? `[${config.host}]`
        : config.host;
  const baseUrl = `${scheme}://${shownHost}:${config.port}`;
  log.info({ url: baseUrl, version: config.version, dev }, "Snapfleet is up");
  if (!(await hasAdmin())) {
    // The link goes to stdout only (never the log stream's structured fields at a lower level): it is the
    // one way in until an admin exists. Single use, one hour; a restart prints a fresh one.
    const token = await createSetupToken();
    process.stdout.write(
      `\nNo admin yet. Create the first one within an hour at:\n\n    ${baseUrl}/setup#${token}\n\n` +
        `(or from a shell: npx snapfleet user create --admin <name>)\n\n`,
    );
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close();
    metricsServer?.close();
    await workers.stop().catch((err) => log.error({ err }, "stopping workers failed"));
    await hub.close();
    await app.close?.();
    await database.stop().catch((err) => log.error({ err }, "stopping PostgreSQL failed"));
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch(async (err: unknown) => {
  reportStartFailure(err, logger);
  const force = setTimeout(() => process.exit(1), 15_000);
  force.unref();
  await startedDatabase?.stop().catch((e) => logger.error({ err: e }, "stopping PostgreSQL failed"));
  process.exit(1);
});

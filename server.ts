// Snapfleet's one Node process: the Next.js request handler, one WebSocket upgrade router (`/ws` goes
// to the realtime hub, every other upgrade — e.g. dev HMR at /_next/hmr — to Next's own handler), and
// the background workers. The database comes up first (embedded PostgreSQL when no DATABASE_URL).
import { createServer } from "node:http";
import next from "next";
import { loadConfig } from "./lib/config";
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
  const dev = process.env.NODE_ENV !== "production";
  const log = logger.child({ component: "server" });

  const database = await startDatabase(config, log);
  startedDatabase = database;
  const hub = new RealtimeHub(logger.child({ component: "realtime" }));
  await hub.start(database.url);
  setHub(hub);
  const workers = await startWorkers({ databaseUrl: database.url, hub, log: logger.child({ component: "workers" }) });

  const app = next({ dev, dir: import.meta.dirname, hostname: config.host, port: config.port });
  await app.prepare();
  const handle = app.getRequestHandler();
  const nextUpgrade = app.getUpgradeHandler();

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.error({ err, url: req.url }, "request failed");
      if (!res.headersSent) res.writeHead(500).end("internal error");
    });
  });
  server.on("upgrade", (req, socket, head) => {
    const { pathname } = new URL(req.url ?? "/", "http://localhost");
    if (pathname === "/ws") hub.handleUpgrade(req, socket, head);
    else nextUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  log.info({ url: `http://localhost:${config.port}`, version: config.version, dev }, "Snapfleet is up");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    server.close();
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

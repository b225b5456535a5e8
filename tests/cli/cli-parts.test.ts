// The CLI's pure parts: the progress renderers and printer (redraw on a terminal, a plain line per
// change elsewhere), the strict flag parser, and where credentials come from — the environment over the
// file, and a stored credential never sent to a dashboard other than its own; and --wait's loop.
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { until } from "../support/wait";
import { parseFlags } from "../../lib/cli/args";
import { credentialsPath, resolveTarget, writeStored } from "../../lib/cli/credentials";
import { CliError, EXIT } from "../../lib/cli/exit-codes";
import { createProgressPrinter, renderBar, renderPlain } from "../../lib/cli/progress";
import { follow } from "../../lib/cli/verbs/follow";

const MiB = 1048576;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("progress", () => {
  test("the terminal line: status, bar, percent, bytes, rate", () => {
    expect(
      renderBar({
        status: "active",
        progress: 0.42,
        transferredBytes: 80 * MiB,
        totalBytes: 192 * MiB,
        bytesPerSec: 12.3 * MiB,
      }),
    ).toBe("active     [##########--------------]   42%  80.0MiB/192.0MiB  12.3MiB/s");
    expect(renderBar({ status: "setup", progress: null, elapsedMs: 4200 })).toBe("setup      4s");
  });

  test("the plain line names each field", () => {
    expect(
      renderPlain({
        status: "active",
        progress: 0.425,
        transferredBytes: 80 * MiB,
        totalBytes: 192 * MiB,
        bytesPerSec: 0,
      }),
    ).toBe("status=active progress=42% transferred=80.0MiB/192.0MiB");
  });

  test("not a terminal: one line per change of status or whole percent; a terminal: \\r redraws, one newline at the end", () => {
    let plain = "";
    const p = createProgressPrinter({ write: (s: string) => (plain += s) }, false);
    for (const [status, progress] of [
      ["queued", 0],
      ["queued", 0],
      ["active", 0.1],
      ["active", 0.104],
      ["active", 0.5],
      ["completed", 1],
    ] as const)
      p.update({ status, progress });
    p.finish();
    expect(plain).toBe(
      "status=queued progress=0%\nstatus=active progress=10%\nstatus=active progress=50%\nstatus=completed progress=100%\n",
    );

    let tty = "";
    const t = createProgressPrinter({ write: (s: string) => (tty += s) }, true);
    t.update({ status: "active", progress: 0.5 });
    t.update({ status: "completed", progress: 1 });
    t.finish();
    expect(
      tty
        .split("\r")
        .slice(1)
        .map((s) => s.replace(/ +/g, " ")),
    ).toEqual(["active [############------------] 50%\x1b[K", "completed [########################] 100%\x1b[K\n"]);
  });
});

describe("parseFlags", () => {
  test("valued, boolean, repeatable and positional arguments", () => {
    const f = parseFlags(["web-01", "--mode", "live", "--wait", "--endpoint=a:1", "--endpoint", "b:2"], {
      valued: ["mode"],
      boolean: ["wait"],
      repeatable: ["endpoint"],
    });
    expect(f).toEqual({
      values: { mode: "live" },
      lists: { endpoint: ["a:1", "b:2"] },
      set: new Set(["wait"]),
      positional: ["web-01"],
    });
  });

  test("an unknown option, a missing value or a repeated one is a usage error naming it", () => {
    expect(() => parseFlags(["--colour"], {})).toThrow("unknown option --colour");
    expect(() => parseFlags(["--mode"], { valued: ["mode"] })).toThrow("--mode needs a value");
    expect(() => parseFlags(["--mode", "--wait"], { valued: ["mode"], boolean: ["wait"] })).toThrow(
      "--mode needs a value",
    );
    expect(() => parseFlags(["--mode", "a", "--mode", "b"], { valued: ["mode"] })).toThrow("--mode given twice");
  });
});

describe("credentials", () => {
  async function home(): Promise<NodeJS.ProcessEnv> {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sf-cli-cred-"));
    dirs.push(dir);
    return { ...process.env, HOME: dir, XDG_CONFIG_HOME: "", SNAPFLEET_URL: "", SNAPFLEET_TOKEN: "" };
  }

  test("the file is written 0600 in a 0700 directory; SNAPFLEET_URL + SNAPFLEET_TOKEN override it", async () => {
    const env = await home();
    await writeStored({ url: "http://dash:3000", token: "sft_stored" }, credentialsPath(env));
    expect((await stat(credentialsPath(env))).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(credentialsPath(env)))).mode & 0o777).toBe(0o700);
    expect(await resolveTarget(env)).toEqual({
      url: "http://dash:3000",
      credential: { kind: "token", token: "sft_stored" },
    });
    expect(await resolveTarget({ ...env, SNAPFLEET_URL: "http://other:3000/", SNAPFLEET_TOKEN: "sft_env" })).toEqual({
      url: "http://other:3000",
      credential: { kind: "token", token: "sft_env" },
    });
  });

  test("a stored credential is not sent to another dashboard named by SNAPFLEET_URL alone", async () => {
    const env = await home();
    await writeStored({ url: "http://dash:3000", session: "sf_session=abc" }, credentialsPath(env));
    expect(await resolveTarget({ ...env, SNAPFLEET_URL: "http://dash:3000" })).toEqual({
      url: "http://dash:3000",
      credential: { kind: "session", cookie: "sf_session=abc" },
    });
    const refused = await resolveTarget({ ...env, SNAPFLEET_URL: "http://elsewhere:3000" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CliError);
    expect(refused).toMatchObject({
      exitCode: 2,
      message:
        "no credentials for http://elsewhere:3000: run snapfleet login http://elsewhere:3000, or set SNAPFLEET_TOKEN",
    });
  });
});

describe("follow (--wait)", () => {
  const view = (s: string) => ({ status: s, progress: null });

  test("reads until the job ends, riding out an unreachable dashboard; a refusal ends the wait at once", async () => {
    const answers: Array<string | Error> = [
      "queued",
      new CliError(EXIT.failed, "cannot reach the dashboard"),
      "active",
      "completed",
    ];
    const seen: string[] = [];
    const ended = await follow({
      read: async () => {
        const a = answers.shift()!;
        if (a instanceof Error) throw a;
        seen.push(a);
        return a;
      },
      view,
      ended: (s) => s === "completed",
      intervalMs: 1,
    });
    expect([ended, seen]).toEqual(["completed", ["queued", "active", "completed"]]);
    const refused = follow({
      read: () => Promise.reject(new CliError(EXIT.refused, "no snapshot with id x")),
      view,
      ended: () => false,
      intervalMs: 1,
    });
    await expect(refused).rejects.toThrow("no snapshot with id x");
  });

  test("an interrupt ends the wait during a pause without waiting it out; the job is left alone", async () => {
    let interrupt!: () => void;
    const interrupted = new Promise<void>((r) => (interrupt = r));
    let reads = 0;
    const waiting = follow({
      read: async () => (++reads, "active"),
      view,
      ended: () => false,
      intervalMs: 3_600_000,
      interrupted,
    });
    await until(() => (reads === 1 ? true : undefined), "the first read", 5_000);
    interrupt();
    expect(await waiting).toBe("interrupted");
    expect(reads).toBe(1);
  });
});

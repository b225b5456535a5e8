// A start that fails says why, whatever was thrown: the real server entry (server.ts, as `npm start`
// runs it) is started with a preload that makes its first database connection reject with a non-Error
// (fixtures/reject-at-start.ts); it must exit 1, log the failure with pino, and print one sentence with
// the reason on stderr. The sentence's wording is checked directly for the other kinds of reasons.
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { reasonOf, startFailureSentence } from "../../lib/start-failure";

const REPO = path.resolve(import.meta.dirname, "../..");

function startServer(rejection: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--import", "./tests/server/fixtures/reject-at-start.ts", "server.ts"],
    {
      cwd: REPO,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        NODE_ENV: "production",
        NEXT_TELEMETRY_DISABLED: "1",
        DATABASE_URL: "postgresql://snapfleet@127.0.0.1:9/never-reached",
        SNAPFLEET_TEST_REJECTION: rejection,
      },
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server.ts did not exit within 40 s\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, 40_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("a failed start", () => {
  it.each([
    ["string", /^Snapfleet failed to start: the database refused the test's connection\.$/],
    [
      "object",
      /^Snapfleet failed to start: a non-Error value was thrown: \{ code: 'E_TEST_REJECTION', detail: 'refused by start-failure\.test\.ts' \}\.$/,
    ],
    ["undefined", /^Snapfleet failed to start: no reason was given \(the start was rejected with undefined\)\.$/],
  ])("rejected with a %s: the server exits 1 and says why on stderr and in its log", async (rejection, sentence) => {
    const { code, stdout, stderr } = await startServer(rejection);
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(sentence);
    const fatal = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string }; reason?: string })
      .find((l) => l.msg === "Snapfleet failed to start");
    expect(fatal?.level).toBe(60);
    expect(fatal?.err?.message).toBe(fatal?.reason);
    expect(`Snapfleet failed to start: ${fatal?.reason}.`).toMatch(sentence);
  });

  it("words every kind of reason as one sentence", () => {
    expect(startFailureSentence(new Error("port 3000 is in use"))).toBe(
      "Snapfleet failed to start: port 3000 is in use.",
    );
    expect(startFailureSentence(new Error("no Node.js 24."))).toBe("Snapfleet failed to start: no Node.js 24.");
    expect(startFailureSentence(new Error("could not migrate", { cause: new Error("connection reset") }))).toBe(
      "Snapfleet failed to start: could not migrate (connection reset).",
    );
    const refused = Object.assign(
      new AggregateError(
        [new Error("connect ECONNREFUSED ::1:5432"), new Error("connect ECONNREFUSED 127.0.0.1:5432")],
        "",
      ),
      {
        code: "ECONNREFUSED",
      },
    );
    expect(reasonOf(refused)).toBe("connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432");
    expect(reasonOf({ message: "plain object\nwith a message" })).toBe("plain object with a message");
    expect(reasonOf("")).toBe("an empty string was thrown");
    expect(reasonOf(null)).toBe("no reason was given (the start was rejected with null)");
    expect(reasonOf(42)).toBe("42 was thrown");
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    expect(reasonOf(cyclic)).toMatch(
      /^a non-Error value was thrown: <ref \*1> \{ name: 'loop', self: \[Circular \*1\] \}$/,
    );
  });
});

// Secrets never leave the process: credentials inside disk URLs (user:pw@, key=), token-shaped strings
// and secret-named fields are masked in every log line at every level (captured through a pino
// destination and grepped), in API answers (json()) and in what the realtime hub sends.
import { Writable } from "node:stream";
import { describe, expect, test } from "vitest";
import { json } from "../../lib/http/respond";
import { createLogger } from "../../lib/logger";
import { redactSecrets } from "../../lib/security/redact";

const SECRETS = ["hunter2pw", "AQBsecretcephkey==", "s3cr3tq", "jsonpw123", "sft_abcdefghijklmnopqrstuvwxyz012345"];
const DISKS = [
  "nbd://admin:hunter2pw@10.0.0.5:10809/export",
  "rbd:pool/img:id=admin:key=AQBsecretcephkey==:mon_host=10.0.0.1",
  "https://storage.example/disk.qcow2?sig=s3cr3tq&x=1",
  'json:{"driver":"http","url":"http://h/d","password":"jsonpw123"}',
];

function capture() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger(dest, "trace") };
}

describe("redaction", () => {
  test("redactSecrets masks values and keeps the shape", () => {
    expect(redactSecrets(DISKS[0]!)).toBe("nbd://***@10.0.0.5:10809/export");
    expect(redactSecrets(DISKS[1]!)).toBe("rbd:pool/img:id=admin:key=***:mon_host=10.0.0.1");
    expect(redactSecrets(DISKS[2]!)).toBe("https://storage.example/disk.qcow2?sig=***&x=1");
    expect(redactSecrets("/var/lib/images/vm1.qcow2")).toBe("/var/lib/images/vm1.qcow2");
  });

  test("linear on hostile input", () => {
    const started = performance.now();
    redactSecrets(`${"a://".repeat(20_000)}${"key=".repeat(20_000)}${'"password":'.repeat(5000)}`);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("no secret in the captured log, at any level, in fields, messages or errors", () => {
    const { lines, log } = capture();
    const child = log.child({ component: "test", disk: DISKS[0] });
    for (const level of ["trace", "debug", "info", "warn", "error", "fatal"] as const) {
      child[level](
        { disks: DISKS.map((file) => ({ file })), token: SECRETS[4], password: "hunter2pw" },
        `opening ${DISKS[1]}`,
      );
      child[level](`plain message with ${DISKS[2]} and ${DISKS[3]}`);
      const err = new Error(`blockdev-add failed for ${DISKS[0]}`, { cause: new Error(`inner ${DISKS[1]}`) });
      child[level]({ err }, "failed");
    }
    const text = lines.join("");
    expect(lines.length).toBe(18);
    for (const s of SECRETS) expect(text, s).not.toContain(s);
    expect(text).toContain("nbd://***@10.0.0.5");
  });

  test("API answers are masked", async () => {
    const res = json({ vm: { disks: DISKS.map((file) => ({ file })) } });
    const body = await res.text();
    for (const s of SECRETS) expect(body).not.toContain(s);
    expect(JSON.parse(body).vm.disks[0].file).toBe("nbd://***@10.0.0.5:10809/export");
  });
});

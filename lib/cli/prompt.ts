// Reading secrets from the person at the terminal: a prompt without echo on a TTY, or the first line of
// stdin when stdin is a pipe (scripts: `echo "$PW" | snapfleet login …`). Never from the command line,
// where a secret would land in shell history and `ps`.
import { UsageError } from "./args";

export async function readStdinLine(): Promise<string> {
  let data = "";
  for await (const chunk of process.stdin) {
    data += String(chunk);
    if (data.includes("\n") || data.length > 4096) break;
  }
  return data.split(/\r?\n/)[0] ?? "";
}

export function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let value = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const onData = (ch: string) => {
      for (const c of ch) {
        if (c === "\r" || c === "\n") {
          done();
          return resolve(value);
        }
        if (c === "\u0003") {
          done();
          return reject(new UsageError("interrupted"));
        }
        if (c === "\u007f") value = value.slice(0, -1);
        else value += c;
      }
    };
    const done = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    stdin.on("data", onData);
  });
}

/** A visible answer (a user name, y/N) from the terminal. */
export function promptLine(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    process.stderr.write(prompt);
    process.stdin.resume();
    process.stdin.setEncoding("utf8");
    process.stdin.once("data", (chunk: string) => {
      process.stdin.pause();
      resolve(chunk.split(/\r?\n/)[0] ?? "");
    });
  });
}

/** A secret: hidden prompt on a terminal, else stdin's first line. */
export function readSecret(prompt: string): Promise<string> {
  return process.stdin.isTTY ? promptHidden(prompt) : readStdinLine();
}

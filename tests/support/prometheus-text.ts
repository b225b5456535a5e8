// Reading a /metrics answer as Prometheus does: with the official Prometheus Python client's text-format
// parser (Debian's python3-prometheus-client, installed by scripts/ensure-system-deps.sh), never a regex.
// Why not an npm parser: the npm ones tried (parse-prometheus-text-format 1.1.1, exposition 1.2.0) fold
// every series of a histogram that has labels besides `le` into one, and drop their _sum and _count.
// The parser raises on any line that is not valid text format; this module turns that into a thrown
// error carrying the parser's message.
import { execFile } from "node:child_process";

export interface PromSample {
  /** The sample's own name (e.g. x_bucket, x_sum, x_count for a histogram). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  /** The family's name; counters without their `_total` suffix, as the parser reports them. */
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped" | "info" | "stateset" | "gaugehistogram" | "unknown";
  help: string;
  samples: PromSample[];
}

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))} for s in f.samples]})
json.dump(out, sys.stdout)
`;

/** Debian's python3 (the parser is installed for it, not for any other python on the PATH). */
const PYTHON = "/usr/bin/python3";

export function parsePrometheusText(text: string): Promise<PromFamily[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ["-c", PARSE], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new Error(
            `the Prometheus text-format parser refused the exposition: ${stderr.trim().split("\n").at(-1) ?? err.message}`,
            { cause: err },
          ),
        );
        return;
      }
      const raw = JSON.parse(stdout) as Array<
        Omit<PromFamily, "samples"> & { samples: Array<Omit<PromSample, "value"> & { value: string }> }
      >;
      resolve(raw.map((f) => ({ ...f, samples: f.samples.map((s) => ({ ...s, value: toNumber(s.value) })) })));
    });
    child.stdin!.end(text);
  });
}

function toNumber(repr: string): number {
  if (repr === "inf") return Infinity;
  if (repr === "-inf") return -Infinity;
  return Number(repr);
}

/** The one sample named `name` whose labels include `labels` (throws unless exactly one matches). */
export function promSample(families: PromFamily[], name: string, labels: Record<string, string> = {}): PromSample {
  const matches = families
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length !== 1)
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${matches.length}`);
  return matches[0]!;
}

export interface PromHistogram {
  count: number;
  sum: number;
  /** [le, cumulative count], sorted by le; the last is [Infinity, count]. */
  buckets: Array<[number, number]>;
}

/** One histogram series: the `_bucket` samples with exactly these labels besides `le`, its `_sum` and `_count`. */
export function promHistogram(
  families: PromFamily[],
  name: string,
  labels: Record<string, string> = {},
): PromHistogram {
  const same = (l: Record<string, string>) => {
    const { le: _le, ...rest } = l;
    return (
      Object.keys(rest).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => rest[k] === v)
    );
  };
  const buckets = families
    .flatMap((f) => f.samples)
    .filter((s) => s.name === `${name}_bucket` && same(s.labels))
    .map((s): [number, number] => [s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value])
    .sort((a, b) => a[0] - b[0]);
  return {
    count: promSample(families, `${name}_count`, labels).value,
    sum: promSample(families, `${name}_sum`, labels).value,
    buckets,
  };
}

// A JSON Schema (2020-12, as lib/openapi/document.ts emits it) shown as a compact, readable tree:
// object properties with their types and constraints, `$ref`s as links to the schema's section on the
// page (#schema-<Name>). Server component: plain markup, nothing runs in the browser.
import type { ReactNode } from "react";

type Schema = Record<string, unknown>;

const REF_PREFIX = "#/components/schemas/";

export function schemaAnchor(name: string): string {
  return `schema-${name}`;
}

function literal(v: unknown): string {
  return JSON.stringify(v);
}

/** Constraints worth a glance: format, bounds, pattern, default. */
function constraints(s: Schema): string[] {
  const out: string[] = [];
  if (typeof s.format === "string") out.push(s.format);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined && s.maximum !== Number.MAX_SAFE_INTEGER) out.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined) out.push(`length ≥ ${s.minLength}`);
  if (s.maxLength !== undefined) out.push(`length ≤ ${s.maxLength}`);
  if (s.minItems !== undefined) out.push(`items ≥ ${s.minItems}`);
  if (s.maxItems !== undefined) out.push(`items ≤ ${s.maxItems}`);
  if (typeof s.pattern === "string" && s.format === undefined) out.push(`matches ${s.pattern}`);
  if (s.default !== undefined) out.push(`default ${literal(s.default)}`);
  return out;
}

function TypeLine({ s }: { s: Schema }): ReactNode {
  if (typeof s.$ref === "string") {
    const name = s.$ref.startsWith(REF_PREFIX) ? s.$ref.slice(REF_PREFIX.length) : s.$ref;
    return (
      <a className="font-mono text-sky-700 hover:underline dark:text-sky-400" href={`#${schemaAnchor(name)}`}>
        {name}
      </a>
    );
  }
  const extra = constraints(s);
  let type: string;
  if (s.const !== undefined) type = literal(s.const);
  else if (Array.isArray(s.enum)) type = s.enum.map(literal).join(" | ");
  else if (Array.isArray(s.type)) type = s.type.join(" | ");
  else if (typeof s.type === "string") type = s.type;
  else if (s.anyOf || s.oneOf) type = "one of";
  else type = "any";
  return (
    <>
      <span className="font-mono text-emerald-700 dark:text-emerald-400">{type}</span>
      {extra.length > 0 && <span className="text-slate-500"> ({extra.join(", ")})</span>}
    </>
  );
}

export function SchemaView({ schema }: { schema: Schema }): ReactNode {
  const description =
    typeof schema.description === "string" ? <span className="text-slate-500"> — {schema.description}</span> : null;
  const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
  const properties = schema.properties as Record<string, Schema> | undefined;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const items = schema.items as Schema | undefined;
  const values = schema.additionalProperties;
  return (
    <span>
      {items ? (
        <>
          <span className="font-mono text-emerald-700 dark:text-emerald-400">array</span>
          {constraints(schema).length > 0 && (
            <span className="text-slate-500"> ({constraints(schema).join(", ")})</span>
          )}{" "}
          of <SchemaView schema={items} />
        </>
      ) : (
        <TypeLine s={schema} />
      )}
      {description}
      {schema.additionalProperties === false && <span className="text-slate-500"> (no other fields)</span>}
      {typeof values === "object" && values !== null && (
        <>
          {" "}
          — values: <SchemaView schema={values as Schema} />
        </>
      )}
      {variants && (
        <ul className="ml-4 list-disc">
          {variants.map((v, i) => (
            <li key={i}>
              <SchemaView schema={v} />
            </li>
          ))}
        </ul>
      )}
      {properties && (
        <ul className="ml-4 border-l border-slate-200 pl-3 dark:border-slate-800">
          {Object.entries(properties).map(([name, p]) => (
            <li key={name}>
              <code className="font-semibold">{name}</code>
              {required.has(name) ? (
                <span className="text-red-700 dark:text-red-400">*</span>
              ) : (
                <span className="text-slate-400">?</span>
              )}
              {": "}
              <SchemaView schema={p} />
            </li>
          ))}
        </ul>
      )}
    </span>
  );
}

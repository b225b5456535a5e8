// The API reference: the OpenAPI document (lib/openapi/document.ts) rendered as endpoints grouped by
// tag — method, path, role, parameters, request body and answers — then the shared schemas. Server
// component; no external script or stylesheet (no Swagger UI download at runtime).
import type { OpenApiDocument, OpenApiOperation } from "@/lib/openapi/types";
import { schemaAnchor, SchemaView } from "./schema-view";

const METHOD_COLOURS: Record<string, string> = {
  get: "bg-sky-100 text-sky-800 dark:bg-sky-900/50 dark:text-sky-200",
  post: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/50 dark:text-emerald-200",
  patch: "bg-amber-100 text-amber-800 dark:bg-amber-900/50 dark:text-amber-200",
  put: "bg-amber-100 text-amber-800 dark:bg-amber-900/50 dark:text-amber-200",
  delete: "bg-red-100 text-red-800 dark:bg-red-900/50 dark:text-red-200",
};

interface Endpoint {
  method: string;
  path: string;
  op: OpenApiOperation;
}

function endpointsByTag(doc: OpenApiDocument): Map<string, Endpoint[]> {
  const byTag = new Map<string, Endpoint[]>(doc.tags.map((t) => [t.name, []]));
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!op) continue;
      const tag = op.tags[0] ?? "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push({ method, path, op });
    }
  }
  return byTag;
}

function Description({ text }: { text: string }) {
  // The document's descriptions use `code` spans and **bold** only.
  return (
    <>
      {text.split("\n\n").map((para, i) => (
        <p key={i} className="text-sm text-slate-700 dark:text-slate-300">
          {para.split(/(`[^`]+`|\*\*[^*]+\*\*)/).map((part, j) =>
            part.startsWith("`") ? (
              <code key={j} className="rounded bg-slate-100 px-1 dark:bg-slate-800">
                {part.slice(1, -1)}
              </code>
            ) : part.startsWith("**") ? (
              <strong key={j}>{part.slice(2, -2)}</strong>
            ) : (
              part
            ),
          )}
        </p>
      ))}
    </>
  );
}

function OperationView({ method, path, op }: Endpoint) {
  const body = op.requestBody?.content["application/json"]?.schema;
  return (
    <article
      id={op.operationId}
      aria-label={`${method.toUpperCase()} ${path}`}
      className="rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900"
    >
      <header className="flex flex-wrap items-center gap-3">
        <span className={`rounded px-2 py-0.5 font-mono text-xs font-bold uppercase ${METHOD_COLOURS[method] ?? ""}`}>
          {method}
        </span>
        <code className="font-mono text-sm font-semibold">{path}</code>
        <span className="text-sm text-slate-600 dark:text-slate-400">{op.summary}</span>
        <span
          className="ml-auto rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300"
          title="least role needed"
        >
          {op["x-snapfleet-role"]}
        </span>
      </header>
      <div className="mt-2 space-y-2">
        {op.description && <Description text={op.description} />}
        {op.parameters && op.parameters.length > 0 && (
          <section>
            <h4 className="text-xs font-semibold uppercase tracking-wide text-slate-500">Parameters</h4>
            <ul className="text-sm">
              {op.parameters.map((p) => (
                <li key={`${p.in}:${p.name}`}>
                  <code className="font-semibold">{p.name}</code>
                  {p.required ? (
                    <span className="text-red-700 dark:text-red-400">*</span>
                  ) : (
                    <span className="text-slate-400">?</span>
                  )}{" "}
                  <span className="text-slate-500">({p.in})</span> <SchemaView schema={p.schema} />
                  {p.description && <span className="text-slate-500"> — {p.description}</span>}
                </li>
              ))}
            </ul>
          </section>
        )}
        {body && (
          <section>
            <h4 className="text-xs font-semibold uppercase tracking-wide text-slate-500">
              Request body (JSON{op.requestBody!.required ? "" : ", optional"})
            </h4>
            <div className="text-sm">
              <SchemaView schema={body} />
            </div>
          </section>
        )}
        <section>
          <h4 className="text-xs font-semibold uppercase tracking-wide text-slate-500">Responses</h4>
          <ul className="text-sm">
            {Object.entries(op.responses).map(([status, r]) => {
              const [type, media] = Object.entries(r.content ?? {})[0] ?? [];
              return (
                <li key={status}>
                  <span
                    className={`font-mono font-semibold ${Number(status) >= 400 ? "text-red-700 dark:text-red-400" : "text-emerald-700 dark:text-emerald-400"}`}
                  >
                    {status}
                  </span>{" "}
                  {r.description}
                  {media && (
                    <>
                      {" "}
                      <span className="text-slate-500">{type}:</span> <SchemaView schema={media.schema} />
                    </>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
      </div>
    </article>
  );
}

export function ApiReference({ doc }: { doc: OpenApiDocument }) {
  const groups = [...endpointsByTag(doc)].filter(([, endpoints]) => endpoints.length > 0);
  const tagText = new Map(doc.tags.map((t) => [t.name, t.description]));
  return (
    <div className="space-y-8">
      <nav aria-label="API sections" className="flex flex-wrap gap-2 text-sm">
        {groups.map(([tag]) => (
          <a
            key={tag}
            href={`#tag-${tag}`}
            className="rounded-md bg-slate-100 px-2 py-1 hover:bg-slate-200 dark:bg-slate-800 dark:hover:bg-slate-700"
          >
            {tag}
          </a>
        ))}
        <a
          href="#schemas"
          className="rounded-md bg-slate-100 px-2 py-1 hover:bg-slate-200 dark:bg-slate-800 dark:hover:bg-slate-700"
        >
          schemas
        </a>
      </nav>
      {groups.map(([tag, endpoints]) => (
        <section key={tag} id={`tag-${tag}`} aria-labelledby={`tag-${tag}-title`} className="space-y-3">
          <h2 id={`tag-${tag}-title`} className="text-lg font-semibold">
            {tag} <span className="text-sm font-normal text-slate-500">{tagText.get(tag)}</span>
          </h2>
          {endpoints.map((e) => (
            <OperationView key={`${e.method} ${e.path}`} {...e} />
          ))}
        </section>
      ))}
      <section id="schemas" className="space-y-3">
        <h2 className="text-lg font-semibold">Schemas</h2>
        {Object.entries(doc.components.schemas).map(([name, schema]) => (
          <div
            key={name}
            id={schemaAnchor(name)}
            className="rounded-lg border border-slate-200 bg-white p-3 text-sm dark:border-slate-800 dark:bg-slate-900"
          >
            <h3 className="font-mono font-semibold">{name}</h3>
            <SchemaView schema={schema} />
          </div>
        ))}
      </section>
    </div>
  );
}

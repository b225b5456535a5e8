"use client";
// Add or edit a host. The same zod schema as the API checks the form first (instant per-field
// messages); what only the host can tell (directory missing, key refused, host key changed) comes back
// from the API as `details` in the same shape and lands on the same fields.
import { useId, useState, type ReactNode } from "react";
import { z } from "zod";
import { CheckboxField } from "@/components/ui/checkbox-field";
import type { HostJson } from "@/lib/fleet/vm-json";
import { ApiError, apiFetch, messageOf } from "@/lib/http/api-fetch";
import { hostCreateSchema } from "@/lib/validations/host";

type Kind = HostJson["kind"];

interface FormValues {
  kind: Kind;
  name: string;
  socketDir: string;
  snapshotDir: string;
  address: string;
  port: string;
  user: string;
  privateKeyPath: string;
  /** The SSH host key the operator verified on the host (ssh-keygen -lf), for adds and re-pins. */
  hostKeySha256: string;
  tlsEndpoints: string;
  tlsCaPath: string;
  tlsCertPath: string;
  tlsKeyPath: string;
  repinHostKey: boolean;
}

export interface SavedHostResponse {
  host: HostJson;
  discovery: { ok: boolean; found: number; added: number; error?: string } | null;
}

type FieldErrors = Partial<Record<keyof FormValues | "form", string>>;

type TextField = Exclude<keyof FormValues, "kind" | "repinHostKey">;

interface FieldSpec {
  name: TextField;
  label: string;
  placeholder?: string;
  hint?: ReactNode;
  multiline?: boolean;
  inputMode?: "numeric";
}

/** The text fields a host of this kind has, in form order (what bodyFor sends). */
function fieldsFor(kind: Kind): FieldSpec[] {
  const name: FieldSpec = { name: "name", label: "Name", placeholder: "hv-01" };
  const snapshotDir: FieldSpec = {
    name: "snapshotDir",
    label: "Snapshot directory",
    placeholder: "/var/lib/snapfleet/snapshots",
    hint: kind === "tls" ? "On the dashboard's machine." : "On the host; must be writable.",
  };
  if (kind === "tls") {
    return [
      name,
      { name: "tlsCaPath", label: "CA certificate", placeholder: "/etc/snapfleet/tls/ca-cert.pem" },
      { name: "tlsCertPath", label: "Client certificate", placeholder: "/etc/snapfleet/tls/client-cert.pem" },
      { name: "tlsKeyPath", label: "Client key", placeholder: "/etc/snapfleet/tls/client-key.pem" },
      snapshotDir,
      {
        name: "tlsEndpoints",
        label: "Endpoints",
        multiline: true,
        placeholder: "10.0.0.5:4445 web-01\n10.0.0.6:4445",
        hint: "One host:port per line, optionally followed by a name.",
      },
    ];
  }
  const socketDir: FieldSpec = {
    name: "socketDir",
    label: "Socket directory",
    placeholder: kind === "local" ? "/run/snapfleet/qmp" : "/var/run/qemu-server",
    hint: "QMP sockets named *.sock or *.qmp.",
  };
  if (kind === "local") return [name, socketDir, snapshotDir];
  return [
    name,
    { name: "address", label: "Address", placeholder: "hv-01.example.net" },
    { name: "port", label: "Port", inputMode: "numeric" },
    { name: "user", label: "User" },
    {
      name: "privateKeyPath",
      label: "Private key path",
      placeholder: "/etc/snapfleet/id_ed25519",
      hint: "On the dashboard's machine; its public key must be in the user's authorized_keys.",
    },
    {
      name: "hostKeySha256",
      label: "Host key fingerprint",
      placeholder: "SHA256:…",
      hint: "As `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it on the host. Left empty, the host's key is shown here to confirm.",
    },
    socketDir,
    snapshotDir,
  ];
}

function initialValues(host?: HostJson): FormValues {
  return {
    kind: host?.kind ?? "local",
    name: host?.name ?? "",
    socketDir: host?.socketDir ?? "",
    snapshotDir: host?.snapshotDir ?? "",
    address: host?.address ?? "",
    port: String(host?.port ?? 22),
    user: host?.user ?? "root",
    privateKeyPath: host?.privateKeyPath ?? "",
    hostKeySha256: "",
    tlsEndpoints: (host?.tlsEndpoints ?? []).map((e) => `${e.host}:${e.port}${e.name ? ` ${e.name}` : ""}`).join("\n"),
    tlsCaPath: host?.tlsCaPath ?? "",
    tlsCertPath: host?.tlsCertPath ?? "",
    tlsKeyPath: host?.tlsKeyPath ?? "",
    repinHostKey: false,
  };
}

/** "host:port [name]" per line; IPv6 in brackets. Unparseable lines become port NaN (schema says why). */
function parseEndpoints(text: string) {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const [target = "", ...nameParts] = line.split(/\s+/);
      const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
      const name = nameParts.join(" ") || undefined;
      return m
        ? { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]), name }
        : { host: target, port: Number.NaN, name };
    });
}

function bodyFor(v: FormValues): Record<string, unknown> {
  const common = { name: v.name, snapshotDir: v.snapshotDir };
  if (v.kind === "local") return { kind: "local", ...common, socketDir: v.socketDir };
  if (v.kind === "ssh") {
    return {
      kind: "ssh",
      ...common,
      socketDir: v.socketDir,
      address: v.address,
      port: Number(v.port),
      user: v.user,
      privateKeyPath: v.privateKeyPath,
      ...(v.hostKeySha256.trim() ? { hostKeySha256: v.hostKeySha256.trim() } : {}),
    };
  }
  return {
    kind: "tls",
    ...common,
    tlsEndpoints: parseEndpoints(v.tlsEndpoints),
    tlsCaPath: v.tlsCaPath,
    tlsCertPath: v.tlsCertPath,
    tlsKeyPath: v.tlsKeyPath,
  };
}

/** Reads zod's treeified error shape (the API's `details` and our own check) into one message per field. */
export function fieldErrorsFrom(details: unknown): FieldErrors {
  const out: FieldErrors = {};
  const tree = details as {
    errors?: string[];
    properties?: Record<
      string,
      { errors?: string[]; items?: Array<{ properties?: Record<string, { errors?: string[] }> } | undefined> }
    >;
  };
  for (const [field, node] of Object.entries(tree?.properties ?? {})) {
    const nested = (node.items ?? []).flatMap((item, i) =>
      Object.entries(item?.properties ?? {}).flatMap(([k, v]) =>
        (v.errors ?? []).map((m) => `line ${i + 1}: ${k}: ${m}`),
      ),
    );
    const message = [...(node.errors ?? []), ...nested][0];
    if (message) out[field as keyof FormValues] = message;
  }
  if (tree?.errors?.length) out.form = tree.errors[0];
  return out;
}

export function HostForm({
  host,
  onSaved,
  onCancel,
}: {
  host?: HostJson;
  onSaved: (saved: SavedHostResponse) => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState<FormValues>(() => initialValues(host));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const editing = Boolean(host);
  const set = (field: keyof FormValues) => (value: string | boolean) => setValues((v) => ({ ...v, [field]: value }));

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const body = bodyFor(values);
    const local = hostCreateSchema.safeParse(body);
    if (!local.success) {
      setErrors({ ...fieldErrorsFrom(z.treeifyError(local.error)), form: "Fix the highlighted fields." });
      return;
    }
    let payload: Record<string, unknown> = body;
    if (host) {
      const { kind: _kind, ...fields } = body;
      payload = {
        ...fields,
        ...(values.repinHostKey
          ? {
              repinHostKey: true,
              ...(values.hostKeySha256.trim() ? { hostKeySha256: values.hostKeySha256.trim() } : {}),
            }
          : {}),
      };
    }
    setBusy(true);
    setErrors({});
    try {
      onSaved(
        await apiFetch<SavedHostResponse>(host ? `/api/hosts/${host.id}` : "/api/hosts", {
          method: host ? "PATCH" : "POST",
          json: payload,
        }),
      );
    } catch (err) {
      const fields = fieldErrorsFrom(err instanceof ApiError ? err.details : undefined);
      const onFields = Object.keys(fields).some((k) => k !== "form");
      setErrors({ ...fields, form: onFields ? "Not saved: see the highlighted fields." : messageOf(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={submit}
      noValidate
      aria-label={editing ? `Edit host ${host!.name}` : "Add a host"}
      className="space-y-4 rounded-lg border border-slate-200 bg-white p-4 dark:border-slate-800 dark:bg-slate-900"
    >
      <h3 className="text-sm font-semibold">{editing ? `Edit ${host!.name}` : "Add a host"}</h3>
      {!editing && (
        <fieldset className="flex flex-wrap gap-4 text-sm">
          <legend className="mb-1 text-xs font-medium text-slate-600 dark:text-slate-400">Kind</legend>
          {(
            [
              ["local", "Local", "this machine sees the QMP sockets"],
              ["ssh", "SSH", "a remote hypervisor, reached with a key"],
              ["tls", "QMP over TLS", "VMs exposing QMP on TCP with client certificates"],
            ] as const
          ).map(([kind, label, hint]) => (
            <label key={kind} className="flex items-start gap-2">
              <input
                type="radio"
                name="kind"
                value={kind}
                checked={values.kind === kind}
                onChange={() => set("kind")(kind)}
                className="mt-0.5"
              />
              <span>
                <span className="font-medium">{label}</span>
                <span className="block text-xs text-slate-500 dark:text-slate-400">{hint}</span>
              </span>
            </label>
          ))}
        </fieldset>
      )}

      <div className="grid gap-3 sm:grid-cols-2">
        {fieldsFor(values.kind).map((spec) => (
          <Field
            key={spec.name}
            spec={spec}
            error={errors[spec.name]}
            value={values[spec.name]}
            onChange={set(spec.name)}
          />
        ))}
      </div>

      {editing && host!.kind === "ssh" && (
        <div className="rounded-md bg-slate-50 p-3 text-xs dark:bg-slate-800/60">
          <p>
            Pinned host key: <span className="font-mono">{host!.hostKeySha256 ?? "none"}</span>
          </p>
          <CheckboxField
            className="mt-2 flex items-center gap-2"
            checked={values.repinHostKey}
            onChange={set("repinHostKey")}
          >
            Accept the key the host presents now (after verifying it, e.g. the host was reinstalled)
          </CheckboxField>
        </div>
      )}

      {errors.form && (
        <p
          role="alert"
          className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-300"
        >
          {errors.form}
        </p>
      )}
      <div className="flex gap-2">
        <button
          type="submit"
          disabled={busy}
          className="rounded-md bg-sky-600 px-4 py-1.5 text-sm font-medium text-white hover:bg-sky-500 disabled:opacity-50"
        >
          {busy ? (editing ? "Saving…" : "Checking and adding…") : editing ? "Save" : "Add host"}
        </button>
        <button
          type="button"
          onClick={onCancel}
          className="rounded-md px-3 py-1.5 text-sm text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800"
        >
          Cancel
        </button>
      </div>
    </form>
  );
}

function Field({
  spec: { label, placeholder, hint, multiline = false, inputMode },
  error,
  value,
  onChange,
}: {
  spec: FieldSpec;
  error?: string;
  value: string;
  onChange: (v: string) => void;
}) {
  const id = useId();
  const describedBy = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(" ") || undefined;
  const cls = `mt-1 w-full rounded-md border bg-white px-2.5 py-1.5 text-sm shadow-sm focus:outline-none focus:ring-1 dark:bg-slate-950 ${
    error
      ? "border-red-500 focus:ring-red-500"
      : "border-slate-300 focus:border-sky-500 focus:ring-sky-500 dark:border-slate-700"
  }`;
  return (
    <div className={multiline ? "sm:col-span-2" : undefined}>
      <label htmlFor={id} className="text-xs font-medium text-slate-700 dark:text-slate-300">
        {label}
      </label>
      {multiline ? (
        <textarea
          id={id}
          rows={4}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          placeholder={placeholder}
          aria-invalid={Boolean(error)}
          aria-describedby={describedBy}
          className={`${cls} font-mono`}
        />
      ) : (
        <input
          id={id}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          placeholder={placeholder}
          inputMode={inputMode}
          aria-invalid={Boolean(error)}
          aria-describedby={describedBy}
          className={cls}
        />
      )}
      {error && (
        <p id={`${id}-error`} className="mt-1 text-xs text-red-700 dark:text-red-400">
          {error}
        </p>
      )}
      {hint && !error && (
        <p id={`${id}-hint`} className="mt-1 text-xs text-slate-500 dark:text-slate-400">
          {hint}
        </p>
      )}
    </div>
  );
}

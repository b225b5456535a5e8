// A VM's page: details, disks, capability warnings, Snapshot now and snapshot history, live.
import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { VmView } from "@/components/fleet/vm-view";
import { NotFoundError } from "@/lib/errors";
import { idParam } from "@/lib/http/params";
import { getVmJson } from "@/lib/fleet/vms";
import type { VmJson } from "@/lib/fleet/vm-json";

export const dynamic = "force-dynamic";

async function load(params: Promise<{ id: string }>): Promise<VmJson> {
  try {
    return await getVmJson(await idParam(params, "VM"));
  } catch (err) {
    if (err instanceof NotFoundError) notFound();
    throw err;
  }
}

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const vm = await load(params);
  return { title: vm.name };
}

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  return <VmView initialVm={await load(params)} />;
}

// A snapshot table's VM cell: the VM's name linking to its page, and its host beside it.
import Link from "next/link";

export function VmNameCell({ vmId, vmName, hostName }: { vmId: string; vmName: string; hostName: string }) {
  return (
    <td className="px-3 py-1.5">
      <Link href={`/vms/${vmId}`} className="font-medium text-sky-700 hover:underline dark:text-sky-400">
        {vmName}
      </Link>
      <span className="ml-1 text-xs text-slate-500">{hostName}</span>
    </td>
  );
}

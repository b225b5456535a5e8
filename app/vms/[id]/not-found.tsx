// A VM id that does not exist (or was removed with its host).
import { EmptyState } from "@/components/ui/empty-state";

export default function VmNotFound() {
  return (
    <EmptyState title="No such VM" action={{ href: "/fleet", label: "Back to the fleet" }}>
      This VM does not exist, or it was removed together with its host. VMs that merely vanish from their host stay
      listed as gone.
    </EmptyState>
  );
}

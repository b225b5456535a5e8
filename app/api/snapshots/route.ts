// GET /api/snapshots?vmId=&hostId=&status=a,b&from=&to=&limit=&cursor= — fleet-wide history, newest
// first, keyset-paginated: { snapshots: SnapshotJson[], nextCursor: string | null }.
import { json, parseQuery, route } from "@/lib/http/respond";
import { listSnapshots } from "@/lib/snapshots/jobs";
import { snapshotListQuerySchema } from "@/lib/validations/snapshot";

export const dynamic = "force-dynamic";

export const GET = route(async (req: Request) => json(await listSnapshots(parseQuery(req, snapshotListQuerySchema))));

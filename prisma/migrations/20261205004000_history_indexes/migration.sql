-- DropIndex
DROP INDEX "Snapshot_createdAt_id_idx";

-- DropIndex
DROP INDEX "Snapshot_status_idx";

-- DropIndex
DROP INDEX "Snapshot_vmId_createdAt_idx";

-- CreateIndex
CREATE INDEX "Snapshot_createdAt_id_deletedAt_idx" ON "Snapshot"("createdAt" DESC, "id" DESC, "deletedAt");

-- CreateIndex
CREATE INDEX "Snapshot_vmId_createdAt_id_deletedAt_idx" ON "Snapshot"("vmId", "createdAt" DESC, "id" DESC, "deletedAt");

-- CreateIndex
CREATE INDEX "Snapshot_hostId_createdAt_id_deletedAt_idx" ON "Snapshot"("hostId", "createdAt" DESC, "id" DESC, "deletedAt");

-- CreateIndex
CREATE INDEX "Snapshot_status_createdAt_id_deletedAt_idx" ON "Snapshot"("status", "createdAt" DESC, "id" DESC, "deletedAt");

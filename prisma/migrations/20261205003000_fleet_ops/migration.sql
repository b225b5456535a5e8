-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "batchId" UUID;

-- CreateTable
CREATE TABLE "SnapshotBatch" (
    "id" UUID NOT NULL,
    "mode" "SnapshotMode" NOT NULL,
    "note" TEXT,
    "createdBy" TEXT,
    "refused" JSONB NOT NULL DEFAULT '[]',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SnapshotBatch_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Snapshot_batchId_idx" ON "Snapshot"("batchId");

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_batchId_fkey" FOREIGN KEY ("batchId") REFERENCES "SnapshotBatch"("id") ON DELETE SET NULL ON UPDATE CASCADE;

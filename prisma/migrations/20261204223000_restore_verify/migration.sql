-- CreateEnum
CREATE TYPE "RestoreKind" AS ENUM ('rollback', 'verify');

-- CreateEnum
CREATE TYPE "RestoreStatus" AS ENUM ('queued', 'setup', 'active', 'completed', 'failed');

-- AlterTable
ALTER TABLE "Schedule" ADD COLUMN     "verifyNewest" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "launch" JSONB,
ADD COLUMN     "verifiedAt" TIMESTAMP(3),
ADD COLUMN     "verifyError" TEXT;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "launch" JSONB;

-- CreateTable
CREATE TABLE "Restore" (
    "id" UUID NOT NULL,
    "kind" "RestoreKind" NOT NULL,
    "vmId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "snapshotId" UUID NOT NULL,
    "status" "RestoreStatus" NOT NULL DEFAULT 'queued',
    "safetySnapshotId" UUID,
    "result" JSONB,
    "screenshot" BYTEA,
    "errorClass" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Restore_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RestoreStatusChange" (
    "id" BIGSERIAL NOT NULL,
    "restoreId" UUID NOT NULL,
    "status" "RestoreStatus" NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "detail" TEXT,

    CONSTRAINT "RestoreStatusChange_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Restore_vmId_createdAt_idx" ON "Restore"("vmId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Restore_snapshotId_createdAt_idx" ON "Restore"("snapshotId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Restore_status_idx" ON "Restore"("status");

-- CreateIndex
CREATE INDEX "RestoreStatusChange_restoreId_at_idx" ON "RestoreStatusChange"("restoreId", "at");

-- AddForeignKey
ALTER TABLE "Restore" ADD CONSTRAINT "Restore_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Restore" ADD CONSTRAINT "Restore_snapshotId_fkey" FOREIGN KEY ("snapshotId") REFERENCES "Snapshot"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RestoreStatusChange" ADD CONSTRAINT "RestoreStatusChange_restoreId_fkey" FOREIGN KEY ("restoreId") REFERENCES "Restore"("id") ON DELETE CASCADE ON UPDATE CASCADE;

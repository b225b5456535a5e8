-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "HostKind" AS ENUM ('local', 'ssh', 'tls');

-- CreateEnum
CREATE TYPE "VmState" AS ENUM ('running', 'paused', 'shutdown', 'unreachable', 'gone');

-- CreateEnum
CREATE TYPE "SnapshotMode" AS ENUM ('live', 'ram_only', 'disks_only');

-- CreateEnum
CREATE TYPE "SnapshotStatus" AS ENUM ('queued', 'preflight', 'setup', 'active', 'completed', 'failed', 'cancelled');

-- CreateTable
CREATE TABLE "Host" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "HostKind" NOT NULL,
    "socketDir" TEXT,
    "snapshotDir" TEXT NOT NULL,
    "address" TEXT,
    "port" INTEGER,
    "user" TEXT,
    "privateKeyPath" TEXT,
    "hostKeySha256" TEXT,
    "tlsEndpoints" JSONB,
    "tlsCaPath" TEXT,
    "tlsCertPath" TEXT,
    "tlsKeyPath" TEXT,
    "healthy" BOOLEAN NOT NULL DEFAULT false,
    "healthError" TEXT,
    "lastDiscoveredAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Vm" (
    "id" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "endpoint" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "uuid" TEXT,
    "state" "VmState" NOT NULL DEFAULT 'unreachable',
    "stateReason" TEXT,
    "qemuVersion" TEXT,
    "memoryBytes" BIGINT,
    "disks" JSONB NOT NULL DEFAULT '[]',
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "bgSnapshotSupported" BOOLEAN NOT NULL DEFAULT false,
    "bgSnapshotBlocker" TEXT,
    "lastSeenAt" TIMESTAMP(3),
    "goneAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Vm_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "scheduleId" UUID,
    "mode" "SnapshotMode" NOT NULL DEFAULT 'live',
    "status" "SnapshotStatus" NOT NULL DEFAULT 'queued',
    "note" TEXT,
    "prunable" BOOLEAN NOT NULL DEFAULT false,
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "ramTotalBytes" BIGINT,
    "ramTransferredBytes" BIGINT,
    "throughputBytesPerSec" BIGINT,
    "guestPauseMs" DOUBLE PRECISION,
    "qemuDowntimeMs" DOUBLE PRECISION,
    "setupMs" DOUBLE PRECISION,
    "totalMs" DOUBLE PRECISION,
    "sizeBytes" BIGINT,
    "files" JSONB NOT NULL DEFAULT '[]',
    "diskChain" JSONB,
    "errorClass" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "deletedAt" TIMESTAMP(3),

    CONSTRAINT "Snapshot_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SnapshotStatusChange" (
    "id" BIGSERIAL NOT NULL,
    "snapshotId" UUID NOT NULL,
    "status" "SnapshotStatus" NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "detail" TEXT,

    CONSTRAINT "SnapshotStatusChange_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Schedule" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "cron" TEXT NOT NULL,
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "targets" JSONB NOT NULL,
    "mode" "SnapshotMode" NOT NULL DEFAULT 'live',
    "retention" JSONB NOT NULL DEFAULT '{}',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "busyPolicy" TEXT NOT NULL DEFAULT 'wait',
    "missedRunPolicy" TEXT NOT NULL DEFAULT 'run-once',
    "staggerSeconds" INTEGER NOT NULL DEFAULT 0,
    "consecutiveFailures" INTEGER NOT NULL DEFAULT 0,
    "lastRunAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Schedule_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");

-- CreateIndex
CREATE INDEX "Vm_name_idx" ON "Vm"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Vm_hostId_endpoint_key" ON "Vm"("hostId", "endpoint");

-- CreateIndex
CREATE INDEX "Snapshot_vmId_createdAt_idx" ON "Snapshot"("vmId", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "Snapshot_createdAt_id_idx" ON "Snapshot"("createdAt" DESC, "id");

-- CreateIndex
CREATE INDEX "Snapshot_status_idx" ON "Snapshot"("status");

-- CreateIndex
CREATE INDEX "SnapshotStatusChange_snapshotId_at_idx" ON "SnapshotStatusChange"("snapshotId", "at");

-- CreateIndex
CREATE UNIQUE INDEX "Schedule_name_key" ON "Schedule"("name");

-- AddForeignKey
ALTER TABLE "Vm" ADD CONSTRAINT "Vm_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Snapshot" ADD CONSTRAINT "Snapshot_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SnapshotStatusChange" ADD CONSTRAINT "SnapshotStatusChange_snapshotId_fkey" FOREIGN KEY ("snapshotId") REFERENCES "Snapshot"("id") ON DELETE CASCADE ON UPDATE CASCADE;

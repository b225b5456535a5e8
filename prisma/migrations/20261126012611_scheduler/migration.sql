-- CreateEnum
CREATE TYPE "ScheduleRunTrigger" AS ENUM ('scheduled', 'manual', 'catch_up');

-- CreateEnum
CREATE TYPE "ScheduleRunStatus" AS ENUM ('running', 'succeeded', 'partial', 'failed', 'skipped');

-- CreateEnum
CREATE TYPE "ScheduleRunItemStatus" AS ENUM ('pending', 'dispatching', 'dispatched', 'completed', 'skipped', 'failed');

-- AlterTable
ALTER TABLE "Schedule" ADD COLUMN     "failureAlertThreshold" INTEGER NOT NULL DEFAULT 3,
ADD COLUMN     "nextRunAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "ScheduleRun" (
    "id" UUID NOT NULL,
    "scheduleId" UUID NOT NULL,
    "scheduledFor" TIMESTAMP(3) NOT NULL,
    "trigger" "ScheduleRunTrigger" NOT NULL,
    "status" "ScheduleRunStatus" NOT NULL DEFAULT 'running',
    "firedAt" TIMESTAMP(3) NOT NULL,
    "firedBy" TEXT,
    "reason" TEXT,
    "missedCount" INTEGER NOT NULL DEFAULT 0,
    "vmCount" INTEGER NOT NULL DEFAULT 0,
    "prunedCount" INTEGER NOT NULL DEFAULT 0,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "ScheduleRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ScheduleRunItem" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "scheduleId" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "vmName" TEXT NOT NULL,
    "status" "ScheduleRunItemStatus" NOT NULL DEFAULT 'pending',
    "notBefore" TIMESTAMP(3) NOT NULL,
    "waitUntil" TIMESTAMP(3),
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "snapshotId" UUID,
    "reason" TEXT,
    "claimedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ScheduleRunItem_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SnapshotAdmission" (
    "snapshotId" UUID NOT NULL,
    "hostId" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "admittedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "admittedBy" TEXT,

    CONSTRAINT "SnapshotAdmission_pkey" PRIMARY KEY ("snapshotId")
);

-- CreateTable
CREATE TABLE "ConcurrencyLimit" (
    "scope" TEXT NOT NULL,
    "maxRunning" INTEGER NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ConcurrencyLimit_pkey" PRIMARY KEY ("scope")
);

-- CreateTable
CREATE TABLE "SchedulePrune" (
    "id" BIGSERIAL NOT NULL,
    "scheduleId" UUID NOT NULL,
    "runId" UUID,
    "snapshotId" UUID NOT NULL,
    "vmId" UUID NOT NULL,
    "reason" TEXT NOT NULL,
    "prunedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SchedulePrune_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ScheduleRun_scheduleId_firedAt_idx" ON "ScheduleRun"("scheduleId", "firedAt" DESC);

-- CreateIndex
CREATE INDEX "ScheduleRun_status_idx" ON "ScheduleRun"("status");

-- CreateIndex
CREATE UNIQUE INDEX "ScheduleRun_scheduleId_scheduledFor_key" ON "ScheduleRun"("scheduleId", "scheduledFor");

-- CreateIndex
CREATE INDEX "ScheduleRunItem_status_notBefore_idx" ON "ScheduleRunItem"("status", "notBefore");

-- CreateIndex
CREATE INDEX "ScheduleRunItem_snapshotId_idx" ON "ScheduleRunItem"("snapshotId");

-- CreateIndex
CREATE UNIQUE INDEX "ScheduleRunItem_runId_vmId_key" ON "ScheduleRunItem"("runId", "vmId");

-- CreateIndex
CREATE INDEX "SnapshotAdmission_hostId_idx" ON "SnapshotAdmission"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "SchedulePrune_snapshotId_key" ON "SchedulePrune"("snapshotId");

-- CreateIndex
CREATE INDEX "SchedulePrune_scheduleId_prunedAt_idx" ON "SchedulePrune"("scheduleId", "prunedAt" DESC);

-- CreateIndex
CREATE INDEX "Schedule_enabled_nextRunAt_idx" ON "Schedule"("enabled", "nextRunAt");

-- AddForeignKey
ALTER TABLE "ScheduleRun" ADD CONSTRAINT "ScheduleRun_scheduleId_fkey" FOREIGN KEY ("scheduleId") REFERENCES "Schedule"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ScheduleRunItem" ADD CONSTRAINT "ScheduleRunItem_runId_fkey" FOREIGN KEY ("runId") REFERENCES "ScheduleRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateEnum
CREATE TYPE "SnapshotConsistency" AS ENUM ('application', 'crash');

-- AlterTable
ALTER TABLE "Schedule" ADD COLUMN     "quiesce" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "consistency" "SnapshotConsistency",
ADD COLUMN     "quiesce" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "quiesceNote" TEXT;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "quiesce" BOOLEAN NOT NULL DEFAULT false;

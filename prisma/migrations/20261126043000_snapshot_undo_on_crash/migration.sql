-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "undoOnCrash" JSONB;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "frozen" JSONB,
ADD COLUMN     "pausedBySnapfleet" JSONB;

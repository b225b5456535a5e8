-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "artifacts" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN     "deletingSince" TIMESTAMP(3),
ADD COLUMN     "deletion" JSONB;

-- AlterTable
ALTER TABLE "Vm" ADD COLUMN     "diskDrift" JSONB;

-- CreateTable
CREATE TABLE "VmLease" (
    "vmId" UUID NOT NULL,
    "owner" TEXT NOT NULL,
    "ownerMachine" TEXT NOT NULL,
    "ownerPid" INTEGER NOT NULL,
    "acquiredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "releaseRequestedAt" TIMESTAMP(3),

    CONSTRAINT "VmLease_pkey" PRIMARY KEY ("vmId")
);

-- CreateIndex
CREATE INDEX "VmLease_owner_idx" ON "VmLease"("owner");

-- AddForeignKey
ALTER TABLE "VmLease" ADD CONSTRAINT "VmLease_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm"("id") ON DELETE CASCADE ON UPDATE CASCADE;

// Prisma CLI configuration (Prisma 7 keeps connection URLs out of the schema). Only `prisma generate`
// runs here; migrations are applied by lib/db/migrate.ts, see README "Database".
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});

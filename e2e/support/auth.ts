// The journeys' users (created by e2e/auth.setup.ts) and their saved browser states.
import path from "node:path";

export const E2E_USERS = {
  admin: { name: "e2e-admin", password: "e2e-admin-password" },
  operator: { name: "e2e-operator", password: "e2e-operator-password" },
  viewer: { name: "e2e-viewer", password: "e2e-viewer-password" },
} as const;

export type E2eRole = keyof typeof E2E_USERS;

/** Where a role's cookies are kept for the run (beside the dashboard's data dir). */
export function stateFile(role: E2eRole): string {
  return path.join(process.env.E2E_DATA_DIR!, `state-${role}.json`);
}

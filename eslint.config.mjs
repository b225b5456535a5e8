// ESLint (flat config), run by `npm run lint` and as the first step of `npm test` (scripts/test-all.sh).
// What it holds, beyond eslint's and typescript-eslint's recommended sets:
//  - promises are awaited or handed off on purpose (`void`), and never passed where a callback's result is
//    ignored (type-aware: @typescript-eslint/no-floating-promises, no-misused-promises);
//  - no import cycles (import-x/no-cycle, resolved through tsconfig's paths);
//  - React's rules of hooks in app/ and components/;
//  - an error handler that drops the error says why (snapfleet/no-silent-catch in eslint-rules/; an empty
//    `catch {}` is eslint's no-empty: it passes with a comment inside).
// Formatting is prettier's (`npm run format:check`), so no stylistic rules here.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import { createTypeScriptImportResolver } from "eslint-import-resolver-typescript";
import { importX } from "eslint-plugin-import-x";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";
import { noSilentCatch } from "./eslint-rules/no-silent-catch.mjs";

// import-x reads TypeScript files only with these settings (extensions, parser); the resolver follows tsconfig's paths.
const { "import-x/resolver": _legacyResolver, ...importXTypeScript } = importX.flatConfigs.typescript.settings;

export default defineConfig(
  {
    ignores: [
      "node_modules/",
      ".next/",
      ".cache/",
      ".snapfleet/",
      "lib/db/generated/",
      "bench/results/",
      "test-results/",
      ".test-logs/",
      "playwright-report/",
      "next-env.d.ts",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    plugins: { "import-x": importX, snapfleet: { rules: { "no-silent-catch": noSilentCatch } } },
    settings: {
      ...importXTypeScript,
      "import-x/resolver-next": [createTypeScriptImportResolver({ project: "tsconfig.json" })],
    },
    rules: {
      "no-empty": ["error", { allowEmptyCatch: false }],
      "snapfleet/no-silent-catch": "error",
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "@typescript-eslint/no-floating-promises": "error",
      // JSX event handlers may be async (React ignores their result); every other void callback may not.
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: { attributes: false } }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ["app/**/*.{ts,tsx}", "components/**/*.{ts,tsx}"],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { "react-hooks": reactHooks },
    rules: { "react-hooks/rules-of-hooks": "error", "react-hooks/exhaustive-deps": "error" },
  },
  {
    // Plain JavaScript is outside tsconfig's program: no type-aware rules there.
    files: ["**/*.{js,mjs,cjs}"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);

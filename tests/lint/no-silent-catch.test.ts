// The lint rule snapfleet/no-silent-catch (eslint-rules/no-silent-catch.mjs), run by ESLint's own RuleTester:
// handlers that drop an error are reported unless logIgnored(…), real handling or a comment says why.
import { RuleTester } from "eslint";
import { describe, it } from "vitest";
import { noSilentCatch } from "../../eslint-rules/no-silent-catch.mjs";

RuleTester.describe = describe;
RuleTester.it = it;
RuleTester.itOnly = it.only;

const silent = { messageId: "silent" };

describe("snapfleet/no-silent-catch", () => {
  new RuleTester({ languageOptions: { ecmaVersion: 2024, sourceType: "module" } }).run(
    "no-silent-catch",
    noSilentCatch,
    {
      valid: [
        `p.catch(logIgnored("the file may be gone already"));`,
        `p.catch((err) => log.warn({ err }, "refresh failed"));`,
        `p.catch(() => null);`,
        `p.catch(() => false);`,
        `p.then((v) => use(v), (err) => report(err));`,
        `p.catch(() => {\n  // nothing to undo: the step never started\n});`,
        `p.catch(() => undefined); // teardown: the next step removes it either way`,
        `// a refused connection is asked again\nawait p.catch(() => undefined);`,
        `await expect\n  // a refused connection is asked again\n  .poll(() => p.catch(() => undefined));`,
        `obj.catch;`,
        `p["catch"](() => {});`,
      ],
      invalid: [
        { code: `p.catch(() => {});`, errors: [silent] },
        { code: `p.catch(() => undefined);`, errors: [silent] },
        { code: `p.catch(() => void 0);`, errors: [silent] },
        { code: `p.catch(function () {});`, errors: [silent] },
        { code: `p.catch((_err) => {});`, errors: [silent] },
        { code: `p.then((c) => c.close(), () => {});`, errors: [silent] },
        {
          code: `async function f() {\n  await a.catch(() => undefined);\n  await b.catch(() => undefined);\n}`,
          errors: [silent, silent],
        },
        { code: `// the module's header\n\nawait p.catch(() => {});`, errors: [silent] },
      ],
    },
  );
});

// Lint rule snapfleet/no-silent-catch: an error handler that drops the error must say why.
// Reports `.catch(() => {})`, `.catch(() => undefined)`, `.catch(() => void 0)` and the same handlers as the
// second argument of `.then(…, …)`, unless a comment sits inside the handler, after it on its last line, or on
// the line right above the handler or above the statement that holds it. The fix is `logIgnored("why")`
// (lib/best-effort.ts), real handling, or a comment saying why ignoring is right. Empty `catch {}` blocks are
// eslint's own `no-empty`.

/** @param {import("estree").Node | null | undefined} node */
function dropsError(node) {
  if (!node || (node.type !== "ArrowFunctionExpression" && node.type !== "FunctionExpression")) return false;
  const body = node.body;
  if (body.type === "BlockStatement") return body.body.length === 0;
  if (body.type === "Identifier") return body.name === "undefined";
  return body.type === "UnaryExpression" && body.operator === "void" && body.argument.type === "Literal";
}

/** @type {import("eslint").Rule.RuleModule} */
export const noSilentCatch = {
  meta: {
    type: "problem",
    docs: { description: "error handlers that ignore the error carry logIgnored(why) or a comment saying why" },
    schema: [],
    messages: {
      silent:
        'this handler drops the error silently: use logIgnored("why") from lib/best-effort.ts, handle it, ' +
        "or add a comment saying why ignoring is right",
    },
  },
  create(context) {
    const source = context.sourceCode;

    function explained(handler) {
      const [start, end] = handler.range;
      const endLine = handler.loc.end.line;
      let statement = handler;
      while (statement.parent && !/Statement$|Declaration$/.test(statement.type)) statement = statement.parent;
      const linesAbove = [statement.loc.start.line - 1, handler.loc.start.line - 1];
      return source.getAllComments().some((c) => {
        if (c.range[0] >= start && c.range[1] <= end) return true;
        if (c.loc.start.line === endLine && c.range[0] >= end) return true;
        return linesAbove.includes(c.loc.end.line);
      });
    }

    return {
      CallExpression(node) {
        const callee = node.callee;
        if (callee.type !== "MemberExpression" || callee.computed || callee.property.type !== "Identifier") return;
        const name = callee.property.name;
        const handler = name === "catch" ? node.arguments[0] : name === "then" ? node.arguments[1] : undefined;
        if (dropsError(handler) && !explained(handler)) context.report({ node: handler, messageId: "silent" });
      },
    };
  },
};

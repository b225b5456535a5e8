// Journey: an operator with 1,000 VMs opens Fleet, shows 200 rows, searches, sorts, pages and filters
// — and nothing stalls. The VMs are seeded straight into the server's database (their sockets do not
// exist: periodic discovery may mark them gone meanwhile, so the checks rely on names, not states).
// Each interaction is timed in the page, from the input event (or navigation start) to the first
// animation frame where the table shows the result; the browser's long tasks are recorded; all printed
// as figures (speed is reported, not asserted: the assertions are that the page never holds more rows
// than the page size, and that every interaction shows the right rows).
import { expect, test, type Page } from "@playwright/test";
import { stateFile } from "./support/auth";
import { e2eDatabaseUrl, makeSocketDir, type SocketDir } from "../tests/fleet/support";
import { seedScaleFleet } from "../tests/fleet/seed";

const COUNT = 1000;
let dirs: SocketDir;
let hostId: string;

test.beforeAll(async () => {
  dirs = await makeSocketDir("sf-e2e-scale-");
  ({ hostId } = await seedScaleFleet(e2eDatabaseUrl(), {
    hostName: "scale-e2e",
    count: COUNT,
    prefix: "scale-",
    socketDir: dirs.dir,
    snapshotDir: dirs.snapshotDir,
  }));
});
// Leave the shared e2e database as we found it: later journeys should not page through 1,000 VMs.
test.afterAll(async ({ playwright }, testInfo) => {
  if (hostId) {
    const api = await playwright.request.newContext({
      baseURL: testInfo.project.use.baseURL,
      storageState: stateFile("admin"),
    });
    expect((await api.delete(`/api/hosts/${hostId}`)).status()).toBe(204);
    await api.dispose();
  }
  await dirs?.cleanup();
});

interface Shown {
  rows?: number;
  range?: string;
  first?: string;
  firstText?: string;
  /** Every row (at least one) is in this state. */
  allState?: string;
}

/**
 * Resolves at the first animation frame where the table shows `want` and is not busy, with the page's
 * own milliseconds from the user's last input (or from navigation start) to that frame — so the
 * figure is what the operator waits, without the test driver's overhead.
 */
async function shows(page: Page, want: Shown): Promise<number> {
  const handle = await page.waitForFunction(
    (w: Shown) => {
      const rows = document.querySelectorAll("[data-testid=vm-row]");
      const range = document.querySelector("[data-testid=vm-range]")?.textContent;
      const busy = document.querySelector("table[aria-busy]")?.getAttribute("aria-busy") === "true";
      const done =
        !busy &&
        (w.rows === undefined || rows.length === w.rows) &&
        (w.range === undefined || range === w.range) &&
        (w.first === undefined || rows[0]?.getAttribute("data-vm-name") === w.first) &&
        (w.firstText === undefined || (rows[0]?.textContent ?? "").includes(w.firstText)) &&
        (w.allState === undefined ||
          (rows.length > 0 &&
            [...rows].every(
              (r) => r.querySelector("[data-testid=vm-state]")?.getAttribute("data-state") === w.allState,
            )));
      return done ? performance.now() - (window as unknown as { __lastInput: number }).__lastInput : false;
    },
    want,
    { polling: "raf", timeout: 15_000 },
  );
  return Math.round((await handle.jsonValue()) as number);
}

test(`the fleet page renders, pages, searches, sorts and filters ${COUNT} VMs without a stall`, async ({ page }) => {
  await page.addInitScript(() => {
    const w = window as unknown as { __longTasks: number[]; __lastInput: number };
    w.__longTasks = [];
    w.__lastInput = 0; // navigation start
    for (const type of ["input", "change", "click"]) {
      document.addEventListener(type, () => (w.__lastInput = performance.now()), { capture: true });
    }
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longTasks.push(e.duration);
    }).observe({ type: "longtask", buffered: true });
  });
  const figures: Record<string, number> = {};
  const measure = async (label: string, act: () => Promise<unknown>, want: Shown) => {
    await act();
    figures[label] = await shows(page, want);
  };
  const total = COUNT.toLocaleString("en");

  // Warm-up: the server's first request of a route loads its bundle; that is start-up, not scale.
  await page.goto("/fleet?limit=25");
  // Opening: the first 50 rows are in the server's HTML, so they show at first contentful paint.
  await page.goto(`/fleet?hostId=${hostId}`);
  await shows(page, { rows: 50, range: `1–50 of ${total}`, first: "scale-0001" });
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    return {
      server: n.responseStart - n.requestStart,
      fcp: fcp?.startTime ?? Number.NaN,
      domContentLoaded: n.domContentLoadedEventEnd - n.startTime,
      load: n.loadEventEnd - n.startTime,
    };
  });
  figures["open: server render (TTFB)"] = Math.round(nav.server);
  figures["open: 50 rows painted (FCP)"] = Math.round(nav.fcp);
  figures["open: DOMContentLoaded"] = Math.round(nav.domContentLoaded);
  figures["open: load event"] = Math.round(nav.load);

  await measure("show 200 rows", () => page.getByLabel("Rows").selectOption("200"), {
    rows: 200,
    range: `1–200 of ${total}`,
  });
  // Includes the search box's 200 ms debounce.
  await measure("search (100 matches)", () => page.getByLabel("Search VMs").fill("scale-09"), {
    range: "1–100 of 100",
    first: "scale-0900",
  });
  await measure(
    "sort by memory, descending",
    () =>
      page
        .getByRole("button", { name: "Memory" })
        .click()
        .then(() => page.getByRole("button", { name: "Memory" }).click()),
    {
      range: "1–100 of 100",
      firstText: "4 GiB",
    },
  );
  await expect(page.getByRole("columnheader", { name: "Memory" })).toHaveAttribute("aria-sort", "descending");
  await measure("clear search (1,000, sorted)", () => page.getByLabel("Search VMs").fill(""), {
    rows: 200,
    range: `1–200 of ${total}`,
    firstText: "4 GiB",
  });
  await measure("next page", () => page.getByRole("button", { name: "Next", exact: true }).click(), {
    range: `201–400 of ${total}`,
  });

  // Discovery may turn more of these VMs gone at any moment, so the check is "only gone rows".
  const stateFilter = page.getByRole("group", { name: "Filter by state" });
  await measure("filter by state", () => stateFilter.getByRole("button", { name: /^gone/ }).click(), {
    allState: "gone",
  });
  await expect(stateFilter.getByRole("button", { name: /^gone/ })).toHaveAttribute("aria-pressed", "true");

  const api = await page.evaluate(() =>
    (performance.getEntriesByType("resource") as PerformanceResourceTiming[])
      .filter((e) => e.name.includes("/api/vms"))
      .map((e) => `${new URL(e.name).search} ${Math.round(e.responseEnd - e.startTime)}`),
  );
  console.log(`GET /api/vms round trips (ms): ${api.join("; ")}`);
  const longTasks = await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks);
  const maxLongTask = Math.max(0, ...longTasks);
  console.log(
    `Fleet page with ${COUNT} VMs (ms): ${Object.entries(figures)
      .map(([k, v]) => `${k} ${v}`)
      .join("; ")}; long tasks ${longTasks.length} (max ${maxLongTask.toFixed(0)} ms)`,
  );
});

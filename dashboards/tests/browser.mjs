// The dashboard in a real browser (Debian's Chromium, driven by playwright-core) against a
// running `lockstep serve` of sample-logs. Started by .ci/browser, which passes:
//   LOCKSTEP_URL     http://127.0.0.1:PORT
//   LOCKSTEP_EMPTY_URL  a server (same token) over an empty store
//   LOCKSTEP_TOKEN   a token of that server (the admin token: uploads are tested too)
//   LOCKSTEP_READ_TOKEN  its read token (the page offers no buttons with it)
//   POLICY           the sample fleet's policy in force, to import from a group's page
//   LOCKSTEP_BIN, DATA   the lockstep binary and the server's data folder (the CLI's candidate)
//   CANDIDATE        a candidate policy XML file for the what-if
//   UPLOAD           an EVTX file to upload
//   SCREENSHOTS      folder for the screenshots (CI artifacts)
// Fails on any failed check and on any JavaScript console error or page error.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.LOCKSTEP_URL;
const token = process.env.LOCKSTEP_TOKEN;
const shots = process.env.SCREENSHOTS || "target/browser";
mkdirSync(shots, { recursive: true });

async function post(path, body, status = 201) {
  const response = await fetch(base + path, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, status, `${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

async function api(path, options = {}) {
  const response = await fetch(base + path, {
    ...options,
    headers: { Authorization: `Bearer ${token}`, ...(options.headers || {}) },
  });
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  return response.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
  ],
});
const problems = [];
const step = async (name, body) => {
  process.stdout.write(`- ${name} … `);
  await body();
  process.stdout.write("ok\n");
};

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  await step("the token form, then every group card with the API's numbers", async () => {
    await page.goto(base + "/");
    await page.getByLabel("Access token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(".card").first().waitFor();
    const groups = (await api("/api/v1/groups")).groups;
    assert.ok(groups.length > 1);
    assert.equal(await page.locator(".card").count(), groups.length);
    for (const g of groups) {
      const card = page.locator(`.card[data-group="${g.group}"]`);
      const apps = await card.locator('[data-field="would_block_apps"]').innerText();
      assert.equal(apps, `${g.would_block_apps.toLocaleString("en-US")} app${g.would_block_apps === 1 ? "" : "s"}`, g.group);
      const events = await card.locator('[data-field="audit_events"]').innerText();
      assert.equal(events, g.audit_events.toLocaleString("en-US"), g.group);
    }
    assert.equal(await page.locator(".chart polyline").count(), new Set((await api("/api/v1/timeline")).days.map((d) => d.group)).size);
    await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });
  });

  await step("the collector's line: files watched, and the folder that is not there", async () => {
    let status = null;
    for (let i = 0; i < 100 && !status; i++) {
      status = (await api("/api/v1/collector")).status;
      if (!status) await new Promise((done) => setTimeout(done, 100));
    }
    assert.ok(status, "the collector reported within 10 s");
    await page.reload();
    const line = page.locator("#collector");
    await line.waitFor();
    const text = await line.innerText();
    assert.ok(text.startsWith(`Collector: ${status.files.length} files watched`), text);
    assert.ok(status.missing.length === 1 && status.missing[0].endsWith("share-offline"), JSON.stringify(status));
    assert.ok(text.includes(`not there now: ${status.missing[0]}`), text);
    assert.equal(await line.getAttribute("class"), "flag");
  });

  await step("the change board's workbook downloads from the overview", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-workbook").click()]);
    assert.equal(download.suggestedFilename(), "lockstep-workbook.xlsx");
    const path = join(shots, "lockstep-workbook.xlsx");
    await download.saveAs(path);
    const bytes = readFileSync(path);
    assert.equal(bytes.subarray(0, 4).toString("binary"), "PK\x03\x04", "an .xlsx is a zip container");
  });

  await step("the link with #token= signs in and leaves the address bar", async () => {
    const other = await context.newPage();
    other.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await other.goto(`${base}/#/group/finance&token=${token}`);
    await other.locator("h1", { hasText: "finance" }).waitFor();
    assert.ok(!other.url().includes("token="), other.url());
    assert.ok(other.url().endsWith("#/group/finance"), other.url());
    await other.close();
  });

  await step("a group: the table sorts, filters and pages", async () => {
    await page.locator('.card[data-group="finance"]').click();
    await page.locator("table#apps tbody tr").first().waitFor();
    const blocked = await api("/api/v1/groups/finance/blocked?limit=10000");
    assert.equal(await page.locator("table#apps tbody tr").count(), Math.min(50, blocked.total_apps));
    const eventsColumn = () => page.locator("table#apps tbody tr td:nth-child(4)").allInnerTexts();
    const numbers = (texts) => texts.map((t) => Number(t.replace(/,/g, "")));
    const descending = numbers(await eventsColumn());
    assert.deepEqual(descending, [...descending].sort((a, b) => b - a));
    await page.locator('th[data-column="events"] button').click();
    assert.equal(await page.locator('th[data-column="events"]').getAttribute("aria-sort"), "ascending");
    const ascending = numbers(await eventsColumn());
    assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
    await page.getByLabel("Collection").selectOption("SCRIPT");
    const collections = await page.locator("table#apps tbody tr td:nth-child(1)").allInnerTexts();
    assert.ok(collections.length > 0 && collections.every((c) => c === "SCRIPT"), collections.join());
    await page.getByLabel("Collection").selectOption("");
    await page.getByLabel("Filter apps").fill("zoom");
    const names = await page.locator("table#apps tbody tr td:nth-child(2)").allInnerTexts();
    assert.ok(names.length > 0 && names.every((n) => n.toLowerCase().includes("zoom")), names.join("|"));
    await page.getByLabel("Filter apps").fill("");
    // Every app is named by the label the API gives it, the one the CLI prints.
    const shown = await page.locator("table#apps tbody tr td:nth-child(2)").allInnerTexts();
    const labels = new Set(blocked.apps.map((a) => a.label));
    assert.ok(shown.every((n) => labels.has(n.split("\n")[0])), shown.join("|"));
    // Review reasons are read as text (their `message`), never printed as objects.
    assert.ok(!(await page.locator("body").innerText()).includes("[object Object]"));
    await page.screenshot({ path: join(shots, "group-finance.png"), fullPage: true });
  });

  await step("the suggested policy downloads as AppLocker XML", async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download").click()]);
    assert.equal(download.suggestedFilename(), "finance-suggested.xml");
    const path = join(shots, "finance-suggested.xml");
    await download.saveAs(path);
    const xml = readFileSync(path, "utf8");
    assert.ok(xml.includes("<AppLockerPolicy"), xml.slice(0, 200));
  });

  await step("what-if: a candidate policy, per group, as the API answers", async () => {
    await page.locator("a", { hasText: "Fleet overview" }).click();
    await page.locator("#whatif-file").setInputFiles(process.env.CANDIDATE);
    await page.locator("#whatif-run").click();
    await page.locator("#whatif-table tbody tr").first().waitFor();
    const sim = await api("/api/v1/simulate?top=20", {
      method: "POST",
      body: readFileSync(process.env.CANDIDATE),
      headers: { "Content-Type": "application/xml" },
    });
    for (const g of sim.groups) {
      const cell = page.locator(`#whatif-table tr[data-group="${g.group}"] [data-field="still_blocked_events"]`);
      assert.equal(await cell.innerText(), g.still_blocked_events.toLocaleString("en-US"), g.group);
    }
    await page.locator("#whatif-table").screenshot({ path: join(shots, "what-if.png") });
  });

  await step("what-if with hardening: who the bypass deny list hits, and the bypass risks", async () => {
    await page.locator("#whatif-file").setInputFiles(process.env.POLICY);
    await page.locator("#whatif-harden").check();
    await page.locator("#whatif-run").click();
    await page.locator("#whatif-result p", { hasText: "current-policy.xml" }).waitFor();
    const sim = await api("/api/v1/simulate?top=20&harden=true", {
      method: "POST",
      body: readFileSync(process.env.POLICY),
      headers: { "Content-Type": "application/xml" },
    });
    const itOps = sim.groups.find((g) => g.group === "it-ops");
    assert.ok(itOps.hardening_hits.length > 0, "the sample fleet's BGInfo is hit");
    for (const g of sim.groups) {
      const row = `#whatif-table tr[data-group="${g.group}"]`;
      assert.equal(await page.locator(`${row} [data-field="bypass_risks"]`).innerText(), String(g.bypass_risks.length), g.group);
      const hits = await page.locator(`${row} [data-field="hardening_hits"]`).innerText();
      for (const h of g.hardening_hits || []) {
        const first = h.user_sids[0];
        assert.ok(hits.includes((sim.names && sim.names[first]) || first), `${g.group}: ${hits}`);
      }
      if (!(g.hardening_hits || []).length) assert.equal(hits, "", g.group);
    }
    await page.locator("#whatif-harden").uncheck();
  });

  await step("upload: an EVTX file is ingested with a summary", async () => {
    await page.locator("#upload-file").setInputFiles(process.env.UPLOAD);
    const line = page.locator("#upload-log li").first();
    await line.filter({ hasText: "already stored" }).waitFor();
    assert.match(await line.innerText(), /new events?, [\d,]+ already stored/);
    await page.screenshot({ path: join(shots, "upload.png"), fullPage: true });
  });

  await step("a read token sees the decisions but no buttons", async () => {
    const reader = await context.newPage();
    reader.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await reader.goto(`${base}/#/group/finance&token=${process.env.LOCKSTEP_READ_TOKEN}`);
    await reader.locator("#triage").waitFor();
    assert.equal(await reader.locator("#triage button").count(), 0);
    assert.equal(await reader.locator("#policy-upload").count(), 0);
    await reader.close();
  });

  await step("the triage table names who runs each app (identities imported)", async () => {
    await page.goto(`${base}/#/group/finance`);
    await page.locator("#triage").waitFor();
    const ready = (await api("/api/v1/readiness?groups=finance")).groups[0];
    const apps = [...ready.undecided, ...ready.deferred, ...ready.blocked_on_purpose];
    assert.ok(apps.some((a) => a.users_seen.some((u) => u.name)), "the sample AD export names some users");
    for (const a of apps) {
      const cell = await page.locator(`#triage tr[data-app="${a.app_id}"] [data-field="users"]`).innerText();
      const first = a.users_seen[0];
      if (!first) continue;
      // An unnamed domain SID is shortened to its relative id.
      assert.ok(cell.includes(first.name || first.sid.split("-").pop()), `${a.label}: ${cell}`);
      if (first.name) assert.ok(!cell.includes(first.sid), `${a.label}: a named user shows the name: ${cell}`);
    }
  });

  await step("a whole group triaged from its page until its card says ready", async () => {
    await page.goto(`${base}/#/group/finance`);
    await page.locator("#readiness").waitFor();
    await page.locator("#policy-file").setInputFiles(process.env.POLICY);
    await page.locator("#policy-upload").click();
    await page.locator("#current-policy", { hasText: "The group's own policy" }).waitFor();
    const undecided = () => page.locator("#triage tbody tr").filter({ hasText: "undecided" });
    let rounds = 0;
    for (let left = await undecided().count(); left > 0; left = await undecided().count()) {
      assert.ok(rounds++ < 100, "the triage does not end");
      const row = undecided().first();
      const app = await row.getAttribute("data-app");
      const allow = row.locator('button[data-action="allow"]');
      // The suggestions not flagged for review are allowed; the rest is blocked on purpose.
      if ((await allow.count()) === 1 && (await allow.innerText()) === "Allow") await allow.click();
      else await row.locator('button[data-action="block"]').click();
      // An allowed app leaves the table; one blocked on purpose stays with its decision.
      await page.waitForFunction((id) => {
        const failed = document.getElementById("message")?.textContent.startsWith("Decision:");
        const cell = document.querySelector(`#triage tr[data-app="${id}"] [data-field="decision"]`);
        return failed || !cell || !cell.textContent.includes("undecided");
      }, app);
      const failed = await page.locator("#message").innerText();
      assert.ok(!failed.startsWith("Decision:"), failed);
    }
    const card = page.locator('#readiness[data-status="ready"], #readiness[data-status="insufficient_data"]');
    await card.waitFor();
    const ready = (await api("/api/v1/readiness?groups=finance")).groups[0];
    assert.equal(ready.undecided.length, 0);
    const evidence = new Set(["too_few_days", "hosts_never_reported", "hosts_silent", "no_events"]);
    for (const c of ready.collections) {
      assert.ok(c.reasons.every((r) => evidence.has(r.code)), `${c.collection}: ${JSON.stringify(c.reasons)}`);
    }
    assert.equal(await card.getAttribute("data-status"), ready.status);
    await page.screenshot({ path: join(shots, "group-triaged.png"), fullPage: true });
    // The candidate downloaded from the page is the CLI's, byte for byte.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-candidate").click()]);
    assert.equal(download.suggestedFilename(), "finance-candidate.xml");
    const saved = join(shots, "finance-candidate.xml");
    await download.saveAs(saved);
    const cli = execFileSync(process.env.LOCKSTEP_BIN, ["-q", "policy", "candidate", "--group", "finance", "--data", process.env.DATA], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    assert.equal(readFileSync(saved, "utf8"), cli);
  });

  await step("the candidate published, its enforcement recorded, and the live version's audit-only XML at hand", async () => {
    await page.goto(`${base}/#/group/finance`);
    await page.locator("#flip").waitFor();
    assert.match(await page.locator("#versions").innerText(), /No version published yet/);
    await page.locator("#publish").click();
    await page.locator('#versions tr[data-version="1"]').waitFor();
    const versions = await api("/api/v1/groups/finance/versions");
    assert.equal(versions.length, 1);
    await page.locator("#record-enforce").click();
    await page.locator('#rollout-state li[data-collection="EXE"][data-mode="enforce"]').waitFor();
    await page.locator('#versions tr[data-version="1"]', { hasText: "live: EXE" }).waitFor();
    const rollouts = await api("/api/v1/groups/finance/rollouts");
    assert.deepEqual(rollouts.map((r) => [r.collection, r.mode, r.version]), [["EXE", "enforce", 1]]);
    assert.match(await page.locator("#monitor-summary").innerText(), /0 expected blocks · 0 unexpected blocks since enforcement/);
    await page.screenshot({ path: join(shots, "group-rollout.png"), fullPage: true });
    // The rollback aid: the live version as audit only, ready to import.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator('#versions tr[data-version="1"] button[data-action="audit-xml"]').click(),
    ]);
    assert.equal(download.suggestedFilename(), "finance-v1-audit.xml");
    const saved = join(shots, "finance-v1-audit.xml");
    await download.saveAs(saved);
    assert.match(readFileSync(saved, "utf8"), /EnforcementMode="AuditOnly"/);
    assert.doesNotMatch(readFileSync(saved, "utf8"), /EnforcementMode="Enabled"/);
    // One more allow, a second version, and its changes from the first: the API's diff.
    const readiness = (await api("/api/v1/readiness?groups=finance")).groups[0];
    const allowed = await page.evaluate(
      async ([ids, token]) => {
        // The first app blocked on purpose that a rule can allow (flagged ones with force).
        for (const id of ids) {
          const response = await fetch(`/api/v1/groups/finance/decisions/${id}`, {
            method: "PUT",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
            body: JSON.stringify({ verdict: "allow", force: true }),
          });
          if (response.ok) return id;
        }
        return null;
      },
      [readiness.blocked_on_purpose.map((a) => a.app_id), token]
    );
    assert.ok(allowed, "an app blocked on purpose could be allowed");
    await page.reload();
    await page.locator("#publish").click();
    await page.locator('#versions tr[data-version="2"]').waitFor();
    await page.locator('#versions tr[data-version="2"] button[data-action="compare"]').click();
    await page.locator("#diff-impact").waitFor();
    const change = await api("/api/v1/groups/finance/diff?before=1&after=2");
    const shown = await page.locator("#diff-rules tbody tr").count();
    assert.equal(shown, change.rules.modes.length + change.rules.added.length + change.rules.removed.length + change.rules.changed.length);
    assert.ok(change.rules.added.length >= 1, JSON.stringify(change.rules));
    assert.match(await page.locator("#diff-impact").innerText(), new RegExp(`${change.impact.newly_allowed_events} events? newly allowed`));
    await page.screenshot({ path: join(shots, "group-versions-diff.png"), fullPage: true });
  });

  await step("the monitoring view: an enforced group's timeline, its exception queue and the queue's actions", async () => {
    // The sample fleet's IT operations group enforces EXE from the first day: published and
    // recorded so, its blocks are the exception queue.
    const put = await fetch(`${base}/api/v1/groups/it-ops/policy/current`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/xml" },
      body: readFileSync(process.env.POLICY),
    });
    assert.equal(put.status, 200, await put.text());
    await post("/api/v1/groups/it-ops/versions", { note: "browser test" });
    const recorded = await post("/api/v1/groups/it-ops/rollouts", { mode: "enforce", collections: ["EXE"], version: 1, at: "2026-10-05" });
    assert.deepEqual(recorded.warnings, []);
    const monitor = await api("/api/v1/groups/it-ops/monitor");
    assert.ok(monitor.exceptions.length >= 2, JSON.stringify(monitor.exceptions.length));
    await page.goto(`${base}/#/group/it-ops`);
    await page.locator("#exceptions").waitFor();
    assert.equal(await page.locator("#exceptions tbody tr").count(), monitor.exceptions.length);
    // The timeline: one unexpected-block bar per day of the monitor, the flip and the version marked.
    const unexpectedDays = monitor.collections.flatMap((c) => c.days).filter((d) => d.unexpected > 0).map((d) => d.day);
    assert.equal(await page.locator('#group-chart rect[data-kind="unexpected"]').count(), new Set(unexpectedDays).size);
    assert.equal(await page.locator('#group-chart line[data-mark="enforce"]').count(), 1);
    const entries = await page.locator("#group-timeline li").allInnerTexts();
    assert.ok(entries.some((t) => /^2026-10-05: EXE enforce \(version 1\)$/.test(t)), entries.join(" | "));
    assert.ok(entries.some((t) => /version 1 published$/.test(t)), entries.join(" | "));
    await page.screenshot({ path: join(shots, "group-monitor.png"), fullPage: true });
    // Confirming a block moves the app out of the queue and its blocks to expected.
    const first = monitor.exceptions[0];
    await page.locator(`#exceptions tr[data-app="${first.app_id}"] button[data-action="block"]`).click();
    await page.locator(`#exceptions tr[data-app="${first.app_id}"]`).waitFor({ state: "detached" });
    const after = await api("/api/v1/groups/it-ops/monitor");
    assert.equal(after.expected_blocked_events, first.events);
    assert.equal(await page.locator("#exceptions tbody tr").count(), monitor.exceptions.length - 1);
    await page.locator('#group-chart rect[data-kind="expected"]').first().waitFor();
    assert.match(await page.locator("#monitor-summary").innerText(), new RegExp(`^${after.expected_blocked_events} expected blocks? · `));
  });

  await step("an empty store says what to do", async () => {
    const empty = await context.newPage();
    empty.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await empty.goto(`${process.env.LOCKSTEP_EMPTY_URL}/#token=${token}`);
    await empty.locator(".empty").filter({ hasText: "No data yet: ingest EVTX files or run the quick start" }).waitFor();
    assert.equal(await empty.locator(".card").count(), 0);
    await empty.screenshot({ path: join(shots, "empty.png"), fullPage: true });
    await empty.close();
  });

  await step("errors from the API are shown, and a wrong token asks again", async () => {
    await page.goto(`${base}/#/group/no-such-group`);
    await page.locator("#message").filter({ hasText: "no group" }).waitFor();
    await page.evaluate(() => sessionStorage.setItem("lockstep-token", "wrong-token-0123456789"));
    await page.goto(`${base}/#/`); // a hash change: the page asks the API with the wrong token
    await page.getByLabel("Access token").waitFor();
    assert.match(await page.locator("#message").innerText(), /not accepted/);
  });
} finally {
  await browser.close();
}

// The page's own 401 and 404 answers above are expected network errors, not script errors.
const unexpected = problems.filter((p) => !/status of (401|404)/.test(p));
if (unexpected.length) {
  console.error(unexpected.join("\n"));
  process.exit(1);
}
console.log(`dashboard checks passed; screenshots in ${shots}`);

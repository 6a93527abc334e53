// Opens a `lakeline status --html` page in headless Chromium (Debian's, driven by
// playwright-core) and prints what a person would see, as JSON: the title, the datasets of the
// overview table and of the sections, the charts drawn, and every console error, page error
// and request the page made (it must make none: the page is self-contained).
//
//   node tests/status/check-page.cjs PAGE.html SCREENSHOT.png
const path = require("path");
const { chromium } = require(path.join(__dirname, "../../tools/node_modules/playwright-core"));

async function main() {
  const [page_path, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.LAKELINE_CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const errors = [];
  const requests = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    page.on("request", (r) => { if (!r.url().startsWith("file://")) requests.push(r.url()); });
    await page.goto("file://" + path.resolve(page_path), { waitUntil: "load" });
    const seen = await page.evaluate(() => ({
      title: document.title,
      overview: [...document.querySelectorAll("#overview tbody tr")].map((r) => r.dataset.dataset),
      sections: [...document.querySelectorAll("section.dataset h2")].map((h) => h.textContent),
      charts: document.querySelectorAll("section.dataset svg").length,
      bars: document.querySelectorAll("section.dataset svg rect.bar").length,
      visible: document.body.innerText.length,
      attention: [...document.querySelectorAll("ul.attention li")].map((l) => l.textContent),
    }));
    await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify({ ...seen, errors, requests }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });

// Opens an HTML page of stickerlake's in headless Chromium and prints, as JSON, what a reader
// would get: console errors, every request the page made (it should make none), each chart's
// marks and drawn size, the text of every numbers table, and the page's size. A screenshot of
// the whole page goes to the second argument.
//
//   node tests/browser/check_page.mjs report.html target/report.png
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const [pagePath, screenshot] = process.argv.slice(2);
if (!pagePath || !screenshot) {
  console.error('usage: node check_page.mjs PAGE.html SCREENSHOT.png');
  process.exit(2);
}
const pageUrl = pathToFileURL(resolve(pagePath)).href;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // As the machine's own probe runs it: no background traffic to hosts this network refuses.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  const requests = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === pageUrl) return route.continue();
    requests.push(url);
    return route.abort();
  });
  await page.goto(pageUrl, { waitUntil: 'load' });
  const charts = await page.$$eval('figure[data-chart]', (figures) => figures.map((figure) => {
    const svg = figure.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    return {
      id: figure.dataset.chart,
      marks: svg ? svg.querySelectorAll('.mark').length : 0,
      empty_message: svg && svg.querySelector('.empty') ? svg.querySelector('.empty').textContent : null,
      width: box.width,
      height: box.height,
      sparklines: [...figure.querySelectorAll('svg.spark')].filter(
        (s) => s.querySelector('.mark') && s.getBoundingClientRect().width > 0).length,
    };
  }));
  const tables = await page.$$eval('table[data-table]', (all) => Object.fromEntries(all.map((table) => [
    table.dataset.table,
    {
      head: [...table.querySelectorAll('thead th')].map((c) => c.textContent.trim()),
      rows: [...table.querySelectorAll('tbody tr')].map(
        (row) => [...row.children].map((c) => c.textContent.trim())),
    },
  ])));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({
    console_errors: consoleErrors,
    requests,
    charts,
    tables,
    bytes: readFileSync(pagePath).length,
    title: await page.title(),
  }));
} finally {
  await browser.close();
}

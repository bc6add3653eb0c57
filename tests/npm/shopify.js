#!/usr/bin/env node
// Pages through every order of the Shopify simulator with the real client, shopify-api-node.
// Usage: node shopify.js http://127.0.0.1:PORT [accessToken]
// Prints one JSON line {"count":N,"ids_unique":true,"pages":N}; exits non-zero on any error.
//
// shopify-api-node always builds https://{shopName}.myshopify.com/admin/api/{version}/... (its
// baseUrl is fixed in the constructor). The supported way to redirect it is its documented
// `hooks` option, handed unchanged to got 11: got's `beforeRequest` hooks run on the
// normalized options before the request is made, so one hook swaps the origin (scheme, host,
// port) for the simulator's while keeping the library's path and query. Everything else — the auth header,
// the query string (status, limit, page_info), JSON parsing and the Link header parsing into
// `nextPageParameters` — is the library's own.
'use strict';

const Shopify = require('shopify-api-node');

const base = process.argv[2];
const token = process.argv[3] || 'shpat_test';
const SHOP = 'cartwright-sim';
const MAX_PAGES = 1000; // bound: stops a cursor that never ends

function fail(msg) {
  process.stderr.write(`shopify.js: ${msg}\n`);
  process.exit(1);
}

if (!base || !/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(base)) fail('usage: node shopify.js http://127.0.0.1:PORT [token]');
const target = new URL(base);
setTimeout(() => fail('timed out after 90 s'), 90000).unref();

const requested = [];
const shopify = new Shopify({
  shopName: SHOP,
  accessToken: token,
  apiVersion: '2024-10',
  timeout: 30000,
  hooks: {
    beforeRequest: [
      (options) => {
        const u = options.url;
        if (u.protocol !== 'https:' || u.hostname !== `${SHOP}.myshopify.com`) {
          throw new Error(`unexpected URL from the library: ${u.href}`);
        }
        requested.push(u.pathname + u.search);
        options.url = new URL(u.pathname + u.search, target);
        // got also keeps the library's URL parts as request options, which Node's
        // http.request(url, options) lets win over the URL: point them at the simulator too.
        options.protocol = target.protocol;
        options.hostname = target.hostname;
        options.port = Number(target.port);
      }
    ]
  }
});

(async () => {
  const ids = new Set();
  let count = 0;
  let pages = 0;
  let params = { status: 'any', limit: 250 };
  while (params) {
    if (pages >= MAX_PAGES) fail(`more than ${MAX_PAGES} pages`);
    const orders = await shopify.order.list(params);
    if (!Array.isArray(orders)) fail(`page ${pages + 1}: no orders array`);
    pages += 1;
    for (const o of orders) {
      if (o == null || o.id == null) fail(`page ${pages}: an order without id`);
      ids.add(String(o.id));
      count += 1;
    }
    params = orders.nextPageParameters; // undefined on the last page
    if (params && !params.page_info) fail(`page ${pages}: next link without page_info`);
  }
  if (!requested[0].includes('/admin/api/2024-10/orders.json?')) fail(`first request ${requested[0]}`);
  process.stdout.write(JSON.stringify({ count, ids_unique: ids.size === count, pages }) + '\n');
  process.exit(0);
})().catch((err) => {
  const res = err && err.response;
  fail(`${err && err.message}${res ? ` (HTTP ${res.statusCode}: ${String(JSON.stringify(res.body)).slice(0, 300)})` : ''}`);
});

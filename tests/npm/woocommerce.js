#!/usr/bin/env node
// Pages through every order of the WooCommerce simulator with the real client,
// @woocommerce/woocommerce-rest-api. Usage: node woocommerce.js http://127.0.0.1:PORT [ck cs]
// Prints one JSON line {"count":N,"ids_unique":true,"pages":N}; exits non-zero on any error.
//
// Over plain http the library signs every request with OAuth 1.0a (HMAC-SHA256) itself, against
// the exact URL it is given, which is what the simulator checks. Paging is the documented
// WooCommerce way: page=1..X-WP-TotalPages with per_page=100 (the maximum).
'use strict';

const WooCommerceRestApi = require('@woocommerce/woocommerce-rest-api').default;

const base = process.argv[2];
const ck = process.argv[3] || 'ck_test';
const cs = process.argv[4] || 'cs_test';
const MAX_PAGES = 1000; // bound

function fail(msg) {
  process.stderr.write(`woocommerce.js: ${msg}\n`);
  process.exit(1);
}

if (!base || !/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(base)) fail('usage: node woocommerce.js http://127.0.0.1:PORT [ck cs]');
setTimeout(() => fail('timed out after 90 s'), 90000).unref();

const api = new WooCommerceRestApi({
  url: base.replace(/\/$/, ''),
  consumerKey: ck,
  consumerSecret: cs,
  version: 'wc/v3',
  timeout: 30000
});

(async () => {
  const ids = new Set();
  let count = 0;
  let pages = 0;
  let totalPages = 1;
  let total = null;
  for (let page = 1; page <= totalPages; page++) {
    if (page > MAX_PAGES) fail(`more than ${MAX_PAGES} pages`);
    const res = await api.get('orders', { per_page: 100, page });
    if (res.status !== 200) fail(`page ${page}: HTTP ${res.status}`);
    const tp = Number(res.headers['x-wp-totalpages']);
    if (!Number.isInteger(tp) || tp < 0) fail(`page ${page}: bad X-WP-TotalPages ${res.headers['x-wp-totalpages']}`);
    if (page === 1) {
      totalPages = tp;
      total = Number(res.headers['x-wp-total']);
    } else if (tp !== totalPages) {
      fail(`page ${page}: X-WP-TotalPages changed from ${totalPages} to ${tp}`);
    }
    if (!Array.isArray(res.data)) fail(`page ${page}: body is not an array`);
    pages += 1;
    for (const o of res.data) {
      if (o == null || o.id == null) fail(`page ${page}: an order without id`);
      ids.add(String(o.id));
      count += 1;
    }
  }
  if (total !== null && !Number.isNaN(total) && total !== count) fail(`X-WP-Total says ${total}, paged ${count}`);
  process.stdout.write(JSON.stringify({ count, ids_unique: ids.size === count, pages }) + '\n');
  process.exit(0);
})().catch((err) => {
  const res = err && err.response;
  fail(`${err && err.message}${res ? ` (HTTP ${res.status}: ${String(JSON.stringify(res.data)).slice(0, 300)})` : ''}`);
});

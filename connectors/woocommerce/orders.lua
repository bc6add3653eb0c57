-- WooCommerce connector, orders (REST API wc/v3): pulls orders modified in a time window with
-- page paging, passing over the window again when the set moved under it, and maps each order
-- to the normalized order of docs/order-model.md. WooCommerce core sends no quota headers, so
-- there is no observe hook.
-- Uses: api.lua (URLs and auth: Basic over https, OAuth 1.0a over plain http), cjson.safe,
-- cartwright.jsonraw, cartwright.cartdata (null, id and money helpers), cartwright.time.

local json = require "cjson.safe"
local time = require "cartwright.time"
local jraw = require "cartwright.jsonraw"
local cd = require "cartwright.cartdata"
local api = require "connectors.woocommerce.api"

-- every read of a document goes through these: JSON null is truthy and numbers are floats
local nn, tbl, str, int = cd.nn, cd.tbl, cd.str, cd.int
-- Woo sends 2-decimal strings, except a line's `price`, a float (total / quantity,
-- e.g. 6.666666666666667); these round it half up on the digits
local cents, fmt_cents, money = cd.cents, cd.fmt_cents, cd.money

local PAGE_MAX, PAGE_DEFAULT = 100, 10
local MAX_PASSES = 4 -- over one window, before giving up and leaving it to the next run

local STATUSES = { "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed",
                   "checkout-draft", "trash" }

-- The *_gmt fields are UTC without a zone ("2025-03-04T15:15:22"); the others are shop-local
-- and are never used.
local function gmt(s)
  s = nn(s)
  if type(s) ~= "string" then return nil end
  local day, hms = s:match("^(%d%d%d%d%-%d%d%-%d%d)[Tt ](%d%d:%d%d:%d%d)")
  return day and (day .. "T" .. hms .. "Z") or nil
end

local site, get = api.site, api.get

---------------------------------------------------------------- hooks
-- system_status proves the keys and names the site in one call. Keys of a user without
-- manage_woocommerce get 401/403 there, and a simulator may not serve it, so anything but a
-- clear 401 falls back to reading one order (the right this connector really needs).
local function test(ctx)
  local res, err = get(ctx, "system_status", {}, "GET system_status")
  if res then
    local doc = json.decode(res.body)
    local env = type(doc) == "table" and tbl(doc.environment) or {}
    return { api_version = "wc/v3", shop = nn(env.site_url) or nn(env.home_url) or site(ctx) }
  end
  if err:match("^http 401") then return nil, err end
  local ores, oerr = get(ctx, "orders", { { "per_page", 1 } }, "GET orders")
  if not ores then return nil, oerr end
  if type(json.decode(ores.body)) ~= "table" then return nil, "bad JSON in GET orders" end
  return { api_version = "wc/v3", shop = site(ctx) }
end

-- "2026-01-02T03:04:05Z" (+ shift seconds) -> "2026-01-02T03:04:05"
local function wall(iso, shift)
  if not iso then return nil end
  if shift then iso = time.format(time.parse(iso) + shift) end
  return (iso:gsub("Z$", ""))
end

-- One pass over the window, page by page, handing on only orders not handed on before.
-- Returns true, moved, new_count | nil, err. `moved` = X-WP-Total changed between pages.
-- The pager stops a cart that ignores `page` (the same orders again) or announces more pages
-- than max_pages.
local function one_pass(ctx, q, per_page, seen, on_page, pass, pager)
  local first_total, moved, new = nil, false, 0
  pager:restart()
  while true do
    local page, nerr = pager:next()
    if not page then return nil, nerr end
    local what = "orders page " .. page .. (pass > 1 and (", pass " .. pass) or "")
    local res, err = get(ctx, "orders", {
      -- GMT wall-clock without an offset: WP_Date_Query moves a value that has one ("Z"
      -- included) into the site's zone before comparing it with the _gmt column.
      -- Both bounds are exclusive: one second more keeps orders of the window's last second.
      { "modified_after", wall(q.since) }, { "modified_before", wall(q["until"], 1) }, { "dates_are_gmt", "true" },
      -- id, not modified: unique, so rows have one order on every version (orderby=modified
      -- gets an ID tie-break only in recent ones; many orders share a modified second). Both
      -- date bounds are exclusive (WP date_query); the pipeline's overlap covers the edges.
      { "orderby", "id" }, { "order", "asc" }, { "per_page", per_page }, { "page", page } }, what)
    if not res then return nil, err end
    -- each order's bytes and its document in one pass; ids above 2^53 keep every digit
    local raws, orders = jraw.split_decode(res.body)
    if not raws then return nil, "bad JSON in " .. what .. ": " .. tostring(orders) end
    if #orders == 0 then break end
    local pages = tonumber(res.headers["x-wp-totalpages"])
    local sane, serr = pager:announced(pages, "X-WP-TotalPages")
    if not sane then return nil, serr end
    local total = tonumber(res.headers["x-wp-total"])
    if page == 1 then first_total = total elseif total ~= first_total then moved = true end
    local out_raws, out_docs, ids = {}, {}, {}
    for i, o in ipairs(orders) do
      local id = str(tbl(o).id)
      ids[#ids + 1] = id
      if not id or not seen[id] then
        if id then seen[id] = true end
        out_raws[#out_raws + 1], out_docs[#out_docs + 1] = raws[i], o
      end
    end
    local fresh, ferr = pager:fresh(ids)
    if not fresh then return nil, ferr end
    if #out_raws > 0 then
      new = new + #out_raws
      local ok, perr = on_page(out_raws, out_docs)
      if cd.stopped(ok, perr) then return nil, perr end
    end
    if (pages and page >= pages) or (not pages and #orders < per_page) then break end
  end
  return true, moved, new
end

-- WooCommerce has only offset paging and no key to page by. An order modified while we page
-- leaves the window, the rest shift down one place and one is never seen (cart-apis.md §7
-- item 2); nor would the next run see it, as it stays in this window. So when X-WP-Total
-- changed during a pass, read the window again, handing on only new orders, until a pass
-- is stable or finds nothing new. A window that never settles is an error: the watermark
-- stays put and the next run reads it again.
local function fetch_orders(ctx, q, on_page)
  local per_page = math.max(1, math.min(q.page_size or PAGE_DEFAULT, PAGE_MAX))
  local seen, pager = {}, ctx:pager("orders")
  for pass = 1, MAX_PASSES do
    local ok, moved, new = one_pass(ctx, q, per_page, seen, on_page, pass, pager)
    if not ok then return nil, moved end
    if not moved or (pass > 1 and new == 0) then return true end
  end
  return nil, "orders kept changing during " .. MAX_PASSES .. " passes over the window; it is read again next run"
end

local function address(a, email)
  a = tbl(a)
  local first, last = nn(a.first_name), nn(a.last_name)
  return {
    name = cd.full_name(first, last),
    first_name = first, last_name = last, company = nn(a.company),
    address1 = nn(a.address_1), address2 = nn(a.address_2), city = nn(a.city),
    region = nn(a.state), postal_code = str(a.postcode), country = nn(a.country),
    phone = str(a.phone), email = email or nn(a.email),
  }
end

local function meta_value(v) -- plugins store arrays and objects in meta: keep them as JSON text
  if type(v) == "table" then return json.encode(v) end
  return str(v)
end

local function line(li)
  local props = {}
  for _, m in ipairs(tbl(li.meta_data)) do
    local key = str(m.key)
    if key and key:sub(1, 1) ~= "_" then -- "_reduced_stock" and the like are WooCommerce's own
      props[#props + 1] = { name = str(m.display_key) or key, value = meta_value(nn(m.display_value) or m.value) }
    end
  end
  return {
    external_id = str(li.id), sku = nn(li.sku), name = nn(li.name), quantity = int(li.quantity),
    price = money(li.price), tax = money(li.total_tax), properties = props,
  }
end

local function normalize(_ctx, o)
  if type(o) ~= "table" then return nil, "woocommerce order is not a JSON object" end
  local id = str(o.id)
  if not id then return nil, "woocommerce order without id" end
  local updated = gmt(o.date_modified_gmt)
  if not updated then
    return nil, "woocommerce order " .. id .. ": bad date_modified_gmt " .. tostring(nn(o.date_modified_gmt))
  end

  local b, sl = tbl(o.billing), tbl(tbl(o.shipping_lines)[1])
  local ship = address(o.shipping)
  ship.code, ship.title, ship.price = nn(sl.method_id), nn(sl.method_title), money(sl.total)

  local lines, subtotal = {}, 0
  for i, li in ipairs(tbl(o.line_items)) do
    lines[i] = line(li)
    subtotal = subtotal + (cents(li.subtotal) or 0) -- Woo has no order subtotal: lines before discounts
  end
  local custom = {}
  for _, m in ipairs(tbl(o.meta_data)) do
    local key = str(m.key)
    if key and key:sub(1, 1) ~= "_" then custom[key] = meta_value(m.value) end
  end
  local discounts = {}
  for _, c in ipairs(tbl(o.coupon_lines)) do
    discounts[#discounts + 1] = { code = str(c.code), amount = money(c.discount) }
  end

  return {
    external_id = id,
    number = str(o.number) or id,
    cart_status = nn(o.status),
    payment_status = nn(o.date_paid_gmt) and "paid" or "unpaid", -- Woo has no payment status: date_paid says it
    fulfillment_status = nil, -- none in core
    created_at = gmt(o.date_created_gmt), updated_at = updated,
    currency = nn(o.currency),
    totals = { total = money(o.total), subtotal = fmt_cents(subtotal), tax = money(o.total_tax),
               shipping = money(o.shipping_total), discount = money(o.discount_total) },
    customer = cd.billing_customer(b, o.customer_id), -- customer_id 0 = guest
    billing = address(b),
    shipping = ship,
    lines = lines,
    notes = nn(o.customer_note),
    custom_fields = custom,
    discounts = discounts,
  }
end

return {
  page_max = PAGE_MAX, page_default = PAGE_DEFAULT,
  -- processing = paid, to ship; on-hold = awaiting a manual payment check (bank transfer,
  -- cheque), which merchants usually want in the back office so stock is reserved.
  default_download_statuses = { "processing", "on-hold" },
  statuses = STATUSES, -- plus any a plugin registers
  test = test,
  fetch_orders = fetch_orders,
  normalize = normalize,
}

#!/usr/bin/env bash
# make demo: three local cart simulators, then what a merchant does on day one — test each
# cart, import its orders, release orders held for an unmapped shipping code, look at one
# order and release it by hand, list orders; stock and a shipment across the carts; `serve`
# importing an order from its webhook; one order flow per newer cart.
# CARTS=a,b (make demo CARTS=…): only one order flow per cart named.
# Self-contained (loopback only, a temporary directory); exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cw=build/cartwright
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# CARTS=a,b: one order flow per cart named (any cart with a tests/carts/ adapter), nothing else
if [ -n "${CARTS:-}" ]; then
  $cw run tests/tools/demo_carts.lua "$CARTS" "$work"
  say "Demo finished"
  exit 0
fi

say "Concurrency: 50 requests to a server that answers after 200 ms, from one thread"
$cw run tests/demo.lua

say "Starting local simulators of Shopify, BigCommerce and WooCommerce"
# BigCommerce's quota is 150 calls per 30 s and each order costs 3 calls: a smaller store
# keeps the demo from waiting out a quota window.
for cart in shopify:120 bigcommerce:45 woocommerce:120; do
  $cw sim "${cart%%:*}" --port 0 --orders "${cart##*:}" --seed 42 >"$work/${cart%%:*}.out" 2>"$work/${cart%%:*}.err" &
  pids+=($!)
done
for cart in shopify bigcommerce woocommerce; do
  for _ in $(seq 1 200); do grep -q 'listening' "$work/$cart.out" && break; sleep 0.05; done
  cat "$work/$cart.out"
done
url() { grep -o 'http://127.0.0.1:[0-9]*' "$work/$1.out" | head -1; }

cat >"$work/cartwright.lua" <<CONF
db = "$work/cartwright.db"
api_token = env "ACME_API_TOKEN"
cart "acme-shopify" {
  connector = "shopify", url = "$(url shopify)", token = env "ACME_SHOPIFY_TOKEN",
  order_prefix = "SH-", batch_size = 50, sync_inventory = true,
  webhook_secret = env "ACME_SHOPIFY_WEBHOOK_SECRET",
}
cart "acme-bigcommerce" {
  connector = "bigcommerce", url = "$(url bigcommerce)", store_hash = "abc123",
  token = env "ACME_BC_TOKEN", order_prefix = "BC-", sync_inventory = true,
  after_shipment_status = "Shipped",
}
cart "acme-woo" {
  connector = "woocommerce", url = "$(url woocommerce)",
  consumer_key = env "ACME_WOO_KEY", consumer_secret = env "ACME_WOO_SECRET", order_prefix = "WC-",
  sync_inventory = true,
}
CONF
export ACME_SHOPIFY_TOKEN=shpat_test ACME_BC_TOKEN=bc_test ACME_WOO_KEY=ck_test ACME_WOO_SECRET=cs_test
export ACME_SHOPIFY_WEBHOOK_SECRET=whsec_demo ACME_API_TOKEN=demo-api-token-0123456789
export CARTWRIGHT_CONFIG="$work/cartwright.lua"
say "The config ($work/cartwright.lua): secrets come from the environment"
sed -n '1,6p' "$work/cartwright.lua"

say "cartwright carts"
$cw carts 2>/dev/null

for cart in acme-shopify acme-bigcommerce acme-woo; do
  say "cartwright test $cart"
  $cw test "$cart" 2>/dev/null
done

for cart in acme-shopify acme-bigcommerce acme-woo; do
  say "cartwright import $cart"
  $cw --log-level warn import "$cart"
done

say "Orders held because their shipping code has no ship method yet"
$cw orders --held | tail -n 4
code=$($cw orders --held --json | grep -o '"code":"FREIGHT-LTL"' | head -1 || true)
if [ -z "$code" ]; then code_name=Express; else code_name=FREIGHT-LTL; fi

say "cartwright ship-map $code_name 'LTL Freight' releases every order held for it"
$cw ship-map "$code_name" "LTL Freight"

say "Importing again changes nothing (no duplicates, nothing rewritten)"
$cw --log-level warn import --all

one=$($cw orders --held --cart acme-shopify --json | head -n 1 | grep -o '"number":"[^"]*"' | cut -d'"' -f4)
say "cartwright orders show $one: one order, its lines and its history"
$cw orders show "$one"
say "cartwright release $one --note 'checked by phone': an operator waives its hold"
$cw release "$one" --note "checked by phone"
$cw orders show "$one" | tail -n 3

say "cartwright orders --cart acme-shopify (first 5)"
$cw orders --cart acme-shopify | head -n 5
say "One order as JSON"
$cw orders --cart acme-woo --json | head -n 1 | cut -c1-400
echo

say "Stock: one figure per SKU; every cart shows on hand - what open orders reserve"
$cw run tests/tools/demo_stock.lua csv 40 >"$work/stock.csv"
head -n 3 "$work/stock.csv"
$cw --log-level warn stock import "$work/stock.csv"
shows() { $cw run tests/tools/demo_stock.lua show "$1" shopify="$(url shopify)" bigcommerce="$(url bigcommerce)" woo="$(url woocommerce)"; }
say "A customer buys at the Shopify store (the simulator takes it from its own stock)"
$cw run tests/tools/demo_stock.lua order "$(url shopify)" >"$work/sold"
sed 's/^/  sold /' "$work/sold"
sku=$(head -n 1 "$work/sold" | cut -d' ' -f1)
shows "$sku"
say "cartwright import acme-shopify: the order reserves its lines, the other two carts are lowered at once"
$cw --log-level warn import acme-shopify
shows "$sku"
$cw stock --sku "$sku"
echo

say "Shipments: the back office ships a BigCommerce order; the cart gets the tracking and its status"
$cw orders --cart acme-bigcommerce --json >"$work/bc.json"
bcline=$(grep -m 1 '"cart_status":"Awaiting Fulfillment"' "$work/bc.json")
bcnum=$(echo "$bcline" | grep -o '"number":"BC-[0-9]*"' | cut -d'"' -f4)
bcid=${bcnum#BC-} # a BigCommerce order's number is its id
$cw run tests/tools/demo_stock.lua bc-order "$(url bigcommerce)" "$bcid"
echo "\$ cartwright ship $bcnum --carrier UPS --tracking 1Z999AA10123456784"
$cw --log-level warn ship "$bcnum" --carrier UPS --tracking 1Z999AA10123456784
$cw shipments "$bcnum"
$cw run tests/tools/demo_stock.lua bc-order "$(url bigcommerce)" "$bcid"
echo

say "Service mode: cartwright serve keeps every cart in sync on its own"
$cw serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 1 200); do grep -q 'listening' "$work/serve.out" && break; sleep 0.05; done
cat "$work/serve.out"
serve_url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/serve.out" | head -1)
$cw run tests/tools/demo_stock.lua hook-secret "$(url shopify)" whsec_demo
echo "\$ cartwright webhooks register acme-shopify $serve_url/webhooks/acme-shopify"
$cw --log-level warn webhooks register acme-shopify "$serve_url/webhooks/acme-shopify"
sleep 2.5 # the service's first scheduled runs are over: what follows is the webhook's doing

say "A customer buys at the Shopify store; its webhook reaches serve, which imports the order"
$cw run tests/tools/demo_stock.lua open-order "$(url shopify)" >"$work/sold2"
t0=$(date +%s%N)
newid=$(sed -n 's/^id //p' "$work/sold2")
sed -n '2,$s/^/  sold /p' "$work/sold2"
sku2=$(sed -n '2p' "$work/sold2" | cut -d' ' -f1)
newnum=""
for _ in $(seq 1 100); do # bounded: 10 s
  newnum=$($cw orders --cart acme-shopify --json | grep "\"external_id\":\"$newid\"" | grep -o '"number":"SH-[0-9]*"' | cut -d'"' -f4 || true)
  [ -n "$newnum" ] && break
  sleep 0.1
done
echo "  imported as $newnum within $(( ($(date +%s%N) - t0) / 1000000 )) ms of the sale (no poll: the next is minutes away)"
echo "  and the other carts were lowered at once:"
shows "$sku2"

say "The back office ships it: the CLI hands the shipment to the running service"
echo "\$ cartwright ship $newnum --carrier UPS --tracking 1Z999AA10123456785"
$cw ship "$newnum" --carrier UPS --tracking 1Z999AA10123456785 2>&1 | grep -v '^ts=.*level=info msg="done by'
$cw run tests/tools/demo_stock.lua shop-order "$(url shopify)" "$newid"
grep 'msg=api ' "$work/serve.err" | grep 'path=/api/v1/shipments' | sed 's/^/  serve log: /'

say "cartwright sync status"
$cw sync status

say "cartwright runs acme-shopify (newest first)"
$cw runs acme-shopify | head -n 3

say "Stopping the service (SIGTERM): runs in flight finish, then it exits 0"
kill -TERM "$serve_pid"
rc=0
wait "$serve_pid" || rc=$?
echo "  serve exited with $rc"
grep -o 'msg="stopped cleanly"' "$work/serve.err" | sed 's/^/  serve log: /'
[ "$rc" -eq 0 ]

# the carts added since (Magento, PrestaShop, Cart.com): one order flow each
newer=""
for c in magento prestashop cartcom; do [ -f "tests/carts/$c.lua" ] && newer="$newer${newer:+,}$c"; done
if [ -n "$newer" ]; then $cw run tests/tools/demo_carts.lua "$newer" "$work"; fi
echo
say "Demo finished"

-- The back office's catalog: SKUs it knows, for flagging order lines with unknown ones.
-- Format: docs/store.md.

-- name: product_put (exec)
INSERT INTO products(sku, name) VALUES(:sku, :name)
  ON CONFLICT(sku) DO UPDATE SET name = excluded.name

-- name: product_known (one)
-- known = 1 when the SKU is in the catalog; catalog = 1 when there is a catalog at all
SELECT EXISTS(SELECT 1 FROM products WHERE sku = :sku) AS known,
  EXISTS(SELECT 1 FROM products) AS catalog

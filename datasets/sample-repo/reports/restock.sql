SELECT sku, quantity, updated_at
FROM stock
WHERE quantity < 10
  AND updated_at < NOW() - INTERVAL 7 DAY
ORDER BY quantity, sku;

-- Stock on hand per item, as the ledger's import leaves it (MySQL).
CREATE TABLE stock (
    sku VARCHAR(32) PRIMARY KEY,
    quantity INT NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

DELIMITER //

CREATE PROCEDURE receive_stock(IN item VARCHAR(32), IN amount INT)
BEGIN
    IF amount <= 0 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'amount must be positive';
    END IF;
    INSERT INTO stock (sku, quantity) VALUES (item, amount)
        ON DUPLICATE KEY UPDATE quantity = quantity + amount, updated_at = NOW();
END//

CREATE FUNCTION stock_of(item VARCHAR(32)) RETURNS INT
READS SQL DATA
BEGIN
    DECLARE on_hand INT DEFAULT 0;
    SELECT quantity INTO on_hand FROM stock WHERE sku = item;
    RETURN on_hand;
END//

DELIMITER ;

//! The stock ledger: every movement of every item, and the balances they add up to.

use std::collections::BTreeMap;
use std::fmt;

/// A stock-keeping unit code, such as `BOLT-M6`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(pub String);

/// One change to the stock of an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Movement {
    Received { sku: Sku, quantity: u32 },
    Shipped { sku: Sku, quantity: u32 },
    Counted { sku: Sku, quantity: u32 },
}

#[derive(Debug, PartialEq)]
pub enum LedgerError {
    Oversold { sku: Sku, wanted: u32, available: u32 },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Oversold { sku, wanted, available } => {
                write!(f, "cannot ship {wanted} of {}: only {available} in stock", sku.0)
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Ledger {
    movements: Vec<Movement>,
    balances: BTreeMap<Sku, u32>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a movement, refusing to ship more than is in stock.
    pub fn apply(&mut self, movement: Movement) -> Result<u32, LedgerError> {
        let balance = match &movement {
            Movement::Received { sku, quantity } => {
                let entry = self.balances.entry(sku.clone()).or_insert(0);
                *entry += quantity;
                *entry
            }
            Movement::Shipped { sku, quantity } => {
                let available = self.balance(sku);
                if *quantity > available {
                    return Err(LedgerError::Oversold { sku: sku.clone(), wanted: *quantity, available });
                }
                self.balances.insert(sku.clone(), available - quantity);
                available - quantity
            }
            Movement::Counted { sku, quantity } => {
                self.balances.insert(sku.clone(), *quantity);
                *quantity
            }
        };
        self.movements.push(movement);
        Ok(balance)
    }

    pub fn balance(&self, sku: &Sku) -> u32 {
        self.balances.get(sku).copied().unwrap_or(0)
    }

    pub fn history(&self) -> &[Movement] {
        &self.movements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipping_more_than_stock_fails() {
        let mut ledger = Ledger::new();
        let bolt = Sku("BOLT-M6".into());
        ledger.apply(Movement::Received { sku: bolt.clone(), quantity: 5 }).unwrap();
        assert!(ledger.apply(Movement::Shipped { sku: bolt.clone(), quantity: 6 }).is_err());
        assert_eq!(ledger.balance(&bolt), 5);
    }
}

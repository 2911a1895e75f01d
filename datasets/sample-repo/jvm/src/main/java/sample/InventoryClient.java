package sample;

import java.util.LinkedHashMap;
import java.util.Map;

/** Keeps a local copy of balances and reports which items need reordering. */
public class InventoryClient {
    private final Map<String, Integer> balances = new LinkedHashMap<>();
    private final int reorderLevel;

    public InventoryClient(int reorderLevel) {
        if (reorderLevel < 0) {
            throw new IllegalArgumentException("reorder level must not be negative");
        }
        this.reorderLevel = reorderLevel;
    }

    /** Records a count, replacing any earlier one. */
    public void record(String sku, int quantity) {
        balances.put(sku, quantity);
    }

    public boolean needsReorder(String sku) {
        Integer quantity = balances.get(sku);
        return quantity == null || quantity <= reorderLevel;
    }

    public enum Status {
        OK, LOW, UNKNOWN;

        static Status of(Integer quantity, int level) {
            if (quantity == null) return UNKNOWN;
            return quantity <= level ? LOW : OK;
        }
    }
}

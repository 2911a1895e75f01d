// Reorder planner: decides how much to order so stock lasts until the next delivery.
#include <algorithm>
#include <string>
#include <vector>

namespace inventory {

struct Demand {
    std::string sku;
    double per_day;
    int on_hand;
};

class Planner {
public:
    explicit Planner(int lead_days) : lead_days_(lead_days) {}

    int order_quantity(const Demand& d) const {
        int needed = static_cast<int>(d.per_day * lead_days_ + 0.5) + safety_stock(d);
        return std::max(0, needed - d.on_hand);
    }

    std::vector<std::string> urgent(const std::vector<Demand>& all) const;

private:
    int safety_stock(const Demand& d) const { return static_cast<int>(d.per_day * 2); }
    int lead_days_;
};

std::vector<std::string> Planner::urgent(const std::vector<Demand>& all) const {
    std::vector<std::string> out;
    for (const auto& d : all) {
        if (d.on_hand < d.per_day * lead_days_) out.push_back(d.sku);
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace inventory

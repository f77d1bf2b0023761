// The core on the in-memory store: a month of invoices for 2,000 subscriptions, one of which
// has a negative amount (its invoice is rolled back), a few that hit a busy database (retried),
// progress lines, and the report. Run it twice in one process to see the second run skip
// everything.
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <fmt/format.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
struct subscription {
    int id;
    std::string partner;
    long amount_cents;
};

std::vector<subscription> subscriptions()
{
    std::vector<subscription> out;
    for (int id = 1; id <= 2000; ++id) {
        out.push_back({id, fmt::format("partner-{}", id % 97), id == 1234 ? -500 : 1000 + id % 7 * 250});
    }
    return out;
}
} // namespace

int main()
{
    using namespace std::chrono_literals;
    sturdy::memory::database db;
    auto& invoices = db.table("invoice");
    auto& lines = db.table("invoice_line");
    auto ledger = db.ledger("invoice");
    const std::string period = "2026-11";
    int busy_left = 3; // the first three writes to subscription 77 find the database busy

    auto run_month = [&] {
        return subscriptions() |
               sturdy::idempotent_by(ledger, [&](const subscription& s) { return std::tuple(s.id, period); }) |
               sturdy::chunked(db, 200) | sturdy::guarded([&](const subscription& s) {
                   invoices.insert(fmt::format("{}/{}", s.id, period), std::to_string(s.amount_cents));
                   if (s.id == 77 && busy_left-- > 0) {
                       throw sturdy::transient_error("database is locked");
                   }
                   if (s.amount_cents < 0) {
                       throw sturdy::permanent_error("invoice line amount must not be negative");
                   }
                   lines.insert(fmt::format("{}/{}/1", s.id, period), std::to_string(s.amount_cents));
               }) |
               sturdy::retry_bounded(5, sturdy::backoff::exponential(5ms, 100ms)) | sturdy::logged_every(500) |
               sturdy::drain;
    };

    fmt::print("first run:\n");
    const auto first = run_month();
    fmt::print("{}\nJSON: {}\n\n", first, first.json());
    fmt::print("invoices {}, lines {}, invoice for 1234 present: {}\n\n", invoices.size(), lines.size(),
               invoices.contains("1234/2026-11"));

    fmt::print("second run, same month:\n");
    const auto second = run_month();
    fmt::print("{}\n", second);
    return first.done == 1999 && second.skipped == 1999 ? 0 : 1;
}

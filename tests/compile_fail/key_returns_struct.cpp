// idempotent_by with a key function whose result cannot be a ledger key (a struct).
// expect: idempotent_by: the key function must return an integer, a string, a sturdy::key, or a tuple of those
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

namespace {
struct order_id {
    int value;
};
} // namespace

int main()
{
    sturdy::memory::database db;
    auto ledger = db.ledger("orders");
    std::vector<int> input{1, 2, 3};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto key = [](int v) { return order_id{v}.value; };
#else
    auto key = [](int v) { return order_id{v}; };
#endif
    auto r = input | sturdy::idempotent_by(ledger, key) | sturdy::chunked(db, 2) | sturdy::guarded([](int) {}) |
             sturdy::drain;
    return r.ok() ? 0 : 1;
}

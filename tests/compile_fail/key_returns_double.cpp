// idempotent_by with a key function returning a floating-point number.
// expect: idempotent_by: the key function must return an integer, a string, a sturdy::key, or a tuple of those
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

int main()
{
    sturdy::memory::database db;
    auto ledger = db.ledger("prices");
    std::vector<double> input{1.5, 2.5};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto key = [](double v) { return static_cast<long>(v * 100); };
#else
    auto key = [](double v) { return v; };
#endif
    auto r = input | sturdy::idempotent_by(ledger, key) | sturdy::chunked(db, 2) | sturdy::guarded([](double) {}) |
             sturdy::drain;
    return r.ok() ? 0 : 1;
}

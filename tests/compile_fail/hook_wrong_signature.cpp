// A hook whose event member does not take the event would be silently ignored: refused.
// expect: sturdy::hook: on_item must take const sturdy::item_settled&
#include <sturdy/hook.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

namespace {
struct counter {
    int failures = 0;
#ifdef STURDY_COMPILE_FAIL_CONTROL
    void on_item(const sturdy::item_settled& e) { failures += e.outcome == sturdy::item_outcome::failed ? 1 : 0; }
#else
    void on_item(const sturdy::failure_record& /*unused*/) { ++failures; }
#endif
    void on_run_end(const sturdy::report& /*unused*/) {}
};
} // namespace

int main()
{
    std::vector<int> input{1, 2, 3};
    counter c;
    auto r = input | sturdy::guarded([](int) {}) | sturdy::hook(c) | sturdy::drain;
    return r.ok() ? 0 : 1;
}

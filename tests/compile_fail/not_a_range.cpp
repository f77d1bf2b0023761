// An adaptor given something that is not a range.
// expect: the left side of | must be an input range
#include <sturdy/sturdy.hpp>

#include <vector>

int main()
{
    auto fn = [](int) {};
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto r = std::vector<int>{42} | sturdy::guarded(fn) | sturdy::drain;
#else
    auto r = 42 | sturdy::guarded(fn) | sturdy::drain;
#endif
    return r.failed == 0 ? 0 : 1;
}

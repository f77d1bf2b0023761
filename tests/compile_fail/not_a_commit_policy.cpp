// chunked<P> with a P that is not a commit policy.
// expect: chunked: the template argument must be a commit policy
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

int main()
{
    sturdy::memory::database db;
#ifdef STURDY_COMPILE_FAIL_CONTROL
    auto stage = sturdy::chunked<sturdy::no_commit>(db, 2);
#else
    auto stage = sturdy::chunked<int>(db, 2);
#endif
    (void)stage;
}

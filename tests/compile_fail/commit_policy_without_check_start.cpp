// A commit policy that has the chunk scope the loop needs but not `check_start`, which the loop
// calls before the first chunk: refused where it is named (chunked<P>), not deep inside drain.
// expect: chunked: the template argument must be a commit policy
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <vector>

struct commit_by_hand {
    template <sturdy::transaction Tx> class scope {
    public:
        explicit scope(Tx& tx) : tx_(&tx) { tx.begin(); }
        void commit() { tx_->commit(); }

    private:
        Tx* tx_;
    };
#ifdef STURDY_COMPILE_FAIL_CONTROL
    template <sturdy::transaction Tx> static void check_start(Tx&) {}
#endif
    template <sturdy::transaction Tx> static scope<Tx> open_chunk(Tx& tx) { return scope<Tx>(tx); }
};

int main()
{
    sturdy::memory::database db;
    const std::vector<int> input{1, 2, 3};
    auto r = input | sturdy::chunked<commit_by_hand>(db, 2) | sturdy::guarded([](int) {}) | sturdy::drain;
    return r.done == 3 ? 0 : 1;
}

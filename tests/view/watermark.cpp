#include "../support.hpp"

#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
struct contact {
    int id;
    int version; // write_date
};

// Local contacts, read the way an incremental sync reads them: changed since the watermark,
// plus the keys still failing, in watermark order.
struct local_db {
    std::map<int, int> versions; // id -> write_date
    std::vector<contact> changed_since(int since, const std::set<int>& failing) const
    {
        std::vector<contact> out;
        for (const auto& [id, version] : versions) {
            if (version >= since || failing.contains(id)) {
                out.push_back({id, version});
            }
        }
        std::ranges::sort(out, [](const contact& a, const contact& b) { return a.version < b.version; });
        return out;
    }
};
} // namespace

TEST_CASE("the watermark advances with each committed chunk and later runs read only the changes")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("contacts");
    auto& remote = db.table("remote");
    local_db local;
    for (int id = 1; id <= 20; ++id) {
        local.versions[id] = 100 + id;
    }
    std::set<int> refuse{7};
    int pushed = 0;
    auto run = [&] {
        const int since = std::stoi(db.checkpoint("contacts").value_or("0"));
        std::set<int> failing;
        for (const auto& f : ledger.failures()) {
            failing.insert(static_cast<int>(std::stoi(f.item_key.str().substr(0, f.item_key.str().find('/')))));
        }
        return local.changed_since(since, failing) |
               sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.version); }) |
               sturdy::watermark(db, "contacts", [](const contact& c) { return c.version; }) | sturdy::chunked(db, 5) |
               sturdy::guarded([&](const contact& c) {
                   if (refuse.contains(c.id)) {
                       throw std::runtime_error("remote rejected contact");
                   }
                   ++pushed;
                   remote.put(c.id, std::to_string(c.version));
               }) |
               sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 19);
    CHECK(first.failed == 1);
    CHECK(db.checkpoint("contacts") == "120");

    // Nothing changed: only the failing contact is read again.
    refuse.clear();
    pushed = 0;
    const auto second = run();
    CHECK(second.seen == 2); // contact 7 (failing) and contact 20 (at the boundary, skipped)
    CHECK(second.done == 1);
    CHECK(pushed == 1);
    CHECK(remote.get(7) == "107");
    CHECK(ledger.failures().empty());

    // Two contacts change: only they are pushed.
    local.versions[3] = 200;
    local.versions[11] = 201;
    pushed = 0;
    const auto third = run();
    CHECK(third.done == 2);
    CHECK(pushed == 2);
    CHECK(remote.get(3) == "200");
    CHECK(db.checkpoint("contacts") == "201");
}

TEST_CASE("the watermark does not move past items a stopped run did not process")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("contacts");
    std::vector<contact> input;
    for (int id = 1; id <= 30; ++id) {
        input.push_back({id, id});
    }
    auto r = input | sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.version); }) |
             sturdy::watermark(db, "contacts", [](const contact& c) { return c.version; }) | sturdy::chunked(db, 10) |
             sturdy::guarded([&](const contact& c) {
                 if (c.id >= 14) {
                     throw sturdy::transient_error("remote down");
                 }
             }) |
             sturdy::failure_budget(3) | sturdy::drain;
    CHECK(r.done == 13);
    CHECK(r.remaining == 17);
    CHECK(db.checkpoint("contacts") == "13");
}

// watermark.hpp: the checkpoint "moves exactly as far as the committed work"; items that failed are
// read again through their failure records. An item that fails without one (its key function threw,
// or its chunk could not commit) must therefore stop the watermark, or no later run would read it.
TEST_CASE("the watermark does not move past an item whose key function threw, in this chunk or later ones")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("contacts");
    std::vector<contact> input;
    for (int id = 1; id <= 20; ++id) {
        input.push_back({id, 100 + id});
    }
    bool key_throws = true;
    std::vector<int> pushed;
    auto run = [&] {
        const int since = std::stoi(db.checkpoint("contacts").value_or("0"));
        std::vector<contact> changed;
        std::ranges::copy_if(input, std::back_inserter(changed), [&](const contact& c) { return c.version >= since; });
        return changed |
               sturdy::idempotent_by(ledger,
                                     [&](const contact& c) {
                                         if (key_throws && c.id == 7) {
                                             throw std::runtime_error("no id");
                                         }
                                         return std::tuple(c.id, c.version);
                                     }) |
               sturdy::watermark(db, "contacts", [](const contact& c) { return c.version; }) | sturdy::chunked(db, 5) |
               sturdy::guarded([&](const contact& c) { pushed.push_back(c.id); }) | sturdy::drain;
    };
    const auto first = run();
    CHECK(first.done == 19);
    CHECK(first.failed == 1);
    CHECK(db.checkpoint("contacts") == "106"); // contact 6, the last before 7, and no further

    key_throws = false;
    pushed.clear();
    const auto second = run();
    CHECK(second.seen == 15); // from contact 6 on
    CHECK(second.done == 1);
    CHECK(pushed == std::vector<int>{7});
    CHECK(db.checkpoint("contacts") == "120");
}

TEST_CASE("the watermark does not move past the items of a chunk that could not commit")
{
    sturdy::memory::database db;
    auto ledger = db.ledger("contacts");
    std::vector<contact> input;
    for (int id = 1; id <= 20; ++id) {
        input.push_back({id, 100 + id});
    }
    std::vector<int> pushed;
    auto run = [&] {
        const int since = std::stoi(db.checkpoint("contacts").value_or("0"));
        std::vector<contact> changed;
        std::ranges::copy_if(input, std::back_inserter(changed), [&](const contact& c) { return c.version >= since; });
        return changed | sturdy::idempotent_by(ledger, [](const contact& c) { return std::tuple(c.id, c.version); }) |
               sturdy::watermark(db, "contacts", [](const contact& c) { return c.version; }) | sturdy::chunked(db, 5) |
               sturdy::guarded([&](const contact& c) { pushed.push_back(c.id); }) | sturdy::drain;
    };
    db.fail_next_commits(1); // the first chunk's commit: no retry, so its items fail, with no failure record
    const auto first = run();
    CHECK(first.done == 15);
    CHECK(first.failed == 5);
    CHECK(ledger.failures().empty());
    CHECK(db.checkpoint("contacts") == std::nullopt);

    pushed.clear();
    const auto second = run();
    CHECK(second.done == 5);
    CHECK(pushed == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(db.checkpoint("contacts") == "120");
}

// The pitfalls of the fragile contact sync, one test each, on the example's own job code.
#define STURDY_EXAMPLE_NO_MAIN
#include <contact_sync.cpp>

#include "temp_db.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {
using sturdy::sqlite::database;

template <class Db> std::int64_t count(Db& db, const char* sql) { return *db.template query_one<std::int64_t>(sql); }

struct fixture {
    test::temp_dir dir;
    std::string path = dir.file("local.db");
    std::string remote_path = dir.file("remote.db");
    database db{path};
    contacts::remote_crm::faults faults;
    std::optional<contacts::remote_crm> remote;
    sturdy::manual_clock clock;
    contacts::options o;

    explicit fixture(int n = 50)
    {
        contacts::create_schema(db);
        contacts::init_contacts(db, n);
        o.chunk = 8;
        o.quarantine_after = 2;
        remote.emplace(remote_path, faults);
    }
    void set_faults(contacts::remote_crm::faults f) { remote.emplace(remote_path, f); }
    sturdy::report run() { return contacts::sync_contacts(db, *remote, o, clock, sturdy::discard_sink{}); }
    void touch(std::int64_t id, const std::string& email)
    {
        db.execute("UPDATE contact SET email = ?, write_date = (SELECT max(write_date) + 1 FROM contact) WHERE id = ?",
                   email, id);
    }
    std::int64_t requests()
    {
        return remote->visit([](auto& r) { return count(r, "SELECT count(*) FROM remote_request"); });
    }
    // After a clean run: every local contact is in the remote, same name, email, version.
    std::int64_t mismatches()
    {
        return remote->visit([&](auto& r) { return mismatches(r); });
    }
    template <class Db> std::int64_t mismatches(Db& r)
    {
        std::int64_t bad = 0;
        for (const auto& c : db.query<contacts::contact>("SELECT id, name, email, write_date FROM contact")) {
            const auto row = r.template query_one<std::tuple<std::string, std::string, std::int64_t>>(
                "SELECT name, email, version FROM remote_contact WHERE contact_id = $1", c.id);
            bad += row == std::tuple(c.name, c.email, c.write_date) ? 0 : 1;
        }
        return bad;
    }
};
} // namespace

TEST_CASE("contact_sync: only the contacts changed since the last run are read")
{
    fixture f;
    CHECK(f.run().done == 50);
    f.touch(7, "seven@example.com");
    f.touch(30, "thirty@example.com");
    f.touch(12, "twelve@example.com");
    const auto r = f.run();
    CHECK(r.seen == 4); // the three, and contact 50 at the old checkpoint (skipped)
    CHECK(r.done == 3);
    CHECK(r.skipped == 1);
    CHECK(f.mismatches() == 0);
    CHECK(f.requests() == 53);
}

TEST_CASE("contact_sync: a timeout keeps the committed chunks, and the next run starts from the checkpoint")
{
    fixture f(100);
    f.o.deadline = std::chrono::seconds(12);
    test::ticking_clock slow;
    const auto first = contacts::sync_contacts(f.db, *f.remote, f.o, slow, sturdy::discard_sink{});
    CHECK(!first.stopped_early.empty());
    CHECK(first.done > 0);
    CHECK(first.done < 100);
    CHECK(example::exit_status(first) == example::exit_run_again);
    f.o.deadline.reset();
    const auto second = f.run();
    CHECK(second.done == 100 - first.done);
    CHECK(second.seen <= 100 - first.done + 1); // from the checkpoint on, not from the start
    CHECK(f.requests() == 100);
    CHECK(f.mismatches() == 0);
}

TEST_CASE("contact_sync: a second run the same day sends nothing")
{
    fixture f;
    CHECK(f.run().done == 50);
    const auto second = f.run();
    CHECK(second.done == 0);
    CHECK(second.seen == 1);
    CHECK(f.requests() == 50);
}

TEST_CASE("contact_sync: the remote being down stops the run early, loses nothing, and the next run catches up")
{
    fixture f;
    f.set_faults({.outage = true});
    const auto down = f.run();
    CHECK(!down.stopped_early.empty());
    CHECK(down.stopped_early.find("failure budget") != std::string::npos);
    CHECK(down.done == 0);
    CHECK(down.failed == 0);     // an outage is not the contacts' fault
    CHECK(down.remaining == 50); // all of them still to do
    CHECK(example::exit_status(down) == example::exit_run_again);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_failure") == 0);
    CHECK(!f.db.checkpoint("contact_sync"));

    f.set_faults({.rate = 0.3, .seed = 11}); // back, but flaky: refused calls and lost replies
    auto r = f.run();
    while (example::exit_status(r) != example::exit_ok) {
        r = f.run();
    }
    CHECK(f.mismatches() == 0);
    CHECK(f.requests() == 50);
}

TEST_CASE("contact_sync: a push the remote applied but we did not commit is recognised by its idempotency key")
{
    fixture f(3);
    // As if the process died after the remote's commit and before the local one.
    f.remote->push({2, "Contact 2", "contact2@example.com", 1'700'000'002}, "contact_sync:2/1700000002", 0, 1);
    CHECK(f.requests() == 1);
    CHECK(f.run().done == 3);
    CHECK(f.requests() == 3); // contact 2 was not applied twice
    CHECK(f.mismatches() == 0);
}

TEST_CASE("contact_sync: a failing contact is retried by later runs, and a newer version supersedes its record")
{
    fixture f(20);
    CHECK(f.run().done == 20);
    // What a run whose push of contact 1 failed for good leaves: no mark, a failure record, and
    // the checkpoint past the contact.
    auto fail_contact_1 = [&] {
        f.db.execute("DELETE FROM sturdy_ledger WHERE item_key = '1/1700000001'");
        f.db.execute("INSERT INTO sturdy_failure(namespace, item_key, runs, first_failed, last_failed, last_reason, "
                     "quarantined) VALUES('contact_sync', '1/1700000001', 1, 0, 0, 'remote refused', 0)");
    };
    fail_contact_1();
    const auto retried = f.run();
    CHECK(retried.seen == 2); // contact 1, below the checkpoint, and contact 20 at it
    CHECK(retried.done == 1);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_failure") == 0);

    // The contact changes before the retry: its new version is pushed, the old record superseded.
    fail_contact_1();
    f.touch(1, "one@example.com");
    const auto superseded = f.run();
    CHECK(superseded.done == 1);
    CHECK(example::exit_status(superseded) == example::exit_ok);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_failure") == 0);
    CHECK(f.mismatches() == 0);
    CHECK(f.run().seen == 1);
}

TEST_CASE("contact_sync: the command line refuses bad usage with what to do")
{
    test::temp_dir dir;
    CHECK(test::run_cli(contacts::run_cli, {"--db", dir.file("l.db")}).first == example::exit_usage);
    CHECK(test::run_cli(contacts::run_cli, {"--db", dir.file("l.db"), "--remote", dir.file("r.db")}).first ==
          example::exit_usage);
    CHECK(test::run_cli(contacts::run_cli, {"--db", dir.file("l.db"), "--remote", dir.file("l.db"), "--init", "3"})
              .first == example::exit_usage);
    CHECK(
        test::run_cli(contacts::run_cli, {"--db", dir.file("l.db"), "--remote", dir.file("r.db"), "--outage-rate", "x"})
            .first == example::exit_usage);
    auto [status, out] = test::run_cli(contacts::run_cli, {"--db", dir.file("l.db"), "--remote", dir.file("r.db"),
                                                           "--init", "10", "--report", "json"});
    CHECK(status == example::exit_ok);
    CHECK(out.find("{\"seen\":10,\"done\":10,") == 0);
    auto [down, out2] = test::run_cli(
        contacts::run_cli, {"--db", dir.file("l.db"), "--remote", dir.file("r.db"), "--outage", "--report", "json"});
    CHECK(down == example::exit_ok); // nothing changed, so nothing to push: the outage does not matter
    // A PostgreSQL URI is not a file: no server listens there, and the run exits 1 with the reason.
    CHECK(test::run_cli(contacts::run_cli, {"--db", "postgresql://nobody@127.0.0.1:1/none", "--remote",
                                            dir.file("r.db"), "--report", "json"})
              .first == example::exit_usage);
    CHECK(test::run_cli(contacts::run_cli, {"--db", dir.file("l.db"), "--remote",
                                            "postgresql://nobody@127.0.0.1:1/none", "--report", "json"})
              .first == example::exit_usage);
}

TEST_CASE("contact_sync: retention forgets the marks of versions the checkpoint has passed, and nothing is re-sent")
{
    using namespace std::chrono_literals;
    fixture f;
    CHECK(f.run().done == 50);
    f.touch(7, "seven@example.com"); // version 1700000051: the checkpoint after the next run
    CHECK(f.run().done == 1);
    auto ledger = f.db.ledger("contact_sync");
    REQUIRE(ledger.size() == 51);
    const auto now = std::chrono::system_clock::now();
    const auto age_marks = [&](std::chrono::system_clock::time_point marked) {
        f.db.execute("UPDATE sturdy_ledger SET marked_at = ?1",
                     std::chrono::duration_cast<std::chrono::seconds>(marked.time_since_epoch()).count());
    };

    // Marks younger than the retention stay, whatever version they are for.
    age_marks(now - std::chrono::days(10));
    CHECK(contacts::forget_pushed(f.db, std::chrono::days(30), now) == 0);
    CHECK(ledger.size() == 51);

    // As if each version was pushed in the second it was written (the test's versions are from
    // 2023): marks written before the checkpoint's second are for versions it has passed.
    f.db.execute("UPDATE sturdy_ledger SET marked_at = CAST(substr(item_key, instr(item_key, '/') + 1) AS INTEGER)");
    CHECK(contacts::forget_pushed(f.db, std::chrono::days(30), now) == 50);
    CHECK(ledger.size() == 1);
    CHECK(ledger.contains("7/1700000051")); // the version at the checkpoint, which the job reads again
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_failure") == 0);

    const auto after = f.run();
    CHECK(after.seen == 1); // contact 7 at the checkpoint: skipped, as before
    CHECK(after.done == 0);
    CHECK(f.requests() == 51);
    f.touch(3, "three@example.com"); // a newer version of a contact whose mark was forgotten
    CHECK(f.run().done == 1);
    CHECK(f.requests() == 52);
    CHECK(f.mismatches() == 0);
}

TEST_CASE("contact_sync: --forget-after takes days, 0 keeps every mark")
{
    test::temp_dir dir;
    const std::string local = dir.file("l.db");
    const std::string remote = dir.file("r.db");
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote, "--init", "3", "--forget-after", "-1"})
              .first == example::exit_usage);
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote, "--init", "3", "--forget-after", "x"})
              .first == example::exit_usage);
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote, "--init", "10", "--forget-after", "0"})
              .first == example::exit_ok);
    // Marks written now are newer than the checkpoint's time (the demo's versions are from
    // 2023): the default retention forgets none of them.
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote}).first == example::exit_ok);
    database db(local);
    CHECK(db.ledger("contact_sync").size() == 10);
}

TEST_CASE("contact_sync: --ledger marker keeps the version pushed in the contact's row, no sturdy_ledger row")
{
    fixture f;
    f.o.ledger = contacts::ledger_kind::marker;
    CHECK(f.run().done == 50);
    CHECK(count(f.db, "SELECT count(*) FROM contact WHERE synced_write_date = write_date") == 50);
    CHECK(count(f.db, "SELECT count(*) FROM sturdy_ledger") == 0);
    f.touch(7, "seven@example.com");
    f.touch(30, "thirty@example.com");
    const auto r = f.run();
    CHECK(r.done == 2);
    CHECK(r.skipped == 1); // contact 50 at the old checkpoint: its marker holds its version
    CHECK(f.mismatches() == 0);
    CHECK(f.requests() == 52);
    CHECK(f.run().done == 0);
    CHECK(count(f.db, "SELECT count(*) FROM contact WHERE synced_write_date IS NOT write_date") == 0);
}

TEST_CASE("contact_sync: --ledger marker on a contact table without synced_write_date names the column")
{
    test::temp_dir dir;
    const std::string local = dir.file("old.db");
    {
        database db(local);
        db.exec("CREATE TABLE contact(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, "
                "write_date INTEGER NOT NULL);"
                "INSERT INTO contact VALUES(1, 'a', 'a@example.com', 1700000001)");
    }
    const std::string remote = dir.file("r.db"); // the arguments are views: the texts must outlive them
    const std::vector<std::string_view> args{"--db", local, "--remote", remote, "--ledger", "marker"};
    CHECK(test::run_cli(contacts::run_cli, args).first == example::exit_usage);
    {
        database db(local);
        std::string message;
        contacts::remote_crm remote(dir.file("r2.db"), {});
        contacts::options o;
        o.ledger = contacts::ledger_kind::marker;
        sturdy::manual_clock clock;
        try {
            (void)contacts::sync_contacts(db, remote, o, clock, sturdy::discard_sink{});
        } catch (const sturdy::failure_error& e) {
            message = e.what();
        }
        CHECK(message.find("has no column \"synced_write_date\"") != std::string::npos);
    }
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote, "--ledger", "table"}).first ==
          example::exit_ok);
    CHECK(test::run_cli(contacts::run_cli, {"--db", local, "--remote", remote, "--ledger", "rows"}).first ==
          example::exit_usage);
}

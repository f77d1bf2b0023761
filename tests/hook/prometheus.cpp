// prometheus_textfile: its output parsed line by line against the text exposition format
// (a small parser below), values equal to the reports', counters that add up over runs, and
// writes that replace the file whole (temporary file + rename).
#include "../support.hpp"

#include <sturdy/hook/prometheus.hpp>
#include <sturdy/store/memory.hpp>
#include <sturdy/sturdy.hpp>

#include <catch2/catch.hpp>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h> // stat (POSIX): the file's inode and mode

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// --- a parser of the text exposition format (version 0.0.4) --------------------------------

bool is_metric_name(std::string_view s)
{
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_' || s[0] == ':')) {
        return false;
    }
    for (const char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) {
            return false;
        }
    }
    return true;
}

bool is_label_name(std::string_view s) { return is_metric_name(s) && s.find(':') == std::string_view::npos; }

struct exposition {
    std::map<std::string, std::string> types; ///< family -> counter / gauge
    std::map<std::string, double> samples;    ///< `name{a="x",b="y"}` (labels as written, unescaped) -> value
    std::vector<std::string> errors;          ///< lines that break the grammar, with why
    [[nodiscard]] double at(const std::string& series) const
    {
        const auto it = samples.find(series);
        if (it == samples.end()) {
            throw std::runtime_error("no sample " + series);
        }
        return it->second;
    }
};

/// Parses `text`; every rule broken is one entry of `errors`.
exposition parse(const std::string& text)
{
    exposition e;
    std::set<std::string> helped;
    std::string family; // the one the last TYPE line opened
    if (text.empty() || text.back() != '\n') {
        e.errors.push_back("the text does not end with a newline");
    }
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const std::size_t errors_before = e.errors.size();
        const auto bad = [&](const std::string& why) { e.errors.push_back(why + ": " + line); };
        if (line.starts_with("# HELP ")) {
            const auto rest = line.substr(7);
            const auto name = rest.substr(0, rest.find(' '));
            if (!is_metric_name(name) || rest.size() <= name.size() + 1) {
                bad("HELP needs a metric name and a text");
            }
            if (!helped.insert(name).second) {
                bad("second HELP for one metric");
            }
            continue;
        }
        if (line.starts_with("# TYPE ")) {
            std::istringstream words(line.substr(7));
            std::string name;
            std::string type;
            std::string extra;
            words >> name >> type;
            if (!is_metric_name(name) || (type != "counter" && type != "gauge") || (words >> extra)) {
                bad("TYPE needs a metric name and counter or gauge");
            }
            if (!helped.contains(name)) {
                bad("TYPE before its HELP");
            }
            if (e.types.contains(name)) {
                bad("second TYPE for one metric");
            }
            if ((type == "counter") != name.ends_with("_total")) {
                bad("a counter's name ends in _total, and only a counter's");
            }
            e.types[name] = type;
            family = name;
            continue;
        }
        if (line.empty() || line[0] == '#') {
            bad("a line that is neither HELP, TYPE nor a sample");
            continue;
        }
        // name{label="value",...} value
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') {
            ++i;
        }
        const std::string name = line.substr(0, i);
        if (!is_metric_name(name)) {
            bad("bad metric name");
            continue;
        }
        if (name != family) {
            bad("a sample outside its metric's HELP and TYPE lines");
        }
        std::string series = name;
        if (i < line.size() && line[i] == '{') {
            series += '{';
            ++i;
            bool first = true;
            while (i < line.size() && line[i] != '}' && e.errors.size() == errors_before) {
                const auto eq = line.find('=', i);
                if (eq == std::string::npos || !is_label_name(line.substr(i, eq - i)) || eq + 1 >= line.size() ||
                    line[eq + 1] != '"') {
                    bad("bad label");
                    break;
                }
                if (!first) {
                    series += ',';
                }
                series.append(line, i, eq - i);
                series += "=\"";
                first = false;
                i = eq + 2;
                while (i < line.size() && line[i] != '"' && e.errors.size() == errors_before) {
                    if (line[i] == '\\') {
                        ++i;
                        if (i >= line.size() || (line[i] != '\\' && line[i] != '"' && line[i] != 'n')) {
                            bad("bad escape in a label value");
                            break;
                        }
                        series += line[i] == 'n' ? '\n' : line[i];
                    } else {
                        series += line[i];
                    }
                    ++i;
                }
                series += '"';
                ++i; // the closing quote
                if (i < line.size() && line[i] == ',') {
                    ++i;
                }
            }
            series += '}';
            ++i; // the closing brace
        }
        if (e.errors.size() != errors_before) {
            continue; // one error per line is enough
        }
        if (i >= line.size() || line[i] != ' ') {
            bad("no space before the value");
            continue;
        }
        const std::string value = line.substr(i + 1);
        double v = 0;
        const auto res = std::from_chars(value.data(), value.data() + value.size(), v);
        if (res.ec != std::errc{} || res.ptr != value.data() + value.size()) {
            bad("the value is not a number");
        }
        if (!e.samples.emplace(series, v).second) {
            bad("a series given twice");
        }
    }
    return e;
}

std::string read(const fs::path& p)
{
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/// Every value the file must hold for job `j` after a run ending with report `r`.
void check_matches(const exposition& e, const std::string& j, const sturdy::report& r,
                   const sturdy::prometheus_totals& totals, bool running)
{
    INFO("job " << j);
    CHECK(e.errors.empty());
    for (const auto& err : e.errors) {
        INFO(err);
        CHECK(false);
    }
    const auto s = [&](const std::string& name, const std::string& outcome = "") {
        return e.at(name + "{job_name=\"" + j + "\"" + (outcome.empty() ? "" : ",outcome=\"" + outcome + "\"") + "}");
    };
    CHECK(s("sturdy_items_total", "done") == static_cast<double>(totals.done));
    CHECK(s("sturdy_items_total", "skipped") == static_cast<double>(totals.skipped));
    CHECK(s("sturdy_items_total", "failed") == static_cast<double>(totals.failed));
    CHECK(s("sturdy_items_total", "quarantined") == static_cast<double>(totals.quarantined));
    CHECK(s("sturdy_retries_total") == static_cast<double>(totals.retries));
    CHECK(s("sturdy_runs_total") == static_cast<double>(totals.runs));
    CHECK(s("sturdy_run_items", "done") == static_cast<double>(r.done));
    CHECK(s("sturdy_run_items", "skipped") == static_cast<double>(r.skipped));
    CHECK(s("sturdy_run_items", "failed") == static_cast<double>(r.failed));
    CHECK(s("sturdy_run_items", "quarantined") == static_cast<double>(r.quarantined));
    CHECK(s("sturdy_run_items", "remaining") == static_cast<double>(r.remaining));
    CHECK(s("sturdy_last_success_timestamp_seconds") == Approx(totals.last_success));
    CHECK(s("sturdy_work_remains") == (r.run_again_soon() ? 1.0 : 0.0));
    CHECK(s("sturdy_running") == (running ? 1.0 : 0.0));
    CHECK(s("sturdy_run_end_timestamp_seconds") == Approx(totals.last_end));
    CHECK(s("sturdy_work_remains_consecutive_runs") == static_cast<double>(totals.work_remains_runs));
    CHECK(e.types.size() == 11);
    CHECK(e.samples.size() == 18);
}

const auto wall_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764558514123));

double unix_seconds(std::chrono::system_clock::time_point t)
{
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

/// Reads the metrics file after each chunk (written after the metrics hook, so it sees its file).
struct reader {
    fs::path path;
    std::string job;
    std::string at_start{}; ///< the file when the run started
    std::vector<std::string> files{};
    std::vector<sturdy::report> so_far{};
    std::vector<double> seconds{};
    sturdy::time_point start{};
    void on_run_start(const sturdy::run_started& e)
    {
        start = e.start;
        at_start = read(path);
    }
    void after_chunk(const sturdy::chunk_ended& e)
    {
        files.push_back(read(path));
        so_far.push_back(e.so_far);
        seconds.push_back(std::chrono::duration<double>(e.now - start).count());
    }
};

} // namespace

TEST_CASE("the textfile parses as the exposition format, with the report's values, and counters add up over runs")
{
    test::temp_dir dir;
    const auto path = dir.path / "invoicing.prom";
    sturdy::memory::database db;
    auto ledger = db.ledger("job");
    sturdy::manual_clock clock;
    bool broken = true;
    int busy = 0;
    const auto run = [&](sturdy::prometheus_textfile& metrics) {
        return test::range_of(100) | sturdy::idempotent_by(ledger, [](int v) { return v; }) | sturdy::chunked(db, 10) |
               sturdy::guarded([&](int v) {
                   clock.advance(5ms);
                   if (broken && v % 25 == 3) {
                       throw std::runtime_error("no address");
                   }
                   if (v == 50 && broken && busy++ == 0) {
                       throw sturdy::transient_error("busy"); // succeeds on its second attempt
                   }
               }) |
               sturdy::retry_bounded(3, sturdy::backoff::exponential(10ms)) | sturdy::hook(metrics) |
               sturdy::with_clock(clock) | sturdy::drain;
    };

    const auto wall = [&] {
        return wall_time +
               std::chrono::duration_cast<std::chrono::system_clock::duration>(clock.now().time_since_epoch());
    };
    sturdy::prometheus_textfile metrics(path, "invoicing", sturdy::prometheus_textfile::at_run_end, wall);
    const double first_start = unix_seconds(wall());
    const auto first = run(metrics);
    const double first_end = unix_seconds(wall());
    REQUIRE(first.failed == 4);
    REQUIRE(first.retried == 1);
    REQUIRE(first.run_again_soon()); // the failures await a retry
    CHECK(metrics.last_error().empty());
    const auto e1 = parse(read(path));
    check_matches(e1, "invoicing", first,
                  {first.done, first.skipped, first.failed, first.quarantined, first.retried, 1, 0.0, first_end, 1},
                  false);
    CHECK(e1.at(R"(sturdy_run_start_timestamp_seconds{job_name="invoicing"})") == Approx(first_start));
    CHECK(e1.at(R"(sturdy_run_duration_seconds{job_name="invoicing"})") ==
          Approx(std::chrono::duration<double>(first.elapsed).count()).margin(0.0005));
    CHECK(e1.types.at("sturdy_items_total") == "counter");
    CHECK(e1.types.at("sturdy_work_remains") == "gauge");

    // A second run, by a new hook (a new process would be the same): the failed items succeed,
    // the counters add to the file's, and the success is stamped by the wall clock.
    broken = false;
    sturdy::prometheus_textfile again(path, "invoicing", sturdy::prometheus_textfile::at_run_end, wall);
    const auto second = run(again);
    REQUIRE(second.ok());
    REQUIRE_FALSE(second.run_again_soon());
    const double stamp =
        std::chrono::duration<double>((wall_time + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                                       clock.now().time_since_epoch()))
                                          .time_since_epoch())
            .count();
    check_matches(
        parse(read(path)), "invoicing", second,
        {first.done + second.done, first.skipped + second.skipped, first.failed, 0, first.retried, 2, stamp, stamp, 0},
        false);

    // A third run that fails keeps the last success's time.
    broken = true;
    auto other = db.ledger("other");
    test::range_of(1) | sturdy::idempotent_by(other, [](int v) { return v + 3; }) | sturdy::chunked(db, 10) |
        sturdy::guarded([](int) { throw std::runtime_error("no"); }) | sturdy::hook(again) | sturdy::with_clock(clock) |
        sturdy::drain;
    const auto e3 = parse(read(path));
    CHECK(e3.errors.empty());
    CHECK(e3.at(R"(sturdy_last_success_timestamp_seconds{job_name="invoicing"})") == Approx(stamp));
    CHECK(e3.at(R"(sturdy_runs_total{job_name="invoicing"})") == 3);
    CHECK(e3.at(R"(sturdy_work_remains{job_name="invoicing"})") == 1);
    CHECK(e3.at(R"(sturdy_work_remains_consecutive_runs{job_name="invoicing"})") == 1);
    CHECK(e3.at(R"(sturdy_run_end_timestamp_seconds{job_name="invoicing"})") == Approx(unix_seconds(wall())));

    // Nothing but the file is left in the directory: the temporary files were renamed.
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir.path)) {
        names.push_back(entry.path().filename().string());
    }
    CHECK(names == std::vector<std::string>{"invoicing.prom"});
    struct ::stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644); // readable by a collector running as another user
}

TEST_CASE("after each chunk: the file says running, with the counts so far and the time from the job's clock")
{
    test::temp_dir dir;
    const auto path = dir.path / "sync.prom";
    sturdy::memory::database db;
    sturdy::manual_clock clock;
    sturdy::prometheus_textfile metrics(path, "sync", sturdy::prometheus_textfile::after_each_chunk,
                                        [] { return wall_time; });
    reader r{path, "sync"};
    const auto report = test::range_of(45) | sturdy::chunked(db, 10) | sturdy::guarded([&](int v) {
                            clock.advance(7ms);
                            if (v == 12) {
                                throw std::runtime_error("bad row");
                            }
                        }) |
                        sturdy::hook(metrics) | sturdy::hook(r) | sturdy::with_clock(clock) | sturdy::drain;
    // At the start, before any chunk: running, nothing counted yet, started and never ended.
    const auto start = parse(r.at_start);
    check_matches(start, "sync", sturdy::report{}, {}, true);
    CHECK(start.at(R"(sturdy_run_start_timestamp_seconds{job_name="sync"})") == Approx(unix_seconds(wall_time)));
    REQUIRE(r.files.size() == 5);
    for (std::size_t i = 0; i < r.files.size(); ++i) {
        INFO("after chunk " << i);
        const auto e = parse(r.files[i]);
        const auto& so_far = r.so_far[i];
        check_matches(e, "sync", so_far,
                      {so_far.done, so_far.skipped, so_far.failed, so_far.quarantined, so_far.retried, 0, 0.0, 0.0, 0},
                      true);
        CHECK(e.at(R"(sturdy_run_duration_seconds{job_name="sync"})") == Approx(r.seconds[i]).margin(0.0005));
        CHECK(e.at(R"(sturdy_run_start_timestamp_seconds{job_name="sync"})") == Approx(unix_seconds(wall_time)));
    }
    // At the end: not running, one run, ended by the wall clock; no success (an item failed) and
    // work left (the failed item awaits a retry): the first run in a row to leave some.
    REQUIRE(report.failed == 1);
    REQUIRE(report.run_again_soon());
    const auto end = parse(read(path));
    check_matches(end, "sync", report, {report.done, 0, 1, 0, 0, 1, 0.0, unix_seconds(wall_time), 1}, false);
}

TEST_CASE("a write replaces the file whole: a reader of the old file reads all of it")
{
    test::temp_dir dir;
    const auto path = dir.path / "job.prom";
    sturdy::report r;
    r.done = 10;
    sturdy::write_textfile(path, "job", r, wall_time);
    const std::string old_text = read(path);
    struct ::stat before {};
    REQUIRE(::stat(path.c_str(), &before) == 0);

    std::ifstream old_reader(path); // opened before the next write, read after it
    r.done = 1'000'000;
    r.add_failure({sturdy::key(1), "x"});
    sturdy::write_textfile(path, "job", r, wall_time);
    std::ostringstream seen;
    seen << old_reader.rdbuf();
    CHECK(seen.str() == old_text); // written in place, the old reader would read a mix or nothing
    struct ::stat after {};
    REQUIRE(::stat(path.c_str(), &after) == 0);
    CHECK(after.st_ino != before.st_ino);
    const auto e = parse(read(path));
    CHECK(e.errors.empty());
    CHECK(e.at(R"(sturdy_items_total{job_name="job",outcome="done"})") == 1'000'010);
    CHECK(e.at(R"(sturdy_runs_total{job_name="job"})") == 2);
    CHECK(e.at(R"(sturdy_last_success_timestamp_seconds{job_name="job"})") == Approx(1764558514.123));
}

TEST_CASE("label values are escaped, and the counters are read back under the escaped name")
{
    test::temp_dir dir;
    const auto path = dir.path / "odd.prom";
    const std::string job = "a \"quoted\" back\\slash\nnewline job";
    sturdy::report r;
    r.done = 3;
    r.retried = 2;
    sturdy::write_textfile(path, job, r, wall_time);
    sturdy::write_textfile(path, job, r, wall_time);
    const auto text = read(path);
    CHECK(text.find(R"(sturdy_retries_total{job_name="a \"quoted\" back\\slash\nnewline job"} 4)") !=
          std::string::npos);
    const auto e = parse(text);
    CHECK(e.errors.empty());
    CHECK(e.at("sturdy_items_total{job_name=\"" + job + "\",outcome=\"done\"}") == 6);
    // Another job's file holds none of this job's counters.
    CHECK(sturdy::read_prometheus_totals(path, "other").runs == 0);
    CHECK(sturdy::read_prometheus_totals(path, job).runs == 2);
}

TEST_CASE("the parser rejects what breaks the format")
{
    CHECK(parse("# HELP a_total x\n# TYPE a_total counter\na_total 1\n").errors.empty());
    CHECK(parse("# HELP a x\n# TYPE a counter\na 1\n").errors.size() == 1);          // a counter without _total
    CHECK(parse("# HELP a x\n# TYPE a gauge\na{b=\"c} 1\n").errors.size() == 1);     // unterminated
    CHECK(parse("# HELP a x\n# TYPE a gauge\na{b=\"c\"} one\n").errors.size() == 1); // not a number
    CHECK(parse("# HELP a x\n# TYPE a gauge\nb 1\n").errors.size() == 1);            // outside its family
    CHECK(parse("# HELP a x\n# TYPE a gauge\na 1\na 2\n").errors.size() == 1);       // twice
    CHECK(parse("# HELP a x\n# TYPE a gauge\na{b=\"\\x\"} 1\n").errors.size() == 1); // bad escape
    CHECK(parse("# HELP a x\n# TYPE a gauge\na 1").errors.size() == 1);              // no final newline
}

TEST_CASE("bad paths and names are refused with the fix; a failed write keeps the run and says why")
{
    test::temp_dir dir;
    CHECK_THROWS_WITH(sturdy::prometheus_textfile(dir.path / "missing" / "x.prom", "job"),
                      Catch::Contains("the directory") && Catch::Contains("does not exist; create it"));
    CHECK_THROWS_WITH(sturdy::prometheus_textfile(dir.path / "x.prom", ""), Catch::Contains("the job name is empty"));

    const auto sub = dir.path / "textfile";
    fs::create_directory(sub);
    sturdy::prometheus_textfile metrics(sub / "job.prom", "job");
    fs::remove(sub); // gone before the run ends
    sturdy::memory::database db;
    const auto r = test::range_of(3) | sturdy::chunked(db, 10) | sturdy::guarded([](int) {}) | sturdy::hook(metrics) |
                   sturdy::drain;
    CHECK(r.done == 3);
    CHECK_THAT(metrics.last_error(),
               Catch::Contains("cannot create a temporary file next to " + (sub / "job.prom").string()));
    CHECK_THROWS_WITH(sturdy::write_textfile(sub / "job.prom", "job", r),
                      Catch::Contains("cannot create a temporary file"));
}

TEST_CASE("runs in a row with work left are counted, and a run in progress keeps the last end and count")
{
    test::temp_dir dir;
    const auto path = dir.path / "batch.prom";
    sturdy::report left;
    left.done = 5;
    left.remaining = 7; // stopped early: a rerun soon
    REQUIRE(left.run_again_soon());
    sturdy::report finished;
    finished.done = 12;
    REQUIRE_FALSE(finished.run_again_soon());
    const auto at = [](int s) { return wall_time + std::chrono::seconds(s); };
    const auto consecutive = [&] {
        return parse(read(path)).at(R"(sturdy_work_remains_consecutive_runs{job_name="batch"})");
    };
    sturdy::write_textfile(path, "batch", left, at(0));
    CHECK(consecutive() == 1);
    sturdy::write_textfile(path, "batch", left, at(60));
    CHECK(consecutive() == 2);
    sturdy::write_textfile(path, "batch", left, at(120));
    CHECK(consecutive() == 3);
    const auto totals = sturdy::read_prometheus_totals(path, "batch");
    CHECK(totals.work_remains_runs == 3);
    CHECK(totals.last_end == Approx(unix_seconds(at(120))));

    // A run in progress: the count and the end of the last run that ended, a newer start.
    const auto mid = parse(sturdy::prometheus_text("batch", totals, left, 30.0, true, at(200), at(170)));
    CHECK(mid.errors.empty());
    CHECK(mid.at(R"(sturdy_work_remains_consecutive_runs{job_name="batch"})") == 3);
    CHECK(mid.at(R"(sturdy_run_end_timestamp_seconds{job_name="batch"})") == Approx(unix_seconds(at(120))));
    CHECK(mid.at(R"(sturdy_run_start_timestamp_seconds{job_name="batch"})") == Approx(unix_seconds(at(170))));
    CHECK(mid.at(R"(sturdy_runs_total{job_name="batch"})") == 3);

    // A run that leaves nothing resets the count; without a start, it is the end minus the duration.
    finished.elapsed = std::chrono::seconds(40);
    sturdy::write_textfile(path, "batch", finished, at(300));
    const auto e = parse(read(path));
    CHECK(e.at(R"(sturdy_work_remains_consecutive_runs{job_name="batch"})") == 0);
    CHECK(e.at(R"(sturdy_run_start_timestamp_seconds{job_name="batch"})") == Approx(unix_seconds(at(260))));
    CHECK(e.at(R"(sturdy_run_end_timestamp_seconds{job_name="batch"})") == Approx(unix_seconds(at(300))));
    CHECK(e.at(R"(sturdy_last_success_timestamp_seconds{job_name="batch"})") == Approx(unix_seconds(at(300))));
}

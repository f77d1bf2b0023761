#pragma once
/// sturdy/store/impl/memory.ipp — definitions for sturdy/store/memory.hpp (see sturdy/config.hpp).

#include <sturdy/store/detail/sql_kit.hpp>
#include <sturdy/store/memory.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sturdy::memory {

// --- table -------------------------------------------------------------------------------

STURDY_DECL void table::insert(const key& k, std::string value)
{
    if (!try_insert(k, std::move(value))) {
        throw permanent_error("memory: unique constraint failed: " + name_ + " already holds key " + k.str());
    }
}

STURDY_DECL bool table::erase(const key& k)
{
    auto it = rows_.find(k);
    if (it == rows_.end()) {
        return false;
    }
    db_->record(*this, k, it->second);
    rows_.erase(it);
    return true;
}

STURDY_DECL void table::restore(const key& k, std::optional<std::string> old)
{
    if (old) {
        rows_.insert_or_assign(k, std::move(*old));
    } else {
        rows_.erase(k);
    }
}

// --- ledger ------------------------------------------------------------------------------

STURDY_DECL std::vector<failure_info> ledger::failures() const
{
    std::vector<failure_info> out;
    for (const auto& [k, text] : failed_->rows()) {
        out.push_back(decode(k, text));
    }
    std::ranges::sort(out, {}, &failure_info::item_key); // by key, as the SQL stores return them
    return out;
}

STURDY_DECL failure_info ledger::record_failure(const key& k, std::string_view reason, int quarantine_after)
{
    const auto now = store_detail::unix_seconds();
    failure_info f = failed_->contains(k) ? decode(k, *failed_->get(k)) : failure_info{k, 0, {}, false, now, now};
    ++f.runs;
    f.last_reason = std::string(reason);
    f.last_failed = now;
    f.quarantined = f.runs >= quarantine_after;
    failed_->put(k, encode(f));
    return f;
}

STURDY_DECL void ledger::clear_failure(const key& k) { failed_->erase(k); }

STURDY_DECL bool ledger::requeue(const key& k)
{
    auto text = failed_->get(k);
    if (!text) {
        return false;
    }
    auto f = decode(k, *text);
    f.runs = 0;
    f.quarantined = false;
    failed_->put(k, encode(f));
    return true;
}

STURDY_DECL std::size_t ledger::requeue_all()
{
    std::size_t n = 0;
    for (const auto& f : failures()) {
        n += f.quarantined && requeue(f.item_key) ? 1 : 0;
    }
    return n;
}

STURDY_DECL std::size_t ledger::forget_marked_before(std::chrono::system_clock::time_point cutoff, std::size_t batch)
{
    store_detail::require_batch("memory::ledger", batch);
    const auto before = std::chrono::floor<std::chrono::seconds>(cutoff).time_since_epoch().count();
    std::vector<key> old;
    for (const auto& [k, text] : done_->rows()) {
        std::int64_t marked = 0;
        const auto* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, marked);
        if (ec == std::errc{} && at == end && !text.empty() && marked < before) {
            old.push_back(k);
        }
    }
    const bool owns = !db_->in_transaction();
    for (std::size_t from = 0; from < old.size(); from += batch) {
        if (owns) {
            db_->begin();
        }
        try {
            for (std::size_t i = from; i < std::min(old.size(), from + batch); ++i) {
                done_->erase(old[i]);
            }
            if (owns) {
                db_->commit();
            }
        } catch (...) {
            if (owns && db_->in_transaction()) {
                db_->rollback();
            }
            throw;
        }
    }
    return old.size();
}

STURDY_DECL std::string ledger::encode(const failure_info& f)
{
    return std::to_string(f.runs) + '\t' + (f.quarantined ? '1' : '0') + '\t' + std::to_string(f.first_failed) + '\t' +
           std::to_string(f.last_failed) + '\t' + f.last_reason;
}

STURDY_DECL failure_info ledger::decode(const key& k, const std::string& text)
{
    failure_info f;
    f.item_key = k;
    std::size_t pos = 0;
    auto field = [&] {
        const auto tab = text.find('\t', pos);
        auto part = text.substr(pos, tab - pos);
        pos = tab + 1;
        return part;
    };
    f.runs = std::stoi(field());
    f.quarantined = field() == "1";
    f.first_failed = std::stoll(field());
    f.last_failed = std::stoll(field());
    f.last_reason = text.substr(pos);
    return f;
}

// --- database ----------------------------------------------------------------------------

STURDY_DECL memory::table& database::table(std::string_view name)
{
    auto it = tables_.find(name);
    if (it == tables_.end()) {
        it =
            tables_
                .emplace(std::string(name), std::unique_ptr<memory::table>(new memory::table(*this, std::string(name))))
                .first;
    }
    return *it->second;
}

STURDY_DECL memory::unique_key_ledger database::ledger(const unique_key& spec)
{
    return {table(spec.table), ledger(spec.name.empty() ? std::string_view(spec.table) : std::string_view(spec.name))};
}

STURDY_DECL void unique_key_ledger::claim_all(std::span<const key> keys, std::vector<bool>& claimed)
{
    std::vector<bool> found(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        found[i] = table_->contains(keys[i]);
    }
    store_detail::claim_first_occurrences(keys, found, claimed);
}

STURDY_DECL std::size_t unique_key_ledger::confirm_all(std::span<const key> keys)
{
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!table_->contains(keys[i])) {
            return i;
        }
    }
    return keys.size();
}

STURDY_DECL bool unique_key_ledger::done_elsewhere(const std::error_code& code, std::string_view message) const
{
    return code == sturdy::errc::permanent && message.find("unique constraint failed: " + table_->name() +
                                                           " already holds key ") != std::string_view::npos;
}

STURDY_DECL memory::ledger database::ledger(std::string_view name)
{
    return {std::string(name), *this, table(std::string("sturdy_ledger:") + std::string(name)),
            table(std::string("sturdy_failure:") + std::string(name))};
}

STURDY_DECL std::optional<std::string> database::checkpoint(const std::string& name)
{
    return table("sturdy_checkpoint").get(name);
}

STURDY_DECL void database::set_checkpoint(const std::string& name, const std::string& value)
{
    table("sturdy_checkpoint").put(name, value);
}

STURDY_DECL std::map<std::string, memory::table::rows_type, std::less<>> database::snapshot() const
{
    std::map<std::string, memory::table::rows_type, std::less<>> out;
    for (const auto& [name, t] : tables_) {
        if (t->rows().empty()) {
            continue;
        }
        auto& rows = out.emplace(name, t->rows()).first->second;
        if (name.starts_with("sturdy_ledger:")) {
            for (auto& row : rows) {
                row.second.clear(); // when it was marked
            }
        }
    }
    return out;
}

STURDY_DECL void database::begin()
{
    if (in_transaction_) {
        throw usage_error("memory::database::begin: a transaction is already open; commit or roll it back first");
    }
    mark_time_ = unix_now();
    in_transaction_ = true;
}

STURDY_DECL void database::commit()
{
    require_transaction("commit");
    if (fail_next_commits_ > 0) {
        --fail_next_commits_;
        throw transient_error("memory::database: commit failed (injected)");
    }
    undo_.clear();
    open_savepoints_ = 0;
    in_transaction_ = false;
    ++commits_;
}

STURDY_DECL void database::rollback()
{
    require_transaction("rollback");
    undo_to(0);
    open_savepoints_ = 0;
    in_transaction_ = false;
}

STURDY_DECL void database::savepoint_guard::release()
{
    auto* db = std::exchange(db_, nullptr);
    --db->open_savepoints_;
    if (owns_transaction_) {
        db->commit();
    }
}

STURDY_DECL void database::savepoint_guard::rollback()
{
    auto* db = std::exchange(db_, nullptr);
    db->undo_to(mark_);
    --db->open_savepoints_;
    if (owns_transaction_) {
        db->rollback();
    }
}

STURDY_DECL database::savepoint_guard database::savepoint()
{
    const bool owns = !in_transaction_;
    if (owns) {
        begin();
    }
    ++open_savepoints_;
    ++savepoints_taken_;
    return {*this, undo_.size(), owns};
}

STURDY_DECL std::string database::unix_now() { return std::to_string(store_detail::unix_seconds()); }

STURDY_DECL void database::require_transaction(const char* what) const
{
    if (!in_transaction_) {
        throw usage_error(std::string("memory::database::") + what + ": no transaction is open; call begin() first");
    }
}

STURDY_DECL void database::undo_to(std::size_t mark)
{
    while (undo_.size() > mark) {
        auto& u = undo_.back();
        u.where->restore(u.k, std::move(u.old));
        undo_.pop_back();
    }
}

} // namespace sturdy::memory

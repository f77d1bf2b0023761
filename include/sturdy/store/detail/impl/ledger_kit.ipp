#pragma once
/// sturdy/store/detail/impl/ledger_kit.ipp — definitions for sturdy/store/detail/ledger_kit.hpp (see
/// sturdy/config.hpp).

#include <sturdy/error.hpp>
#include <sturdy/store/detail/ledger_kit.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy::store_detail {

STURDY_DECL std::string compared_name(std::string_view name, const catalog_rules& rules)
{
    std::string out(name);
    if (rules.fold_case) {
        for (char& c : out) {
            if (c >= 'A' && c <= 'Z') {
                c = static_cast<char>(c - 'A' + 'a');
            }
        }
    }
    return out;
}

STURDY_DECL const std::string* column_type(const user_table& t, std::string_view column, const catalog_rules& rules)
{
    const std::string wanted = compared_name(column, rules);
    for (std::size_t i = 0; i < t.columns.size(); ++i) {
        if (t.columns[i] == wanted) {
            return i < t.types.size() ? &t.types[i] : nullptr;
        }
    }
    return nullptr;
}

STURDY_DECL void require_columns(const user_table& t, const std::vector<std::string>& columns,
                                 const catalog_rules& rules)
{
    for (const auto& c : columns) {
        if (std::find(t.columns.begin(), t.columns.end(), compared_name(c, rules)) != t.columns.end()) {
            continue;
        }
        std::string message(rules.store);
        message += ": the table ";
        message += quote_qualified(t.name);
        if (!rules.location.empty()) {
            message += " of ";
            message += rules.location;
        }
        message += " has no column ";
        message += quote_identifier(c);
        message += " (its columns: ";
        message += joined(t.columns);
        message += rules.note;
        message += ")";
        throw failure_error(sturdy::make_error_code(errc::schema_mismatch), message);
    }
}

STURDY_DECL const user_table::unique_index&
require_unique_index(const user_table& t, const std::vector<std::string>& columns, const catalog_rules& rules)
{
    std::vector<std::string> wanted;
    for (const auto& c : columns) {
        wanted.push_back(compared_name(c, rules));
    }
    std::sort(wanted.begin(), wanted.end());
    for (const auto& index : t.unique_indexes) {
        std::vector<std::string> sorted = index.columns;
        std::sort(sorted.begin(), sorted.end());
        if (sorted == wanted) {
            return index;
        }
    }
    std::string store(rules.store);
    if (!rules.location.empty()) {
        store += ": ";
        store += rules.location;
    }
    throw failure_error(sturdy::make_error_code(errc::schema_mismatch), missing_unique_index(store, t.name, columns));
}

STURDY_DECL void require_key_columns(std::string_view store, const unique_key& spec)
{
    if (!spec.columns.empty()) {
        return;
    }
    std::string message(store);
    message += "::database::ledger(unique_key): name the columns of a unique index of ";
    message += spec.table;
    message += " (unique_key{\"";
    message += spec.table;
    message += "\", {\"column\", ...}})";
    throw usage_error(message);
}

STURDY_DECL void require_marker_columns(const user_table& t, const marker& spec, const catalog_rules& rules)
{
    require_columns(t, {spec.id_column, spec.marker_column}, rules);
    (void)require_unique_index(t, {spec.id_column}, rules);
}

} // namespace sturdy::store_detail

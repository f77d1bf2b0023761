#pragma once
/// sturdy/store/impl/effect_ledger.ipp — definitions for sturdy/store/effect_ledger.hpp (see sturdy/config.hpp).

#include <sturdy/error.hpp>
#include <sturdy/store/effect_ledger.hpp>

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy::store_detail {

STURDY_DECL void claim_first_occurrences(std::span<const key> keys, const std::vector<bool>& found,
                                         std::vector<bool>& claimed)
{
    claimed.assign(keys.size(), false);
    const key* last = nullptr;
    bool increasing = true;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (!found[i]) {
            increasing = increasing && (last == nullptr || *last < keys[i]);
            last = &keys[i];
            claimed[i] = true;
        }
    }
    if (increasing) {
        return; // no key twice
    }
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (claimed[i]) {
            order.push_back(i);
        }
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
    for (std::size_t j = 1; j < order.size(); ++j) {
        if (keys[order[j]] == keys[order[j - 1]]) {
            claimed[order[j]] = false; // a later occurrence: the first one claims it
        }
    }
}

STURDY_DECL std::string joined(const std::vector<std::string>& names, std::string_view separator)
{
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) {
            out += separator;
        }
        out += n;
    }
    return out;
}

STURDY_DECL std::vector<std::string> key_values(const key& k, std::size_t n, std::string_view what)
{
    std::vector<std::string> out;
    out.reserve(n);
    std::string text = k.str();
    if (n <= 1) {
        out.push_back(std::move(text));
        return out;
    }
    std::size_t from = 0;
    while (out.size() + 1 < n) {
        const std::size_t slash = text.find('/', from);
        if (slash == std::string::npos) {
            std::string message = "the key ";
            message += text;
            message += " has ";
            message += std::to_string(out.size() + 1);
            message += " part(s), but ";
            message += what;
            message += " has ";
            message += std::to_string(n);
            message +=
                ": return a tuple of the columns' values from the key function, in the order the ledger names them";
            throw usage_error(message);
        }
        out.push_back(text.substr(from, slash - from));
        from = slash + 1;
    }
    out.push_back(text.substr(from));
    return out;
}

STURDY_DECL qualified_name split_qualified(std::string_view name)
{
    const std::size_t dot = name.find('.');
    if (dot == std::string_view::npos) {
        return {{}, std::string(name)};
    }
    return {std::string(name.substr(0, dot)), std::string(name.substr(dot + 1))};
}

STURDY_DECL std::string quote_identifier(std::string_view name)
{
    std::string out = "\"";
    for (const char c : name) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    out += '"';
    return out;
}

STURDY_DECL std::string quote_qualified(const qualified_name& name)
{
    std::string out;
    if (!name.schema.empty()) {
        out = quote_identifier(name.schema);
        out += '.';
    }
    out += quote_identifier(name.table);
    return out;
}

STURDY_DECL std::string missing_unique_index(std::string_view store, const qualified_name& table,
                                             const std::vector<std::string>& columns)
{
    std::vector<std::string> quoted;
    std::string index_name = table.table;
    for (const auto& c : columns) {
        quoted.push_back(quote_identifier(c));
        index_name += '_';
        index_name += c;
    }
    std::string message(store);
    message += ": the table ";
    message += quote_qualified(table);
    message += " has no unique index on exactly (";
    message += joined(columns);
    message += "), which a unique-key ledger needs to tell a done item from a new one (and another writer's "
               "row from a failure): add one with CREATE UNIQUE INDEX ";
    message += quote_identifier(index_name);
    message += " ON ";
    message += quote_qualified(table);
    message += "(";
    message += joined(quoted);
    message += "), or keep the done keys in sturdy's own ledger (db.ledger(\"name\"))";
    return message;
}

STURDY_DECL std::string unwritten_row(std::string_view table, const std::vector<std::string>& columns, const key& k)
{
    std::string message = "the effect returned without writing its row: ";
    message += table;
    message += " has no row with (";
    message += joined(columns);
    message += ") = ";
    message += k.str();
    message += ", the key of this item (the unique-key ledger counts an item done by that row: the effect must "
               "insert it, or the key function must return the values it inserts)";
    return message;
}

STURDY_DECL std::string missing_marked_row(std::string_view table, std::string_view id_column, const key& k)
{
    std::string message = "no row to mark: ";
    message += table;
    message += " has no row with ";
    message += id_column;
    message += " = ";
    const std::string text = k.str();
    message += text.substr(0, text.find('/'));
    message += " (the marker ledger keeps an item's done mark in its own row)";
    return message;
}

} // namespace sturdy::store_detail

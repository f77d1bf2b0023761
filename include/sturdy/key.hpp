#pragma once
/// sturdy/key.hpp — `sturdy::key`, what a ledger records for an item: an integer or a text.
/// A key function may return an integer, anything convertible to `std::string_view`, a
/// `sturdy::key`, or a tuple/pair of those (joined with '/': `key(s.id, period)` -> "42/2024-05").

#include <fmt/format.h>

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace sturdy {

/// An item's identity in a ledger. Integral keys stay integers so stores can index them cheaply.
class key {
public:
    key() = default;
    template <std::integral I>
    requires(!std::same_as<I, bool>) key(I value)
        : value_(static_cast<std::int64_t>(value)) // NOLINT: implicit by design
    {
    }
    key(std::string value) : value_(std::move(value)) {}        // NOLINT
    key(std::string_view value) : value_(std::string(value)) {} // NOLINT
    key(const char* value) : value_(std::string(value)) {}      // NOLINT

    [[nodiscard]] bool is_integer() const noexcept { return value_.index() == 0; }
    [[nodiscard]] std::int64_t integer() const { return std::get<0>(value_); }
    [[nodiscard]] const std::string& text() const { return std::get<1>(value_); }

    /// The key as text, used in logs, reports and as the idempotency key handed to effects.
    [[nodiscard]] std::string str() const { return is_integer() ? std::to_string(integer()) : text(); }

    friend bool operator==(const key&, const key&) = default;
    friend auto operator<=>(const key&, const key&) = default;

private:
    std::variant<std::int64_t, std::string> value_{std::int64_t{0}};
};

namespace detail {
template <class T> struct is_tuple_like : std::false_type {
};
template <class... Ts> struct is_tuple_like<std::tuple<Ts...>> : std::true_type {
};
template <class A, class B> struct is_tuple_like<std::pair<A, B>> : std::true_type {
};
} // namespace detail

/// What a key function may return.
template <class T>
concept key_like = std::same_as<std::remove_cvref_t<T>, key> ||
                   (std::integral<std::remove_cvref_t<T>> && !std::same_as<std::remove_cvref_t<T>, bool>) ||
                   std::convertible_to<T, std::string_view> || detail::is_tuple_like<std::remove_cvref_t<T>>::value;

/// Turn a key function's result into a `sturdy::key`.
template <key_like T> key make_key(T&& value)
{
    using U = std::remove_cvref_t<T>;
    if constexpr (std::same_as<U, key>) {
        return std::forward<T>(value);
    } else if constexpr (std::integral<U>) {
        return key(static_cast<std::int64_t>(value));
    } else if constexpr (std::convertible_to<T, std::string_view>) {
        return key(std::string_view(value));
    } else {
        std::string joined;
        std::apply(
            [&](const auto&... part) {
                ((joined += (joined.empty() ? "" : "/"), joined += make_key(part).str()), ...);
            },
            value);
        return key(std::move(joined));
    }
}

} // namespace sturdy

template <> struct std::hash<sturdy::key> {
    std::size_t operator()(const sturdy::key& k) const noexcept
    {
        return k.is_integer() ? std::hash<std::int64_t>{}(k.integer()) : std::hash<std::string>{}(k.text());
    }
};

template <> struct fmt::formatter<sturdy::key> : fmt::formatter<std::string_view> {
    template <class Ctx> auto format(const sturdy::key& k, Ctx& ctx) const
    {
        return fmt::formatter<std::string_view>::format(k.str(), ctx);
    }
};

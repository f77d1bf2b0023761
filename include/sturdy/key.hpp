#pragma once
/// sturdy/key.hpp — `sturdy::key`, what a ledger records for an item: an integer or a text.
/// A key function may return an integer, anything convertible to `std::string_view`, a
/// `sturdy::key`, or a tuple/pair of those (joined with '/': `key(s.id, period)` -> "42/2024-05").

// For fmt::formatter<sturdy::key> alone.
#include <sturdy/detail/fmt_core.hpp>

#include <compare>
#include <concepts>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace sturdy {

/// An item's identity in a ledger. Integral keys stay integers so stores can index them cheaply.
/// Integer keys order before text keys; keys of one kind order by value.
class key {
public:
    key() noexcept : integer_(0) {}
    template <std::integral I>
    requires(!std::same_as<I, bool>) key(I value)
    noexcept : integer_(static_cast<std::int64_t>(value)) // NOLINT: implicit by design
    {
    }
    key(std::string value) : text_(std::move(value)), is_text_(true) {} // NOLINT
    key(std::string_view value) : text_(value), is_text_(true) {}       // NOLINT
    key(const char* value) : text_(value), is_text_(true) {}            // NOLINT

    // A tagged union written out rather than a std::variant: keys are copied, compared and
    // hashed all over the loop and the stores, and std::variant's visitation machinery is
    // instantiated for each of those in every translation unit.
    key(const key& other) : is_text_(other.is_text_)
    {
        if (is_text_) {
            new (&text_) std::string(other.text_);
        } else {
            integer_ = other.integer_;
        }
    }
    key(key&& other) noexcept : is_text_(other.is_text_)
    {
        if (is_text_) {
            new (&text_) std::string(std::move(other.text_));
        } else {
            integer_ = other.integer_;
        }
    }
    key& operator=(const key& other)
    {
        if (this != &other) {
            if (is_text_ && other.is_text_) {
                text_ = other.text_;
            } else {
                key copy(other);
                *this = std::move(copy);
            }
        }
        return *this;
    }
    key& operator=(key&& other) noexcept
    {
        if (is_text_ && other.is_text_) {
            text_ = std::move(other.text_);
        } else {
            this->~key();
            new (this) key(std::move(other));
        }
        return *this;
    }
    ~key()
    {
        if (is_text_) {
            text_.~basic_string();
        }
    }

    [[nodiscard]] bool is_integer() const noexcept { return !is_text_; }
    /// The integer; throws std::bad_variant_access for a text key.
    [[nodiscard]] std::int64_t integer() const
    {
        if (is_text_) {
            throw std::bad_variant_access();
        }
        return integer_;
    }
    /// The text; throws std::bad_variant_access for an integer key.
    [[nodiscard]] const std::string& text() const
    {
        if (!is_text_) {
            throw std::bad_variant_access();
        }
        return text_;
    }

    /// The key as text, used in logs, reports and as the idempotency key handed to effects.
    [[nodiscard]] std::string str() const { return is_text_ ? text_ : std::to_string(integer_); }

    [[nodiscard]] std::size_t hash() const noexcept
    {
        return is_text_ ? std::hash<std::string>{}(text_) : std::hash<std::int64_t>{}(integer_);
    }

    friend bool operator==(const key& a, const key& b) noexcept
    {
        return a.is_text_ == b.is_text_ && (a.is_text_ ? a.text_ == b.text_ : a.integer_ == b.integer_);
    }
    friend std::strong_ordering operator<=>(const key& a, const key& b) noexcept
    {
        if (a.is_text_ != b.is_text_) {
            return a.is_text_ ? std::strong_ordering::greater : std::strong_ordering::less;
        }
        return a.is_text_ ? a.text_.compare(b.text_) <=> 0 : a.integer_ <=> b.integer_;
    }

private:
    union {
        std::int64_t integer_;
        std::string text_;
    };
    bool is_text_ = false;
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
    std::size_t operator()(const sturdy::key& k) const noexcept { return k.hash(); }
};

/// `fmt::format("{}", k)`, with a string's format specification (`{:>12}`, `{:.8}`). Only
/// fmt/core.h is needed: the specification is applied through fmt's compiled library.
template <> struct fmt::formatter<sturdy::key> {
    constexpr auto parse(fmt::format_parse_context& ctx)
    {
        const auto begin = ctx.begin();
        const auto end = fmt::formatter<fmt::string_view>().parse(ctx); // checks the specification
        spec_ = fmt::string_view(begin, static_cast<std::size_t>(end - begin));
        for (const char c : spec_) {
            if (c == '{') {
                ctx.on_error("sturdy::key: a width or precision taken from an argument is not supported");
            }
        }
        return end;
    }
    template <class Ctx> auto format(const sturdy::key& k, Ctx& ctx) const
    {
        std::string text = k.str();
        if (spec_.size() > 0) {
            // fmt::format, not format_to: fmt::vformat is a plain exported function, so this links
            // whichever compiler built libfmt.
            std::string with_spec = "{:";
            with_spec.append(spec_.data(), spec_.size());
            with_spec += '}';
            text = fmt::format(fmt::runtime(with_spec), text);
        }
        auto out = ctx.out();
        for (const char c : text) {
            *out++ = c;
        }
        return out;
    }

private:
    fmt::string_view spec_;
};

#pragma once
/// sturdy/store/detail/rows.hpp — what the SQL stores share to read rows into C++ types: which
/// types one column converts to, how a row type's fields map onto columns, and how a lazy
/// range keeps its arguments (internal).

#include <sturdy/key.hpp>

#include <boost/pfr.hpp>

#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace sturdy::detail::rows {

template <class T> struct is_optional : std::false_type {
};
template <class T> struct is_optional<std::optional<T>> : std::true_type {
};
template <class T> struct is_tuple : std::false_type {
};
template <class... Ts> struct is_tuple<std::tuple<Ts...>> : std::true_type {
};
template <class A, class B> struct is_tuple<std::pair<A, B>> : std::true_type {
};

/// Types one column converts to.
template <class T>
concept column_value =
    std::is_arithmetic_v<T> || std::same_as<T, std::string> || std::same_as<T, key> || is_optional<T>::value;

/// How many columns a row of `Row` reads: one for a column type, one per element of a tuple,
/// one per field of an aggregate.
template <class Row> constexpr std::size_t field_count()
{
    if constexpr (is_tuple<Row>::value) {
        return std::tuple_size_v<Row>;
    } else if constexpr (column_value<Row>) {
        return 1;
    } else {
        return boost::pfr::tuple_size_v<Row>;
    }
}

/// A row as `Row`, its columns read in order by `column.template operator()<T>(i)`: a single
/// column type, a std::tuple/std::pair, or an aggregate struct whose fields are read in order.
template <class Row, class Column> Row read(const Column& column)
{
    if constexpr (column_value<Row>) {
        return column.template operator()<Row>(0);
    } else if constexpr (is_tuple<Row>::value) {
        return [&]<std::size_t... I>(std::index_sequence<I...>)
        {
            return Row{column.template operator()<std::tuple_element_t<I, Row>>(static_cast<int>(I))...};
        }
        (std::make_index_sequence<std::tuple_size_v<Row>>{});
    } else {
        static_assert(std::is_aggregate_v<Row> && std::default_initializable<Row>,
                      "sturdy: read rows as a column type, a std::tuple, or an aggregate struct");
        Row out{};
        boost::pfr::for_each_field(out, [&](auto& field, std::size_t i) {
            field = column.template operator()<std::remove_cvref_t<decltype(field)>>(static_cast<int>(i));
        });
        return out;
    }
}

/// An argument kept by a lazy range until it runs: texts are copied, so none can dangle.
template <class T> auto owned(const T& v)
{
    if constexpr (std::convertible_to<const T&, std::string_view> && !std::same_as<T, std::nullptr_t>) {
        return std::string(std::string_view(v));
    } else {
        return v;
    }
}

} // namespace sturdy::detail::rows

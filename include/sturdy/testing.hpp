#pragma once
/// sturdy/testing.hpp — test your own job under failure: fault injection around any store
/// (`faulty`, `injector`), crash simulation (`simulate_crashes`), the usual invariants
/// (`exactly_once`, ...), a rollback fixture (`rollback_scope`) and the store conformance suite
/// (`check_store`, for a store of your own). Works with any test framework.
/// See docs/testing.md.

#include <sturdy/testing/conformance.hpp>
#include <sturdy/testing/crash.hpp>
#include <sturdy/testing/faults.hpp>
#include <sturdy/testing/faulty.hpp>
#include <sturdy/testing/invariants.hpp>
#include <sturdy/testing/rollback_scope.hpp>

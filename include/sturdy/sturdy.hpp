#pragma once
/// sturdy/sturdy.hpp — the core: concepts, policies, every adaptor and `drain`. Stores have
/// their own headers under store/ (the SQLite one needs linking with sqlite3, the PostgreSQL
/// one with libpq).

#include <sturdy/clock.hpp>
#include <sturdy/concepts.hpp>
#include <sturdy/error.hpp>
#include <sturdy/hook.hpp>
#include <sturdy/job.hpp>
#include <sturdy/key.hpp>
#include <sturdy/log.hpp>
#include <sturdy/policy/backoff.hpp>
#include <sturdy/policy/classify.hpp>
#include <sturdy/policy/commit.hpp>
#include <sturdy/report.hpp>
#include <sturdy/view/chunked.hpp>
#include <sturdy/view/drain.hpp>
#include <sturdy/view/failure_budget.hpp>
#include <sturdy/view/guarded.hpp>
#include <sturdy/view/idempotent_by.hpp>
#include <sturdy/view/logged_every.hpp>
#include <sturdy/view/retry_bounded.hpp>
#include <sturdy/view/time_budget.hpp>
#include <sturdy/view/watermark.hpp>
#include <sturdy/view/with_clock.hpp>

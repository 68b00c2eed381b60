// Smoke test: main is the base scheduler's main context.
#include <catch2/catch.hpp>
#include <lithe/lithe.h>

TEST_CASE("main runs as the base scheduler's main context") {
    REQUIRE(lithe_context_self() != nullptr);
    REQUIRE(lithe_sched_current() == lithe_sched_base());
    REQUIRE(lithe_context_self() == lithe_sched_base()->main_context);
}

// The runtime's parallel loops (runtime/tensor_check.cpp, AffineLoop on hup's Helpers): each
// thread starts on its own contiguous range of tasks and then helps with the others', so every
// task must still run exactly once, whatever the thread and task counts, nested or not, with
// loops back to back (helpers still spinning) or apart (helpers asleep), from several calling
// threads at once, and a failing task's code must come back. Also the runtime's choice between
// streaming large outputs and writing them in place.
#include <gtest/gtest.h>

#include <HalideRuntime.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "hup/hup.h"
#include "tensor_check.h"  // runtime/

namespace {

class ThreadPool : public ::testing::TestWithParam<int> {
protected:
    void SetUp() override { hup::set_num_threads(GetParam()); }
    void TearDown() override { hup::set_num_threads(0); }
};

TEST_P(ThreadPool, EveryTaskRunsOnce) {
    for (int64_t count : {1, 2, 3, 7, 64, 65, 1000}) {
        std::unique_ptr<std::atomic<int>[]> runs(new std::atomic<int>[count]);
        for (int64_t i = 0; i < count; i++) runs[i] = 0;
        const hup::Status s = hup::detail::parallel_tasks(count, [&](int64_t i) {
            runs[i]++;
            return hup::Status::Ok();
        });
        ASSERT_TRUE(s.ok()) << s.message();
        for (int64_t i = 0; i < count; i++) ASSERT_EQ(runs[i].load(), 1) << "task " << i << " of " << count;
    }
}

TEST_P(ThreadPool, NestedLoopsRunEveryTaskOnce) {
    constexpr int kOuter = 9, kInner = 13;
    std::vector<std::atomic<int>> runs(kOuter * kInner);
    const hup::Status s = hup::detail::parallel_tasks(kOuter, [&](int64_t o) {
        return hup::detail::parallel_tasks(kInner, [&](int64_t i) {
            runs[o * kInner + i]++;
            return hup::Status::Ok();
        });
    });
    ASSERT_TRUE(s.ok()) << s.message();
    for (auto &r : runs) ASSERT_EQ(r.load(), 1);
}

// Loops started while the helpers still spin from the last one, and after they have slept.
TEST_P(ThreadPool, LoopsBackToBackAndApart) {
    std::vector<std::atomic<int>> runs(16);
    for (int loop = 0; loop < 400; loop++) {
        if (loop % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const hup::Status s = hup::detail::parallel_tasks((int64_t)runs.size(), [&](int64_t i) {
            runs[i]++;
            return hup::Status::Ok();
        });
        ASSERT_TRUE(s.ok()) << s.message();
    }
    for (auto &r : runs) ASSERT_EQ(r.load(), 400);
}

// Callers on several threads at once: one runs on the helpers, the others alone.
TEST_P(ThreadPool, ConcurrentCallersRunEveryTaskOnce) {
    constexpr int kCallers = 4, kLoops = 50, kTasks = 37;
    std::vector<std::atomic<int>> runs(kCallers * kTasks);
    std::vector<std::thread> callers;
    std::atomic<int> failures{0};
    for (int caller = 0; caller < kCallers; caller++) {
        callers.emplace_back([&, caller] {
            for (int loop = 0; loop < kLoops; loop++) {
                const hup::Status s = hup::detail::parallel_tasks(kTasks, [&](int64_t i) {
                    runs[caller * kTasks + i]++;
                    return hup::Status::Ok();
                });
                if (!s.ok()) failures++;
            }
        });
    }
    for (std::thread &t : callers) t.join();
    EXPECT_EQ(failures.load(), 0);
    for (auto &r : runs) ASSERT_EQ(r.load(), kLoops);
}

TEST_P(ThreadPool, FailuresComeBack) {
    const hup::Status s = hup::detail::parallel_tasks(50, [&](int64_t i) {
        return i == 31 ? hup::Status(hup::StatusCode::RuntimeError, "task 31 failed") : hup::Status::Ok();
    });
    EXPECT_EQ(s.code(), hup::StatusCode::RuntimeError);
    EXPECT_EQ(s.message(), "task 31 failed");

    // A Halide task's non-zero result is the loop's result.
    hup::detail::install_thread_pool_hook();
    auto task = [](void *, int index, uint8_t *) { return index == 17 ? -7 : 0; };
    EXPECT_EQ(halide_do_par_for(nullptr, task, 3, 40, nullptr), -7);
    EXPECT_EQ(halide_do_par_for(nullptr, task, 18, 40, nullptr), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, ThreadPool, ::testing::Values(1, 2, 3, 5));

// detail::StreamingChoice: outputs below streaming_bytes are written in place and not timed;
// larger ones, after one untimed call in place, alternate the two ways (streamed first) for
// kStreamingTrials calls each, then keep the faster per byte; a failing trial counts but is
// not timed; the modes override.
std::vector<bool> ways_taken(hup::detail::StreamingChoice &choice, int calls, int64_t bytes,
                             std::chrono::microseconds streamed_cost, std::chrono::microseconds in_place_cost,
                             bool fail_streamed = false) {
    std::vector<bool> ways;
    for (int i = 0; i < calls; i++) {
        const hup::Status s = choice.run(bytes, [&](bool streamed) {
            ways.push_back(streamed);
            std::this_thread::sleep_for(streamed ? streamed_cost : in_place_cost);
            return streamed && fail_streamed ? hup::Status(hup::StatusCode::RuntimeError, "no") : hup::Status::Ok();
        });
        EXPECT_EQ(s.ok(), !(ways.back() && fail_streamed));
    }
    return ways;
}

TEST(StreamingChoice, TimesBothWaysThenKeepsTheFaster) {
    using std::chrono::microseconds;
    const hup::detail::StreamingOverride auto_mode(1000, hup::detail::StreamingMode::Auto);
    // An untimed first call in place, then the trials, alternating, streamed first.
    const int trials = 1 + 2 * hup::detail::kStreamingTrials;
    std::vector<bool> alternate = {false};
    for (int i = 1; i < trials; i++) alternate.push_back(i % 2 == 1);
    {
        hup::detail::StreamingChoice choice;
        EXPECT_EQ(ways_taken(choice, 3, 999, microseconds(0), microseconds(0)), std::vector<bool>(3, false));
        std::vector<bool> expect = alternate;
        expect.insert(expect.end(), 3, false);  // in place was faster
        EXPECT_EQ(ways_taken(choice, trials + 3, 4000, microseconds(3000), microseconds(0)), expect);
    }
    {
        hup::detail::StreamingChoice choice;
        std::vector<bool> expect = alternate;
        expect.insert(expect.end(), 3, true);  // streamed was faster
        EXPECT_EQ(ways_taken(choice, trials + 3, 4000, microseconds(0), microseconds(3000)), expect);
    }
    {
        hup::detail::StreamingChoice choice;  // streaming fails: in place is kept
        std::vector<bool> expect = alternate;
        expect.insert(expect.end(), 2, false);
        EXPECT_EQ(ways_taken(choice, trials + 2, 4000, microseconds(0), microseconds(1000), true), expect);
    }
    hup::detail::StreamingChoice choice;
    {
        const hup::detail::StreamingOverride always(1000, hup::detail::StreamingMode::Always);
        EXPECT_EQ(ways_taken(choice, 2, 4000, microseconds(0), microseconds(0)), std::vector<bool>(2, true));
        EXPECT_EQ(ways_taken(choice, 2, 999, microseconds(0), microseconds(0)), std::vector<bool>(2, false));
    }
    {
        const hup::detail::StreamingOverride never(1000, hup::detail::StreamingMode::Never);
        EXPECT_EQ(ways_taken(choice, 2, 4000, microseconds(0), microseconds(0)), std::vector<bool>(2, false));
    }
    // The overrides timed nothing: the untimed call and the trials start now.
    EXPECT_EQ(ways_taken(choice, 3, 4000, microseconds(0), microseconds(0)), std::vector<bool>({false, true, false}));
}

// detail::stream_output, for kernels with a non-temporal variant: from streaming_bytes up,
// in Auto and Always alike; never in Never.
TEST(StreamOutput, FromTheThresholdUnlessNever) {
    for (auto mode : {hup::detail::StreamingMode::Auto, hup::detail::StreamingMode::Always}) {
        const hup::detail::StreamingOverride path(1000, mode);
        EXPECT_FALSE(hup::detail::stream_output(999));
        EXPECT_TRUE(hup::detail::stream_output(1000));
    }
    const hup::detail::StreamingOverride never(0, hup::detail::StreamingMode::Never);
    EXPECT_FALSE(hup::detail::stream_output(int64_t(1) << 40));
}

}  // namespace

// Steers Halide's run-time dispatch of the multi-target variants to their plain x86-64-sse41
// object, as on a CPU without AVX (the AVX-512 objects run only on a machine that has it).
// Halide's wrappers choose once per process: ctest runs each test in a process of its own,
// where the dispatch asks; after other tests in one process it has already chosen AVX, and
// `refusals()` stays 0.
#pragma once

#include <atomic>

#include "HalideRuntime.h"

namespace hup_test {

class Sse41Dispatch {
public:
    Sse41Dispatch() : previous_(halide_set_custom_can_use_target_features(sse41_only)) {}
    ~Sse41Dispatch() { halide_set_custom_can_use_target_features(previous_); }
    Sse41Dispatch(const Sse41Dispatch &) = delete;
    Sse41Dispatch &operator=(const Sse41Dispatch &) = delete;

    // How many times the dispatch asked for an AVX target and was refused.
    static int refusals() { return counter().load(); }

private:
    static std::atomic<int> &counter() {
        static std::atomic<int> count{0};
        return count;
    }
    static int sse41_only(int count, const uint64_t *features) {
        for (int bit : {halide_target_feature_avx, halide_target_feature_avx2, halide_target_feature_fma,
                        halide_target_feature_f16c, halide_target_feature_avx512}) {
            if (bit / 64 < count && (features[bit / 64] >> (bit % 64)) & 1) {
                counter()++;
                return 0;
            }
        }
        return 1;
    }
    halide_can_use_target_features_t previous_;
};

}  // namespace hup_test

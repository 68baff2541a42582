// Steers Halide's run-time dispatch of the multi-target variants away from the objects for
// wider vectors than a test wants: Without::Avx512 leaves the x86-64-avx2 objects (what a CPU
// without AVX-512 runs), Without::Avx the plain x86-64-sse41 fallback (a CPU without AVX).
// The runtime's own choices that depend on the vector width (detail::wide_vectors) ask the
// same hook. Halide's wrappers choose once per process: ctest runs each test in a process of
// its own, where the dispatch asks; after other tests in one process it has already chosen,
// and `refusals()` stays 0.
#pragma once

#include <atomic>
#include <initializer_list>

#include "HalideRuntime.h"

namespace hup_test {

enum class Without { Avx512, Avx };

class TargetDispatch {
public:
    explicit TargetDispatch(Without without) {
        refused() = without;
        previous_ = halide_set_custom_can_use_target_features(refuse);
    }
    ~TargetDispatch() { halide_set_custom_can_use_target_features(previous_); }
    TargetDispatch(const TargetDispatch &) = delete;
    TargetDispatch &operator=(const TargetDispatch &) = delete;

    // How many times the dispatch asked for a refused target.
    static int refusals() { return counter().load(); }

private:
    static std::atomic<int> &counter() {
        static std::atomic<int> count{0};
        return count;
    }
    static Without &refused() {
        static Without without = Without::Avx512;
        return without;
    }
    static bool has(int count, const uint64_t *features, int bit) {
        return bit / 64 < count && (features[bit / 64] >> (bit % 64)) & 1;
    }
    static int refuse(int count, const uint64_t *features) {
        const auto avx = {halide_target_feature_avx, halide_target_feature_avx2, halide_target_feature_fma,
                          halide_target_feature_f16c, halide_target_feature_avx512};
        const auto avx512 = {halide_target_feature_avx512};
        for (int bit : refused() == Without::Avx ? avx : avx512) {
            if (has(count, features, bit)) {
                counter()++;
                return 0;
            }
        }
        return halide_default_can_use_target_features(count, features);
    }
    halide_can_use_target_features_t previous_;
};

}  // namespace hup_test

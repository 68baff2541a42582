// Shared test helpers: libtorch as the oracle, in this process, and float comparison.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cfloat>
#include <string>

#include "hup/hup.h"
#include "hup/torch.h"

namespace hup_test {

// libtorch warns on every call for some legal options (float scale without
// recompute_scale_factor, unset align_corners); the tests pass such options on purpose.
struct SilentWarnings : c10::WarningHandler {
    void process(const c10::SourceLocation &, const std::string &, const bool) override {}
};

inline void silence_torch_warnings() {
    static SilentWarnings handler;
    c10::Warning::set_warning_handler(&handler);
}

enum class Layout { Contiguous, ChannelsLast, Strided };

inline const char *layout_name(Layout l) {
    switch (l) {
        case Layout::Contiguous: return "contiguous";
        case Layout::ChannelsLast: return "channels_last";
        case Layout::Strided: return "strided";
    }
    return "?";
}

// A tensor with the given sizes and layout. Strided is a view of a larger tensor that steps by
// 2 along the last dim and has batch and channel swapped: no dim has unit stride, so no fast
// path applies and the wrapper's general route is exercised.
inline at::Tensor make_tensor(const std::vector<int64_t> &sizes, Layout layout, bool random = true) {
    auto make = [&](std::vector<int64_t> s) { return random ? torch::rand(s) * 2 - 1 : torch::zeros(s); };
    switch (layout) {
        case Layout::Contiguous: return make(sizes);
        case Layout::ChannelsLast: {
            const auto format = sizes.size() == 5 ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::ChannelsLast;
            return sizes.size() >= 4 ? make(sizes).contiguous(format) : make(sizes);
        }
        case Layout::Strided: {
            std::vector<int64_t> big = sizes;
            std::swap(big[0], big[1]);
            big.back() *= 2;
            return make(big).transpose(0, 1).slice(-1, 0, c10::nullopt, 2);
        }
    }
    return {};
}

// Largest |a - b| in units of FLT_EPSILON * scale: the data-scale ULP count.
inline double ulp_distance(const at::Tensor &a, const at::Tensor &b, double scale) {
    if (a.numel() == 0) return 0;
    const double diff = (a - b).abs().max().item<double>();
    return diff / (FLT_EPSILON * std::max(scale, 1e-30));
}

}  // namespace hup_test

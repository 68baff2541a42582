// Shared test helpers: libtorch as the oracle, in this process, and float comparison.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cfloat>
#include <iostream>
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

// The first line of an exception's message (libtorch appends a backtrace).
inline std::string first_line(const std::string &text) { return text.substr(0, text.find('\n')); }

// One case's outcome.
struct Result {
    std::string failure;     // empty when hup and libtorch agree
    bool rejected = false;   // hup refused the problem (nothing compared) ...
    bool confirmed = false;  // ... and so did libtorch
    double eps = 0;          // worst error, in FLT_EPSILON of the magnitude (arithmetic tests)
};

// When hup (`planned`) or libtorch (`torch_error`, empty when it accepted) refuses a problem,
// fills `r` (a failure unless both refuse) and returns true: the case is decided.
inline bool settled_by_rejection(const std::string &what, const hup::Status &planned, const std::string &torch_error,
                                 Result *r) {
    if (planned.ok() && torch_error.empty()) return false;
    if (planned.ok()) r->failure = what + ": hup accepts, libtorch throws: " + torch_error;
    if (torch_error.empty()) r->failure = what + ": libtorch accepts, hup rejects: " + planned.message();
    r->rejected = r->confirmed = r->failure.empty();
    return true;
}

// Counts a test's cases, reports the first failures and a summary line (with the worst error
// when `eps_bound` is set).
struct Tally {
    std::string name;
    double eps_bound;
    int compared = 0, rejected = 0, confirmed = 0, failures = 0;
    double worst_eps = 0;

    explicit Tally(std::string n = "cases", double bound = 0) : name(std::move(n)), eps_bound(bound) {}
    void add(const Result &r) {
        if (!r.failure.empty()) {
            if (++failures <= 10) ADD_FAILURE() << r.failure;
        } else if (r.rejected) {
            rejected++;
            confirmed += r.confirmed;
        } else {
            compared++;
            worst_eps = std::max(worst_eps, r.eps);
        }
    }
    ~Tally() {
        std::cout << "[ " << name << " ] " << compared << " compared with libtorch, " << rejected << " rejected (" << confirmed
                  << " confirmed by libtorch), " << failures << " failed";
        if (eps_bound > 0) std::cout << "; worst error " << worst_eps << " FLT_EPSILON of the magnitude (bound " << eps_bound << ")";
        std::cout << "\n";
    }
};

}  // namespace hup_test

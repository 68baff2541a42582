// PyTorch's interpolate index and weight rules, turned into the per-axis tap tables that the
// interpolate generator reads (see generators/interpolate_generator.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace hup {
namespace detail {

enum class Resampling {
    Nearest,       // taps 1
    NearestExact,  // taps 1
    Linear,        // taps 2
    Cubic,         // taps 4 (A = -0.75), taps clamped at the borders
    Area,          // adaptive average pooling windows
    AntialiasLinear,  // PyTorch's separable antialias filters, support scaled when downsampling
    AntialiasCubic,   // (cubic with A = -0.5)
};

// One spatial axis. `scale` is the user's scale_factor when PyTorch hands it to the kernel
// (then the kernel maps with 1/scale), otherwise empty (the kernel uses in/out).
struct AxisSpec {
    int64_t in_size = 0;
    int64_t out_size = 0;
    std::optional<double> scale;
};

// Tables for all spatial axes, in Halide order (axis 0 is PyTorch's last dim).
struct ResamplePlan {
    int variant_taps = 1;  // the kernel variant: 1, 2 or 4 taps, or 0 for a run-time count
    int taps = 1;          // extent of the weight table's tap dim (the max count when run-time)
    int axis_taps[3] = {1, 1, 1};  // the most taps any output position uses, per axis
    // Axis 0's first tap as floor((x_step_num * o + x_offset) / x_step_den), when it is one
    // (x_step_den == 0 otherwise); tap_start and tap_weight are anchored on it then.
    int x_step_num = 0, x_step_den = 0, x_offset = 0;
    // With an x step: whether axis 0's weights repeat with period x_step_den from position 0
    // (border positions whose taps all read one element get the repeating weights).
    bool x_weights_periodic = false;
    // Whether axis 0's windows all lie inside the input (with a run-time tap count, tap_weight
    // is then tap-major). tap_weight[axis][position][tap] sits at axis*taps*positions +
    // position*weight_position_stride + tap*weight_tap_stride.
    int x_taps_in_range = 0;
    int weight_position_stride = 1, weight_tap_stride = 1;
    int64_t positions = 0; // padded length of each axis's table
    std::vector<int32_t> tap_start;  // [axis][position]
    std::vector<int32_t> tap_count;  // [axis][position]
    std::vector<float> tap_weight;   // per axis; layout as the strides below say
    // Bracket per axis (see the generator): floor(slope*o + offset) bounds the taps of o.
    float slope[3] = {0, 0, 0}, lo_offset[3] = {0, 0, 0}, hi_offset[3] = {0, 0, 0};
};

// `axes` in Halide order.
ResamplePlan make_resample_plan(Resampling kind, const std::vector<AxisSpec> &axes, bool align_corners);

// The same, from a small cache of recent plans (thread-safe).
std::shared_ptr<const ResamplePlan> cached_resample_plan(Resampling kind, const std::vector<AxisSpec> &axes,
                                                         bool align_corners);

}  // namespace detail
}  // namespace hup

// Copies between memory layouts with the AOT relayout kernels (a blocked transpose between
// the spatial x dim and the channel dim), for wrappers whose fast kernels want the other layout.
#pragma once

#include <memory>

#include "hup/hup.h"

namespace hup {
namespace detail {

// A channels_last tensor of `sizes` (N, C, spatial...: C dense, then the spatial dims, then N)
// over freshly allocated, uninitialised storage owned by `*storage`.
TensorView channels_last_tensor(const std::vector<int64_t> &sizes, std::unique_ptr<float[]> *storage);

// The strides of a dense channels_last tensor of `sizes` (C dense, then the spatial dims, then N).
std::vector<int64_t> channels_last_strides(const std::vector<int64_t> &sizes);

// Whether `t` is laid out as channels_last_strides says (size-1 dims' strides aside): its
// pixels (n, spatial...) are then flat indices times C.
bool dense_channels_last(const TensorView &t);

// dst = src (same sizes, 3 to 5 dims, any strides); fastest between planar and channels_last.
Status relayout(const TensorView &src, const TensorView &dst);

}  // namespace detail
}  // namespace hup

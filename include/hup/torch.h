// Header-only adaptor between hup and libtorch's at::Tensor. Include it only where libtorch is
// available; libhup itself does not depend on libtorch.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include <optional>
#include <tuple>
#include <utility>

#include <stdexcept>

#include "hup/hup.h"

namespace hup {
namespace torch {

// A TensorView over a CPU float32 (or int64) tensor (no copy; sizes and strides as the tensor has them).
inline TensorView view(const at::Tensor &t) {
    TensorView v;
    v.data = t.defined() ? t.data_ptr() : nullptr;
    v.dtype = t.defined() && t.scalar_type() == at::kLong ? DType::Int64 : DType::Float32;
    v.sizes.assign(t.sizes().begin(), t.sizes().end());
    v.strides.assign(t.strides().begin(), t.strides().end());
    return v;
}

inline Status check_cpu_tensor(const at::Tensor &t, const char *name, at::ScalarType type) {
    if (!t.defined()) return Status(StatusCode::InvalidArgument, std::string(name) + " is undefined");
    if (!t.device().is_cpu()) return Status(StatusCode::Unsupported, std::string(name) + " must be a CPU tensor");
    if (t.scalar_type() != type) {
        return Status(StatusCode::Unsupported, std::string(name) + (type == at::kLong ? " must be int64" : " must be float32"));
    }
    return Status::Ok();
}
inline Status check_cpu_float(const at::Tensor &t, const char *name) { return check_cpu_tensor(t, name, at::kFloat); }

// Throws what the returning adaptors throw: invalid_argument for bad arguments, runtime_error
// for anything else.
inline void throw_if_error(const Status &s) {
    if (s.ok()) return;
    if (s.code() == StatusCode::RuntimeError) throw std::runtime_error(s.message());
    throw std::invalid_argument(s.message());
}

// A new tensor of `sizes` in `like`'s memory format (contiguous or channels_last).
inline at::Tensor empty_like_format(const std::vector<int64_t> &sizes, const at::Tensor &like,
                                    at::ScalarType type = at::kFloat) {
    const bool cl_ok = (like.dim() == 4 && sizes.size() == 4) || (like.dim() == 5 && sizes.size() == 5);
    return at::empty(sizes, like.options().dtype(type).memory_format(cl_ok ? like.suggest_memory_format()
                                                                           : at::MemoryFormat::Contiguous));
}

// Writes interpolate(input) into a preallocated `output`.
inline Status interpolate(const at::Tensor &input, const at::Tensor &output, const InterpolateOptions &options) {
    for (auto [t, name] : {std::pair<const at::Tensor &, const char *>{input, "input"}, {output, "output"}}) {
        Status s = check_cpu_float(t, name);
        if (!s.ok()) return s;
    }
    return hup::interpolate(view(input), view(output), options);
}

// Like torch.nn.functional.interpolate: returns a new tensor in the input's memory format.
// Throws std::invalid_argument / std::runtime_error with hup's message on failure.
inline at::Tensor interpolate(const at::Tensor &input, const InterpolateOptions &options) {
    Status s = check_cpu_float(input, "input");
    std::vector<int64_t> sizes;
    if (s.ok()) s = interpolate_output_sizes(input.sizes().vec(), options, &sizes);
    if (!s.ok()) throw std::invalid_argument(s.message());
    at::Tensor output = at::empty(sizes, input.options().memory_format(input.suggest_memory_format()));
    s = interpolate(input, output, options);
    if (!s.ok()) throw std::runtime_error(s.message());
    return output;
}

// PyTorch's own torch::nn::functional::interpolate with hup's options: the reference hup
// matches, for comparisons. Options PyTorch defaults anyway are passed explicitly
// (recompute_scale_factor=false; align_corners=false for nearest-exact, which the C++
// frontend wrongly treats as an interpolating mode) because it warns on every call otherwise.
inline at::Tensor reference_interpolate(const at::Tensor &input, const InterpolateOptions &o) {
    namespace F = ::torch::nn::functional;
    F::InterpolateFuncOptions t;
    switch (o.mode) {
        case InterpolateMode::Nearest: t.mode(::torch::kNearest); break;
        case InterpolateMode::NearestExact: t.mode(::torch::kNearestExact); break;
        case InterpolateMode::Linear: t.mode(::torch::kLinear); break;
        case InterpolateMode::Bilinear: t.mode(::torch::kBilinear); break;
        case InterpolateMode::Bicubic: t.mode(::torch::kBicubic); break;
        case InterpolateMode::Trilinear: t.mode(::torch::kTrilinear); break;
        case InterpolateMode::Area: t.mode(::torch::kArea); break;
    }
    const size_t spatial = input.dim() - 2;
    if (!o.size.empty()) t.size(o.size.size() == 1 ? std::vector<int64_t>(spatial, o.size[0]) : o.size);
    if (!o.scale_factor.empty()) {
        t.scale_factor(o.scale_factor.size() == 1 ? std::vector<double>(spatial, o.scale_factor[0]) : o.scale_factor);
    }
    if (o.align_corners) t.align_corners(*o.align_corners);
    if (o.mode == InterpolateMode::NearestExact) t.align_corners(false);
    t.recompute_scale_factor(o.recompute_scale_factor.value_or(false));
    t.antialias(o.antialias);
    return F::interpolate(input, t);
}

// Writes conv_transpose(input, weight, bias) into a preallocated `output`; `bias` may be
// undefined.
inline Status conv_transpose(const at::Tensor &input, const at::Tensor &weight, const at::Tensor &bias,
                             const at::Tensor &output, const ConvTransposeOptions &options) {
    for (auto [t, name] : {std::pair<const at::Tensor &, const char *>{input, "input"}, {weight, "weight"}, {output, "output"}}) {
        Status s = check_cpu_float(t, name);
        if (!s.ok()) return s;
    }
    std::optional<TensorView> bias_view;
    if (bias.defined()) {
        Status s = check_cpu_float(bias, "bias");
        if (!s.ok()) return s;
        bias_view = view(bias);
    }
    return hup::conv_transpose(view(input), view(weight), bias_view ? &*bias_view : nullptr, view(output), options);
}

// Like torch.nn.functional.conv_transpose{1,2,3}d: returns a new tensor in the input's memory
// format. Throws std::invalid_argument / std::runtime_error with hup's message on failure.
inline at::Tensor conv_transpose(const at::Tensor &input, const at::Tensor &weight, const at::Tensor &bias,
                                 const ConvTransposeOptions &options) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(weight, "weight");
    std::vector<int64_t> sizes;
    if (s.ok()) s = conv_transpose_output_sizes(input.sizes().vec(), weight.sizes().vec(), options, &sizes);
    if (!s.ok()) throw std::invalid_argument(s.message());
    at::Tensor output = at::empty(sizes, input.options().memory_format(input.suggest_memory_format()));
    s = conv_transpose(input, weight, bias, output, options);
    if (!s.ok()) throw std::runtime_error(s.message());
    return output;
}

// PyTorch's own at::conv_transpose{1,2,3}d with hup's options, for comparisons. output_size is
// turned into output_padding as nn.ConvTranspose*d does, after hup's checks of it: call
// conv_transpose_output_sizes first (this helper assumes the options are valid).
inline at::Tensor reference_conv_transpose(const at::Tensor &input, const at::Tensor &weight, const at::Tensor &bias,
                                           const ConvTransposeOptions &o) {
    const size_t spatial = input.dim() - 2;
    auto per_dim = [&](const std::vector<int64_t> &v, int64_t fallback) {
        if (v.empty()) return std::vector<int64_t>(spatial, fallback);
        if (v.size() == 1) return std::vector<int64_t>(spatial, v[0]);
        return v;
    };
    const std::vector<int64_t> stride = per_dim(o.stride, 1), padding = per_dim(o.padding, 0),
                               dilation = per_dim(o.dilation, 1);
    std::vector<int64_t> output_padding = per_dim(o.output_padding, 0);
    if (!o.output_size.empty()) {
        const size_t first = o.output_size.size() - spatial;
        for (size_t d = 0; d < spatial; d++) {
            const int64_t k = weight.size(2 + d);
            const int64_t min_size = (input.size(2 + d) - 1) * stride[d] - 2 * padding[d] + dilation[d] * (k - 1) + 1;
            output_padding[d] = o.output_size[first + d] - min_size;
        }
    }
    const c10::optional<at::Tensor> b = bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt;
    switch (spatial) {
        case 1: return at::conv_transpose1d(input, weight, b, stride, padding, output_padding, o.groups, dilation);
        case 2: return at::conv_transpose2d(input, weight, b, stride, padding, output_padding, o.groups, dilation);
        default: return at::conv_transpose3d(input, weight, b, stride, padding, output_padding, o.groups, dilation);
    }
}

// The returning adaptors: sizes the output with `query(input sizes, &sizes)`, allocates it
// (in the input's memory format, or contiguous) and fills it with `run(output)`.
template <typename Query, typename Run>
at::Tensor returning(const at::Tensor &input, Query query, Run run, bool keep_format = true) {
    Status s = check_cpu_float(input, "input");
    std::vector<int64_t> sizes;
    if (s.ok()) s = query(input.sizes().vec(), &sizes);
    throw_if_error(s);
    at::Tensor output = keep_format ? empty_like_format(sizes, input) : at::empty(sizes, input.options());
    throw_if_error(run(output));
    return output;
}

// ---- max_pool with indices / max_unpool ----------------------------------------------------

inline Status max_pool(const at::Tensor &input, const at::Tensor &output, const at::Tensor &indices,
                       const MaxPoolOptions &options) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(output, "output");
    if (s.ok()) s = check_cpu_tensor(indices, "indices", at::kLong);
    return s.ok() ? hup::max_pool(view(input), view(output), view(indices), options) : s;
}

// Like F.max_pool{1,2,3}d(..., return_indices=True): (output, indices) in the input's format.
inline std::pair<at::Tensor, at::Tensor> max_pool(const at::Tensor &input, const MaxPoolOptions &options) {
    Status s = check_cpu_float(input, "input");
    std::vector<int64_t> sizes;
    if (s.ok()) s = max_pool_output_sizes(input.sizes().vec(), options, &sizes);
    throw_if_error(s);
    at::Tensor output = empty_like_format(sizes, input), indices = empty_like_format(sizes, input, at::kLong);
    throw_if_error(max_pool(input, output, indices, options));
    return {output, indices};
}

// One value per spatial dim of a per-dim option (empty: `fallback`).
inline std::vector<int64_t> spatial_values(const std::vector<int64_t> &v, size_t spatial,
                                           const std::vector<int64_t> &fallback) {
    if (v.empty()) return fallback;
    if (v.size() == 1) return std::vector<int64_t>(spatial, v[0]);
    return v;
}

// libtorch's own max_pool{1,2,3}d_with_indices, for comparisons.
inline std::pair<at::Tensor, at::Tensor> reference_max_pool(const at::Tensor &input, const MaxPoolOptions &o) {
    const size_t spatial = input.dim() - 2;
    const std::vector<int64_t> k = spatial_values(o.kernel_size, spatial, {}),
                               stride = spatial_values(o.stride, spatial, k),
                               padding = spatial_values(o.padding, spatial, std::vector<int64_t>(spatial, 0)),
                               dilation = spatial_values(o.dilation, spatial, std::vector<int64_t>(spatial, 1));
    std::tuple<at::Tensor, at::Tensor> r;
    switch (spatial) {
        case 1: r = at::max_pool1d_with_indices(input, k, stride, padding, dilation, o.ceil_mode); break;
        case 2: r = at::max_pool2d_with_indices(input, k, stride, padding, dilation, o.ceil_mode); break;
        default: r = at::max_pool3d_with_indices(input, k, stride, padding, dilation, o.ceil_mode); break;
    }
    return {std::get<0>(r), std::get<1>(r)};
}

inline Status max_unpool(const at::Tensor &input, const at::Tensor &indices, const at::Tensor &output,
                         const MaxUnpoolOptions &options) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_tensor(indices, "indices", at::kLong);
    if (s.ok()) s = check_cpu_float(output, "output");
    return s.ok() ? hup::max_unpool(view(input), view(indices), view(output), options) : s;
}

// Like F.max_unpool{1,2,3}d: a new tensor in the input's memory format.
inline at::Tensor max_unpool(const at::Tensor &input, const at::Tensor &indices, const MaxUnpoolOptions &options) {
    return returning(
        input, [&](const std::vector<int64_t> &in, std::vector<int64_t> *out) { return max_unpool_output_sizes(in, options, out); },
        [&](const at::Tensor &output) { return max_unpool(input, indices, output, options); });
}

// libtorch's own max_unpool{2,3}d (1d as 2d on a trailing unit dim, as F.max_unpool1d does),
// with the output size that hup computes: call max_unpool_output_sizes first.
inline at::Tensor reference_max_unpool(const at::Tensor &input, const at::Tensor &indices, const MaxUnpoolOptions &o) {
    std::vector<int64_t> sizes;
    throw_if_error(max_unpool_output_sizes(input.sizes().vec(), o, &sizes));
    const size_t spatial = input.dim() - 2;
    const std::vector<int64_t> out(sizes.begin() + 2, sizes.end());
    if (spatial == 1) {
        return at::max_unpool2d(input.unsqueeze(-1), indices.unsqueeze(-1), {out[0], 1}).squeeze(-1);
    }
    if (spatial == 2) return at::max_unpool2d(input, indices, out);
    const std::vector<int64_t> k = spatial_values(o.kernel_size, 3, {}), stride = spatial_values(o.stride, 3, k),
                               padding = spatial_values(o.padding, 3, {0, 0, 0});
    return at::max_unpool3d(input, indices, out, stride, padding);
}

// ---- pixel_shuffle / pixel_unshuffle ------------------------------------------------------

inline Status pixel_shuffle(const at::Tensor &input, const at::Tensor &output, int64_t upscale_factor) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(output, "output");
    return s.ok() ? hup::pixel_shuffle(view(input), view(output), upscale_factor) : s;
}
inline at::Tensor pixel_shuffle(const at::Tensor &input, int64_t upscale_factor) {
    return returning(
        input, [&](const std::vector<int64_t> &in, std::vector<int64_t> *out) { return pixel_shuffle_output_sizes(in, upscale_factor, out); },
        [&](const at::Tensor &output) { return pixel_shuffle(input, output, upscale_factor); });
}
inline Status pixel_unshuffle(const at::Tensor &input, const at::Tensor &output, int64_t downscale_factor) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(output, "output");
    return s.ok() ? hup::pixel_unshuffle(view(input), view(output), downscale_factor) : s;
}
inline at::Tensor pixel_unshuffle(const at::Tensor &input, int64_t downscale_factor) {
    return returning(
        input, [&](const std::vector<int64_t> &in, std::vector<int64_t> *out) { return pixel_unshuffle_output_sizes(in, downscale_factor, out); },
        [&](const at::Tensor &output) { return pixel_unshuffle(input, output, downscale_factor); });
}

// ---- unfold / fold ----------------------------------------------------------------------

inline Status unfold(const at::Tensor &input, const at::Tensor &output, const UnfoldOptions &options) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(output, "output");
    return s.ok() ? hup::unfold(view(input), view(output), options) : s;
}
inline at::Tensor unfold(const at::Tensor &input, const UnfoldOptions &options) {
    return returning(
        input, [&](const std::vector<int64_t> &in, std::vector<int64_t> *out) { return unfold_output_sizes(in, options, out); },
        [&](const at::Tensor &output) { return unfold(input, output, options); }, false);
}
inline Status fold(const at::Tensor &input, const at::Tensor &output, const FoldOptions &options) {
    Status s = check_cpu_float(input, "input");
    if (s.ok()) s = check_cpu_float(output, "output");
    return s.ok() ? hup::fold(view(input), view(output), options) : s;
}
inline at::Tensor fold(const at::Tensor &input, const FoldOptions &options) {
    return returning(
        input, [&](const std::vector<int64_t> &in, std::vector<int64_t> *out) { return fold_output_sizes(in, options, out); },
        [&](const at::Tensor &output) { return fold(input, output, options); }, false);
}

// libtorch's own im2col / col2im (what F.unfold / F.fold call), for comparisons.
inline at::Tensor reference_unfold(const at::Tensor &input, const UnfoldOptions &o) {
    return at::im2col(input, spatial_values(o.kernel_size, 2, {}), spatial_values(o.dilation, 2, {1, 1}),
                      spatial_values(o.padding, 2, {0, 0}), spatial_values(o.stride, 2, {1, 1}));
}
inline at::Tensor reference_fold(const at::Tensor &input, const FoldOptions &o) {
    return at::col2im(input, spatial_values(o.output_size, 2, {}), spatial_values(o.kernel_size, 2, {}),
                      spatial_values(o.dilation, 2, {1, 1}), spatial_values(o.padding, 2, {0, 0}),
                      spatial_values(o.stride, 2, {1, 1}));
}

}  // namespace torch
}  // namespace hup

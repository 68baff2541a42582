// Header-only adaptor between hup and libtorch's at::Tensor. Include it only where libtorch is
// available; libhup itself does not depend on libtorch.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include <optional>

#include <stdexcept>

#include "hup/hup.h"

namespace hup {
namespace torch {

// A TensorView over a CPU float32 tensor (no copy; sizes and strides as the tensor has them).
inline TensorView view(const at::Tensor &t) {
    TensorView v;
    v.data = t.defined() ? t.data_ptr() : nullptr;
    v.dtype = DType::Float32;
    v.sizes.assign(t.sizes().begin(), t.sizes().end());
    v.strides.assign(t.strides().begin(), t.strides().end());
    return v;
}

inline Status check_cpu_float(const at::Tensor &t, const char *name) {
    if (!t.defined()) return Status(StatusCode::InvalidArgument, std::string(name) + " is undefined");
    if (!t.device().is_cpu()) return Status(StatusCode::Unsupported, std::string(name) + " must be a CPU tensor");
    if (t.scalar_type() != at::kFloat) return Status(StatusCode::Unsupported, std::string(name) + " must be float32");
    return Status::Ok();
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

}  // namespace torch
}  // namespace hup

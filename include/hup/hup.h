// hup: PyTorch's upsampling and inverse tensor operators, compiled ahead of time with Halide.
//
// This is the stable public header. Every entry point checks its arguments, computes shapes
// with PyTorch's formulas and returns a Status; none of them aborts or throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#if defined(_WIN32)
#define HUP_API
#else
#define HUP_API __attribute__((visibility("default")))
#endif

namespace hup {

enum class DType { Float32 };

// A non-owning view of a tensor, in PyTorch's dim order (N, C, spatial...).
struct TensorView {
    void *data = nullptr;
    DType dtype = DType::Float32;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;  // in elements; empty means contiguous
};

enum class StatusCode { Ok, InvalidArgument, ShapeMismatch, Unsupported, RuntimeError };

class HUP_API Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status Ok() { return Status(); }

    bool ok() const { return code_ == StatusCode::Ok; }
    StatusCode code() const { return code_; }
    const std::string &message() const { return message_; }

private:
    StatusCode code_ = StatusCode::Ok;
    std::string message_;
};

enum class InterpolateMode { Nearest, NearestExact, Linear, Bilinear, Bicubic, Trilinear, Area };

struct InterpolateOptions {
    InterpolateMode mode = InterpolateMode::Nearest;
    std::vector<int64_t> size;          // either size ...
    std::vector<double> scale_factor;   // ... or scale_factor: one value, or one per spatial dim
    std::optional<bool> align_corners;  // as in PyTorch: only for linear modes and bicubic
    std::optional<bool> recompute_scale_factor;
    bool antialias = false;             // bilinear and bicubic on 4-D input, as in PyTorch
};

// PyTorch's name of the mode: "nearest", "nearest-exact", "bilinear", ...
HUP_API const char *interpolate_mode_name(InterpolateMode mode);

// The output sizes torch.nn.functional.interpolate would produce for `input_sizes`.
HUP_API Status interpolate_output_sizes(const std::vector<int64_t> &input_sizes,
                                        const InterpolateOptions &options,
                                        std::vector<int64_t> *output_sizes);

// torch.nn.functional.interpolate(input, ...) written into `output`, whose sizes must be
// interpolate_output_sizes(input.sizes). Input and output may be contiguous, channels_last
// or strided; on error nothing is written.
HUP_API Status interpolate(const TensorView &input, const TensorView &output,
                           const InterpolateOptions &options);

// torch.nn.functional.conv_transpose{1,2,3}d. The spatial rank comes from the tensors: a 3-D
// input (N, C_in, W) is 1d, 4-D is 2d, 5-D is 3d. The weight is PyTorch's
// (C_in, C_out / groups, k...). Each of stride, padding, output_padding and dilation holds one
// value or one per spatial dim; empty means PyTorch's default (1, 0, 0, 1).
struct ConvTransposeOptions {
    std::vector<int64_t> stride, padding, output_padding, dilation;
    int64_t groups = 1;
    // Optional, as in nn.ConvTranspose*d.forward(input, output_size): the spatial sizes, or
    // every size (N, C_out, spatial...). Each spatial size must lie in [min, min + stride - 1],
    // min being the size with output_padding 0; it then sets output_padding.
    std::vector<int64_t> output_size;
};

// The output sizes (N, C_out, spatial...) that conv_transpose would produce.
HUP_API Status conv_transpose_output_sizes(const std::vector<int64_t> &input_sizes,
                                           const std::vector<int64_t> &weight_sizes,
                                           const ConvTransposeOptions &options,
                                           std::vector<int64_t> *output_sizes);

// Transposed convolution written into `output` (sizes as conv_transpose_output_sizes). `bias`
// is null or a 1-D tensor of C_out. Tensors may be contiguous, channels_last or strided; on
// error nothing is written.
HUP_API Status conv_transpose(const TensorView &input, const TensorView &weight, const TensorView *bias,
                              const TensorView &output, const ConvTransposeOptions &options);

// conv_transpose with the weights (and bias) packed once, for repeated calls with constant
// weights (inference). prepare() copies what it needs: the caller's weight and bias may change
// or go away afterwards without affecting the plan. run() takes any input whose channels match
// and applies the options given to prepare(). A default-constructed plan runs nothing.
class HUP_API ConvTransposePlan {
public:
    ConvTransposePlan();
    ~ConvTransposePlan();
    ConvTransposePlan(ConvTransposePlan &&) noexcept;
    ConvTransposePlan &operator=(ConvTransposePlan &&) noexcept;

    Status prepare(const TensorView &weight, const TensorView *bias, const ConvTransposeOptions &options);
    Status run(const TensorView &input, const TensorView &output) const;

    struct Impl;

private:
    Impl *impl_ = nullptr;
};

// The size of the thread pool that every operator uses (Halide's). n <= 0 restores the default.
HUP_API void set_num_threads(int n);

}  // namespace hup

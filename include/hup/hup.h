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

// Float32 for data; Int64 for max_pool's indices, as PyTorch returns them.
enum class DType { Float32, Int64 };

// Where a tensor's memory lives. A Cuda tensor's `data` is its CUdeviceptr (cast to void *),
// an OpenCL tensor's is its cl_mem; both point at the element at index 0 of every dim.
enum class Device { Host, Cuda, OpenCL };

// A non-owning view of a tensor, in PyTorch's dim order (N, C, spatial...).
struct TensorView {
    void *data = nullptr;
    DType dtype = DType::Float32;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;  // in elements; empty means contiguous
    Device device = Device::Host;
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

// ---- max_pool with indices / max_unpool --------------------------------------------------
// Rank comes from the tensors as for conv_transpose: (N, C, W) is 1d, (N, C, H, W) 2d,
// (N, C, D, H, W) 3d. For unbatched input add a batch dim of 1 (a view). Each of kernel_size,
// stride, padding and dilation holds one value or one per spatial dim; an empty stride means
// kernel_size, empty padding 0 and empty dilation 1, as in PyTorch.
struct MaxPoolOptions {
    std::vector<int64_t> kernel_size, stride, padding, dilation;
    bool ceil_mode = false;
};

// The output sizes of torch.nn.functional.max_pool{1,2,3}d (the indices have the same).
HUP_API Status max_pool_output_sizes(const std::vector<int64_t> &input_sizes, const MaxPoolOptions &options,
                                     std::vector<int64_t> *output_sizes);

// max_pool{1,2,3}d(input, ..., return_indices=True): the maxima into `output` (float32) and
// their int64 positions into `indices`, flattened per (n, c) plane of the input (h * W + w in
// 2d). Ties go to the first maximum; NaN counts as the maximum (the last NaN of a window
// wins, as in PyTorch's CPU kernel).
HUP_API Status max_pool(const TensorView &input, const TensorView &output, const TensorView &indices,
                        const MaxPoolOptions &options);

// F.max_unpool{1,2,3}d's options. output_size (optional) holds the spatial sizes, or every
// size (N, C, spatial...); each must lie strictly between default - stride and default +
// stride, default being (in - 1) * stride - 2 * padding + kernel_size.
struct MaxUnpoolOptions {
    std::vector<int64_t> kernel_size, stride, padding;
    std::vector<int64_t> output_size;
};

HUP_API Status max_unpool_output_sizes(const std::vector<int64_t> &input_sizes, const MaxUnpoolOptions &options,
                                       std::vector<int64_t> *output_sizes);

// max_unpool{1,2,3}d: `output` is zero-filled, then output[n, c].flat[indices[n, c, i]] =
// input[n, c, i]. `indices` is int64 with the input's sizes. An index outside the output
// plane (negative, or past its end, at any width) is an error and nothing is written. When
// indices repeat, the last input element in row-major order wins.
HUP_API Status max_unpool(const TensorView &input, const TensorView &indices, const TensorView &output,
                          const MaxUnpoolOptions &options);

// ---- pixel_shuffle / pixel_unshuffle ------------------------------------------------------
// Any batch rank, as in PyTorch: (*, C * r * r, H, W) <-> (*, C, H * r, W * r).
HUP_API Status pixel_shuffle_output_sizes(const std::vector<int64_t> &input_sizes, int64_t upscale_factor,
                                          std::vector<int64_t> *output_sizes);
HUP_API Status pixel_shuffle(const TensorView &input, const TensorView &output, int64_t upscale_factor);
HUP_API Status pixel_unshuffle_output_sizes(const std::vector<int64_t> &input_sizes, int64_t downscale_factor,
                                            std::vector<int64_t> *output_sizes);
HUP_API Status pixel_unshuffle(const TensorView &input, const TensorView &output, int64_t downscale_factor);

// ---- unfold (im2col) / fold (col2im) ------------------------------------------------------
// As F.unfold / F.fold: each option holds one value or two (H, W); empty dilation means 1,
// padding 0, stride 1. Batched (N, ...) or unbatched input, as PyTorch allows.
struct UnfoldOptions {
    std::vector<int64_t> kernel_size, dilation, padding, stride;
};
struct FoldOptions {
    std::vector<int64_t> output_size;  // (H, W) of the folded image: required
    std::vector<int64_t> kernel_size, dilation, padding, stride;
};

// unfold: (N, C, H, W) -> (N, C * kh * kw, L), rows ordered by channel, kernel row, kernel
// column; L counts the block positions. Padding reads as zero.
HUP_API Status unfold_output_sizes(const std::vector<int64_t> &input_sizes, const UnfoldOptions &options,
                                   std::vector<int64_t> *output_sizes);
HUP_API Status unfold(const TensorView &input, const TensorView &output, const UnfoldOptions &options);

// fold: (N, C * kh * kw, L) -> (N, C, H, W), summing overlapping blocks (unfold's adjoint).
HUP_API Status fold_output_sizes(const std::vector<int64_t> &input_sizes, const FoldOptions &options,
                                 std::vector<int64_t> *output_sizes);
HUP_API Status fold(const TensorView &input, const TensorView &output, const FoldOptions &options);

// The size of the thread pool that every operator uses: the calling thread and n - 1 helper
// threads. n <= 0 restores the default (HL_NUM_THREADS, else one thread per core).
HUP_API void set_num_threads(int n);

// ---- devices -------------------------------------------------------------------------------
// A call whose tensors are all on one GPU device runs there, with no copy through the host.
// Tensors on different devices are an error. A call on host tensors runs on the CPU, unless
// set_preferred_device() names a GPU: then hup copies the inputs to that device, runs there and
// copies the outputs back (and frees the device copies) before returning. No call ever falls
// back to the CPU for device tensors: without a usable device it returns an error Status.
// GPU calls are synchronous with respect to host tensors; on device tensors they are queued
// on the current stream (CUDA) or command queue (OpenCL), as any kernel launch would be.

// Ok when `device` can run hup's kernels here (built in, and a driver and device found);
// otherwise Unsupported, saying why. Host is always available.
HUP_API Status device_available(Device device);

// Where calls on host tensors run (process-wide; Host by default). Returns Unsupported, and
// changes nothing, when the device is not available.
HUP_API Status set_preferred_device(Device device);
HUP_API Device preferred_device();
HUP_API const char *device_name(Device device);

// Hands hup the caller's CUDA context and stream (a CUcontext and a CUstream) for calls made
// from the calling thread; null context restores Halide's own context and default stream.
// The caller keeps both alive while they are set.
HUP_API Status set_cuda_context(void *context, void *stream);
// The same for OpenCL: a cl_context and a cl_command_queue of that context.
HUP_API Status set_opencl_context(void *context, void *queue);

}  // namespace hup

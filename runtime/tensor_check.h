// Argument checks and tensor bookkeeping shared by every operator wrapper.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "HalideRuntime.h"
#include "hup/hup.h"

namespace hup {
namespace detail {

std::string shape_string(const std::vector<int64_t> &sizes);

// Validates a TensorView: rank in [min_rank, max_rank], the dtype, non-null data (unless empty),
// non-negative sizes, strides of the right length, and an element count that fits int64.
// `name` appears in the message ("input", "output", ...).
Status check_tensor(const TensorView &t, const char *name, int min_rank, int max_rank,
                    DType dtype = DType::Float32);

// ShapeMismatch unless `t` has the sizes an operator computed for it.
Status check_sizes(const TensorView &t, const char *name, const std::vector<int64_t> &expected);

// InvalidArgument unless the product of `sizes` fits int64.
Status check_count(const std::vector<int64_t> &sizes, const char *name);

constexpr int kMaxSpatial = 3;

// One per-dim option: empty (PyTorch's default `fallback`), one value for every dim, or one per
// dim; the values land in result[0 .. spatial).
Status per_dim(const std::vector<int64_t> &values, const char *name, int spatial, int64_t fallback,
               std::array<int64_t, kMaxSpatial> *result);

// a * b + c, false on int64 overflow.
inline bool checked_mul_add(int64_t a, int64_t b, int64_t c, int64_t *result) {
    int64_t product;
    return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(product, c, result);
}

// Strides in elements: the view's own, or the contiguous ones when it has none.
std::vector<int64_t> strides_of(const TensorView &t);

int64_t element_count(const std::vector<int64_t> &sizes);

// Whether dim `d` has unit stride (or is size 1, where its stride is irrelevant).
bool unit_stride(const TensorView &t, int d);

// Whether the spatial dims of `t` (2 on) nest: each stride is the next one's stride times its
// size (size-1 dims aside), so that a plane can be addressed flat with the innermost stride.
bool spatial_dims_nest(const TensorView &t);

// Whether a kernel should vectorise across channels (dim `channel_dim`): they are dense and
// more than one, and the innermost dim is not dense.
inline bool channels_dense(const TensorView &t, int channel_dim) {
    return t.sizes[channel_dim] > 1 && unit_stride(t, channel_dim) && !unit_stride(t, (int)t.sizes.size() - 1);
}

// Largest element offset reachable in the view (0 for an empty tensor), for the 2 GiB check.
int64_t max_offset(const TensorView &t);

// A halide_buffer_t over a TensorView, with dims in Halide order: spatial dims fastest first
// (PyTorch's last dim is Halide dim 0), then C, then N.
struct HalideView {
    halide_buffer_t buffer{};
    halide_dimension_t dims[8]{};

    // A buffer over `host` with `dimensions` dims, to be described with set().
    void init(const void *host, int dimensions, halide_type_t type = halide_type_t(halide_type_float, 32));
    // Halide dim d: min 0, `extent`, `stride` (1 for a size-1 dim, which is only read at
    // index 0, whatever PyTorch's stride: Halide's dense-dim constraints want 1 there).
    void set(int d, int64_t extent, int64_t stride);
    // Narrows Halide dim d to [min, min + extent) (coordinates stay the tensor's).
    void crop(int d, int64_t min, int64_t extent);
    // Narrows the last two Halide dims (channel, image) to channels [c0, c0 + count) of image n.
    void crop_planes(int64_t n, int64_t c0, int64_t count);
};

// Floor division for any signs, and `v` rounded up to a multiple of m > 0.
inline int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
void make_halide_view(const TensorView &t, HalideView *view);

// Halide addresses a buffer with 32-bit offsets: larger tensors are refused up front.
Status check_halide_addressable(const TensorView &t, const char *name, int element_size = sizeof(float));

// Bytes of memory, for prefetching.
struct ByteSpan {
    const void *data = nullptr;
    int64_t bytes = 0;
};
// Prefetches `spans` into L2 a little at a time, spread evenly over `copy_lines` steps (cache
// lines copied), so that a copy-out's stores and the next computation's reads overlap.
class PrefetchSpread {
public:
    PrefetchSpread(const std::vector<ByteSpan> &spans, int64_t copy_lines);
    void step();  // after each copied line

private:
    std::vector<ByteSpan> spans_;
    size_t span_ = 0;
    const char *next_ = nullptr;
    int64_t copy_lines_, per_copy_line_ = 0, debt_ = 0;
};
// Copies `count` floats with non-temporal stores: for outputs far larger than the caches,
// which would otherwise be read into the cache before being overwritten. `prefetch`, if given,
// steps once per whole line copied.
void stream_copy(float *dst, const float *src, int64_t count, PrefetchSpread *prefetch = nullptr);

// The memory hull of the box [lo[d], hi[d]] (inclusive, in the buffer's coordinates, clipped
// to it) of `buffer`; empty when the box is, when a stride is negative, or when the hull is
// more than 4x the box (not worth prefetching).
ByteSpan box_span(const halide_buffer_t &buffer, const int64_t *lo, const int64_t *hi);


// Outputs of at least this many bytes leave the caches: worth streaming. A variable so that
// tests can send small problems down the streaming paths.
extern int64_t streaming_bytes;

// Whether an output past streaming_bytes is written in place, or streamed: with non-temporal
// stores, by a variant that has them (max_unpool's gather, max_pool's 2x2 interior, unfold),
// or a chunk at a time through a cached scratch (run_streamed: interpolate). Which is faster
// depends on the memory behind the cores, and the hosts this library runs on differ: on one
// 2-core EPYC VM a core's non-temporal stores reached 22.6 of the memory's 25.9 GB/s and
// streaming paid (8x32x256x256 x2 bilinear 15.1 -> 12.7 ms); on another, one core's reached
// 22 GB/s of the two cores' 75-95, two cores' plain stores 55, and writing in place was
// 1.3-2x faster (x2 nearest 18 -> 7 ms, 3-D max_unpool 9.4 -> 4.6-5.7), though the kernels'
// own non-temporal stores paid there (3-D max_unpool 4.2-4.4 -> 2.5-3.0 ms). So by default
// (Auto) each run_streamed call site, after one untimed call, times its next calls both ways
// (kStreamingTrials each, alternately) and then keeps the faster per byte. The environment
// variable HUP_STREAMING=always|never|auto sets the mode; tests set it to send small problems
// down either path.
enum class StreamingMode { Auto, Always, Never };
extern StreamingMode streaming_mode;
constexpr int kStreamingTrials = 4;

// Whether a kernel with a non-temporal variant streams an output of `bytes`: from
// streaming_bytes up, unless the mode is Never. Not measured per call site as
// StreamingChoice is: the kernels' own non-temporal stores paid on every host and case tried
// (2 threads, Zen 5, in-process A/B: 3-D max_unpool 3.86 -> 2.92 ms, 8x64x128x128 5.17 ->
// 4.71, max_pool 8x64x256x256 5.45-5.75 -> 4.75-5.19), and single timed calls on this VM
// vary by as much, which sent StreamingChoice's trials the wrong way about one run in three.
bool stream_output(int64_t bytes);

// Whether `out` meets what a streaming variant's schedule asks of its output
// (schedules/streaming.h): host 64-byte aligned, dim 0 dense, the `row_dims` dims of a row
// from 0, every stride above them a multiple of 16 floats. Dims of extent 1 pass whatever
// their stride, since it addresses nothing; where `out` passes, those get stride 0, which
// satisfies Halide's check.
bool make_streamable(HalideView *out, int row_dims = 1);

// Whether to run a streaming variant into `out`, a float output of `elements`: both of the
// above (make_streamable's stride changes apply only where it passes).
bool stream_into(HalideView *out, int64_t elements, int row_dims = 1);

// One call site's choice between the two ways (thread-safe; lives as long as the process).
class StreamingChoice {
public:
    // Runs run(streamed) for an output of `bytes`: in place below streaming_bytes, else as
    // the mode or the trials so far say; times the trials.
    Status run(int64_t bytes, const std::function<Status(bool streamed)> &run);

private:
    std::mutex mutex_;
    bool warmed_up_ = false;                 // the first call, untimed, has run
    int trials_[2] = {0, 0};                 // [in place, streamed]
    double fastest_[2] = {1e30, 1e30};       // seconds per byte, the fastest trial of each way
};

// Sets streaming_bytes and streaming_mode for its lifetime (tests: small problems down a path).
class StreamingOverride {
public:
    StreamingOverride(int64_t bytes, StreamingMode mode) {
        streaming_bytes = bytes;
        streaming_mode = mode;
    }
    ~StreamingOverride() {
        streaming_bytes = saved_bytes_;
        streaming_mode = saved_mode_;
    }
    StreamingOverride(const StreamingOverride &) = delete;
    StreamingOverride &operator=(const StreamingOverride &) = delete;

private:
    const int64_t saved_bytes_ = streaming_bytes;
    const StreamingMode saved_mode_ = streaming_mode;
};

// Runs body(0) .. body(count - 1) in parallel on Halide's thread pool; returns the first failure.
Status parallel_tasks(int64_t count, const std::function<Status(int64_t)> &body);

// Runs a pipeline whose float output `out` is far larger than the caches, a chunk at a time:
// each parallel task has `fill` compute a box of about `chunk_floats` outputs (whole lines of
// out's fastest dims, in the same memory order, at the box's own coordinates) into a scratch
// buffer that stays in the cache, then copies it into `out` with non-temporal stores. The
// output's lines are then written once and never read first, as ordinary stores would.
// Inside `fill`, Halide's parallel loops run serially: the chunks are the parallel tasks.
// `chunk_input`, if given, lists the input bytes that filling a chunk (a box of out) reads:
// they are prefetched while the chunk before it is copied out.
// `copies` says how many threads may copy out at once. One core's non-temporal stores nearly
// fill the memory bandwidth (22.6 of 25.9 GB/s on the 2-core EPYC). When computing a chunk
// takes about as long as copying one out, every thread copying at once leaves the memory idle
// while they all compute, then splits it between them; with at most half of them copying, the
// others compute meanwhile and the memory stays busy. Medians of 6 interleaved runs, 2
// threads: 8x32x256x256 x2 bilinear (13 us to compute a chunk, 12 to copy it) 15.1 -> 12.7 ms,
// x2 nearest (5 us to compute) 12.6 -> 11.5; but 8x64x128x128 max_unpool2d 8.1 -> 8.6 (its
// gather, which took this path before it had a non-temporal variant, copied with every thread).
// Returns the first failure (other chunks may have been written by then).
using ChunkInput = std::function<void(const halide_buffer_t &chunk, std::vector<ByteSpan> *reads)>;
enum class StreamCopies { AllTheThreads, HalfTheThreads };
Status run_streamed(const HalideView &out, int64_t chunk_floats,
                    const std::function<Status(halide_buffer_t *chunk)> &fill, const ChunkInput &chunk_input = nullptr,
                    StreamCopies copies = StreamCopies::AllTheThreads);

// Runs body(n, first_channel, channel_count) over every image and chunk of `chunk` channels
// in parallel on Halide's thread pool; returns the first failure.
Status for_channel_chunks(int64_t batch, int64_t channels, int64_t chunk,
                          const std::function<Status(int64_t, int64_t, int64_t)> &body);

// Writes bias[channel] (or 0 when bias is null) to every element of a float32 view (PyTorch
// dim order, channel dim 1).
void fill_channels(const TensorView &out, const float *bias);

// Copies src into dst element by element (same sizes; any strides).
void strided_copy(const TensorView &src, const TensorView &dst);

// With HUP_TRACE_VARIANTS set in the environment, prints "hup variant: <name>" to stderr when
// a call runs a different kernel variant than the thread's previous call (scripts/hup-tune
// maps benchmark cases to the variants they run this way). `name` is only called then, so
// the hot path pays a flag test and builds no string.
bool tracing_variants();
void note_variant_name(const std::string &name);
template <class MakeName>
void note_variant(MakeName &&name) {
    if (tracing_variants()) note_variant_name(name());
}

// `count` floats aligned to 64 bytes (a cache line, one AVX-512 vector), kept alive by
// *storage: new[] aligns large blocks to 16 bytes only, so that every 16-float vector load or
// store of a kernel on such a buffer would straddle two cache lines.
float *aligned_floats(int64_t count, std::unique_ptr<float[]> *storage);

// A scratch buffer of at least `count` floats, 64-byte aligned, for one parallel task: taken
// from a process-wide pool of buffers that earlier tasks gave back, and given back when it goes
// out of scope. (Allocating cache-sized buffers per task costs page faults on every call.)
class ScratchBuffer {
public:
    explicit ScratchBuffer(int64_t count);
    ~ScratchBuffer();
    ScratchBuffer(const ScratchBuffer &) = delete;
    ScratchBuffer &operator=(const ScratchBuffer &) = delete;
    float *data() const { return data_; }

private:
    std::unique_ptr<float[]> storage_;
    int64_t capacity_ = 0;
    float *data_ = nullptr;
};

// Whether the kernels' multi-target wrappers run their AVX-512 objects (16-float vectors) in
// this process: Halide's own test, asked with the AVX-512 target's features. For choices that
// depend on the register tiles' width; every object computes the same numbers.
bool wide_vectors();

// Runs a Halide pipeline: `call` receives the user_context to pass as its first argument.
// Errors the pipeline reports become a RuntimeError Status carrying Halide's message.
template <typename Call>
Status run_pipeline(const char *op, Call &&call);

struct PipelineErrors {
    std::string text;
};
void install_error_handler();  // and install_thread_pool_hook
// Makes Halide's parallel loops keep each thread on the same part of a loop from call to call
// (runtime/tensor_check.cpp, AffineLoop), and run serially inside run_streamed's chunks.
void install_thread_pool_hook();
Status pipeline_status(const char *op, int result, const PipelineErrors &errors);

template <typename Call>
Status run_pipeline(const char *op, Call &&call) {
    install_error_handler();
    PipelineErrors errors;
    int result = call(static_cast<void *>(&errors));
    return pipeline_status(op, result, errors);
}

}  // namespace detail
}  // namespace hup

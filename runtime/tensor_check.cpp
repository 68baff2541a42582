#include "tensor_check.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

namespace hup {

namespace {
std::atomic<int> requested_threads{0};  // 0: Halide's default
}

void set_num_threads(int n) {
    requested_threads = n > 0 ? n : 0;
    halide_set_num_threads(n > 0 ? n : 0);
}

namespace detail {

int64_t streaming_bytes = int64_t(32) << 20;

StreamingMode streaming_mode = [] {
    const char *env = std::getenv("HUP_STREAMING");
    const std::string mode = env ? env : "";
    return mode == "always" ? StreamingMode::Always : mode == "never" ? StreamingMode::Never : StreamingMode::Auto;
}();

Status StreamingChoice::run(int64_t bytes, const std::function<Status(bool streamed)> &run) {
    if (bytes < streaming_bytes || streaming_mode == StreamingMode::Never) return run(false);
    if (streaming_mode == StreamingMode::Always) return run(true);
    bool streamed = false, trial = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!warmed_up_) {
            // The first call is not timed: it may be the first to touch the output's pages,
            // which would count against whichever way it ran. In place.
            warmed_up_ = true;
        } else {
            trial = trials_[0] < kStreamingTrials || trials_[1] < kStreamingTrials;
            streamed = trial ? trials_[1] <= trials_[0] : fastest_[1] < fastest_[0];  // trials alternate, streamed first
            if (trial) trials_[streamed]++;
        }
    }
    if (!trial) return run(streamed);
    const auto start = std::chrono::steady_clock::now();
    const Status status = run(streamed);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (status.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        fastest_[streamed] = std::min(fastest_[streamed], seconds / (double)bytes);
    }
    return status;
}

bool stream_output(int64_t bytes) {
    return bytes >= streaming_bytes && streaming_mode != StreamingMode::Never;
}

bool make_streamable(HalideView *out, int row_dims) {
    halide_buffer_t &b = out->buffer;
    if (reinterpret_cast<uintptr_t>(b.host) % 64 != 0 || b.dimensions < row_dims) return false;
    if (b.dim[0].stride != 1) return false;
    for (int d = 0; d < row_dims; d++) {
        if (b.dim[d].min != 0) return false;
    }
    for (int d = row_dims; d < b.dimensions; d++) {
        if (b.dim[d].extent != 1 && b.dim[d].stride % 16 != 0) return false;
    }
    for (int d = row_dims; d < b.dimensions; d++) {
        if (b.dim[d].extent == 1) b.dim[d].stride = 0;
    }
    return true;
}

bool stream_into(HalideView *out, int64_t elements, int row_dims) {
    return stream_output(elements * (int64_t)sizeof(float)) && make_streamable(out, row_dims);
}

std::string shape_string(const std::vector<int64_t> &sizes) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < sizes.size(); i++) s << (i ? ", " : "") << sizes[i];
    s << "]";
    return s.str();
}

int64_t element_count(const std::vector<int64_t> &sizes) {
    int64_t count = 1;
    for (int64_t s : sizes) count *= s;
    return count;
}

Status check_tensor(const TensorView &t, const char *name, int min_rank, int max_rank, DType dtype) {
    const int rank = (int)t.sizes.size();
    if (rank < min_rank || rank > max_rank) {
        std::ostringstream m;
        m << name << " must have " << min_rank;
        if (max_rank != min_rank) m << " to " << max_rank;
        m << " dims, got " << rank << "-D " << shape_string(t.sizes);
        return Status(StatusCode::InvalidArgument, m.str());
    }
    if (t.dtype != dtype) {
        return Status(StatusCode::Unsupported, std::string(name) + (dtype == DType::Int64 ? " must be int64" : " must be float32"));
    }
    if (!t.strides.empty() && t.strides.size() != t.sizes.size()) {
        return Status(StatusCode::InvalidArgument,
                      std::string(name) + " has " + std::to_string(t.strides.size()) + " strides for " +
                          std::to_string(rank) + " dims");
    }
    int64_t count = 1;
    for (int64_t s : t.sizes) {
        if (s < 0) {
            return Status(StatusCode::InvalidArgument,
                          std::string(name) + " has a negative size: " + shape_string(t.sizes));
        }
        if (s != 0 && count > std::numeric_limits<int64_t>::max() / s) {
            return Status(StatusCode::InvalidArgument,
                          std::string(name) + " sizes " + shape_string(t.sizes) + " overflow int64");
        }
        count *= s;
    }
    for (int64_t s : t.strides) {
        if (s < 0) {
            return Status(StatusCode::Unsupported, std::string(name) + " has a negative stride");
        }
    }
    if (count > 0 && t.data == nullptr) {
        return Status(StatusCode::InvalidArgument, std::string(name) + " data is null");
    }
    return Status::Ok();
}

Status check_sizes(const TensorView &t, const char *name, const std::vector<int64_t> &expected) {
    if (t.sizes == expected) return Status::Ok();
    return Status(StatusCode::ShapeMismatch,
                  std::string(name) + " has sizes " + shape_string(t.sizes) + ", expected " + shape_string(expected));
}

Status check_count(const std::vector<int64_t> &sizes, const char *name) {
    int64_t count = 1;
    for (int64_t size : sizes) {
        if (size != 0 && count > std::numeric_limits<int64_t>::max() / size) {
            return Status(StatusCode::InvalidArgument, std::string(name) + " sizes " + shape_string(sizes) + " overflow int64");
        }
        count *= size;
    }
    return Status::Ok();
}

Status per_dim(const std::vector<int64_t> &values, const char *name, int spatial, int64_t fallback,
               std::array<int64_t, kMaxSpatial> *result) {
    if (!values.empty() && values.size() != 1 && (int)values.size() != spatial) {
        const std::string counts = spatial == 1 ? "1 value" : "1 or " + std::to_string(spatial) + " values";
        return Status(StatusCode::InvalidArgument,
                      std::string(name) + " must have " + counts + ", got " + std::to_string(values.size()));
    }
    for (int d = 0; d < spatial; d++) {
        (*result)[d] = values.empty() ? fallback : values[values.size() == 1 ? 0 : d];
    }
    return Status::Ok();
}

std::vector<int64_t> strides_of(const TensorView &t) {
    if (!t.strides.empty()) return t.strides;
    std::vector<int64_t> strides(t.sizes.size());
    int64_t s = 1;
    for (int d = (int)t.sizes.size() - 1; d >= 0; d--) {
        strides[d] = s;
        s *= t.sizes[d];
    }
    return strides;
}

bool spatial_dims_nest(const TensorView &t) {
    const std::vector<int64_t> strides = strides_of(t);
    for (size_t d = 2; d + 1 < t.sizes.size(); d++) {
        if (t.sizes[d] > 1 && strides[d] != strides[d + 1] * t.sizes[d + 1]) return false;
    }
    return true;
}

bool unit_stride(const TensorView &t, int d) {
    if (t.sizes[d] == 1) return true;
    if (!t.strides.empty()) return t.strides[d] == 1;
    for (size_t i = d + 1; i < t.sizes.size(); i++) {  // contiguous: the product of later sizes
        if (t.sizes[i] != 1) return false;
    }
    return true;
}

int64_t max_offset(const TensorView &t) {
    const std::vector<int64_t> strides = strides_of(t);
    int64_t offset = 0;
    for (size_t d = 0; d < t.sizes.size(); d++) {
        if (t.sizes[d] == 0) return 0;
        if (strides[d] != 0 && t.sizes[d] - 1 > std::numeric_limits<int64_t>::max() / strides[d] - offset) {
            return std::numeric_limits<int64_t>::max();
        }
        offset += (t.sizes[d] - 1) * strides[d];
    }
    return offset;
}

Status check_halide_addressable(const TensorView &t, const char *name, int element_size) {
    // Halide (without the large_buffers feature) indexes with int32 and caps buffers at 2 GiB.
    const int64_t limit = (int64_t(1) << 31) / int64_t(element_size);
    for (int64_t s : t.sizes) {
        if (s >= (int64_t(1) << 31)) {
            return Status(StatusCode::Unsupported, std::string(name) + " has a dim of 2^31 or more elements");
        }
    }
    if (max_offset(t) >= limit) {
        return Status(StatusCode::Unsupported,
                      std::string(name) + " " + shape_string(t.sizes) + " spans 2 GiB or more, which hup does not support");
    }
    return Status::Ok();
}

void HalideView::init(const void *host, int dimensions, halide_type_t type) {
    buffer = halide_buffer_t{};
    buffer.host = static_cast<uint8_t *>(const_cast<void *>(host));
    buffer.type = type;
    buffer.dimensions = dimensions;
    buffer.dim = dims;
}

void HalideView::set(int d, int64_t extent, int64_t stride) {
    dims[d] = halide_dimension_t{0, (int32_t)extent, extent == 1 ? 1 : (int32_t)stride, 0};
}

void HalideView::crop(int d, int64_t min, int64_t extent) {
    buffer.host += (min - dims[d].min) * dims[d].stride * buffer.type.bytes();
    dims[d].min = (int32_t)min;
    dims[d].extent = (int32_t)extent;
}

void HalideView::crop_planes(int64_t n, int64_t c0, int64_t count) {
    buffer.dim = dims;  // a copied view points at its own dims
    const int c_dim = buffer.dimensions - 2;
    crop(c_dim, c0, count);
    crop(c_dim + 1, n, 1);
}

void make_halide_view(const TensorView &t, HalideView *view) {
    const int rank = (int)t.sizes.size();
    const std::vector<int64_t> strides = strides_of(t);
    const int spatial = rank - 2;
    view->init(t.data, rank);
    for (int i = 0; i < spatial; i++) view->set(i, t.sizes[rank - 1 - i], strides[rank - 1 - i]);
    view->set(spatial, t.sizes[1], strides[1]);
    view->set(spatial + 1, t.sizes[0], strides[0]);
}

void strided_copy(const TensorView &src, const TensorView &dst) {
    const int rank = (int)src.sizes.size();
    if (element_count(src.sizes) == 0) return;
    const std::vector<int64_t> ss = strides_of(src), ds = strides_of(dst);
    const float *s = static_cast<const float *>(src.data);
    float *d = static_cast<float *>(dst.data);
    std::vector<int64_t> index(rank, 0);
    const int64_t inner = src.sizes[rank - 1];
    while (true) {
        int64_t so = 0, dof = 0;
        for (int i = 0; i < rank - 1; i++) {
            so += index[i] * ss[i];
            dof += index[i] * ds[i];
        }
        for (int64_t j = 0; j < inner; j++) d[dof + j * ds[rank - 1]] = s[so + j * ss[rank - 1]];
        int i = rank - 2;
        for (; i >= 0; i--) {
            if (++index[i] < src.sizes[i]) break;
            index[i] = 0;
        }
        if (i < 0) break;
    }
}

PrefetchSpread::PrefetchSpread(const std::vector<ByteSpan> &spans, int64_t copy_lines) : copy_lines_(std::max<int64_t>(1, copy_lines)) {
    for (const ByteSpan &span : spans) {
        if (span.data && span.bytes > 0) {
            spans_.push_back(span);
            per_copy_line_ += (span.bytes + 63) / 64;
        }
    }
    if (!spans_.empty()) next_ = static_cast<const char *>(spans_[0].data);
}

void PrefetchSpread::step() {
    for (debt_ += per_copy_line_; debt_ >= copy_lines_; debt_ -= copy_lines_) {
        if (span_ == spans_.size()) return;
        _mm_prefetch(next_, _MM_HINT_T1);
        next_ += 64;
        const ByteSpan &span = spans_[span_];
        if (next_ >= static_cast<const char *>(span.data) + span.bytes && ++span_ < spans_.size()) {
            next_ = static_cast<const char *>(spans_[span_].data);
        }
    }
}

namespace {
// Non-temporal stores of whole cache lines: each line's write-combining buffer fills at once.
__attribute__((target("avx512f"))) void stream_lines_avx512(float *dst, const float *src, int64_t lines, PrefetchSpread *pf) {
    for (int64_t i = 0; i < lines; i++) {
        _mm512_stream_ps(dst + 16 * i, _mm512_loadu_ps(src + 16 * i));
        if (pf) pf->step();
    }
}
__attribute__((target("avx"))) void stream_lines_avx(float *dst, const float *src, int64_t lines, PrefetchSpread *pf) {
    for (int64_t i = 0; i < lines; i++) {
        _mm256_stream_ps(dst + 16 * i, _mm256_loadu_ps(src + 16 * i));
        _mm256_stream_ps(dst + 16 * i + 8, _mm256_loadu_ps(src + 16 * i + 8));
        if (pf) pf->step();
    }
}
void stream_lines_sse(float *dst, const float *src, int64_t lines, PrefetchSpread *pf) {
    for (int64_t i = 0; i < lines; i++) {
        for (int k = 0; k < 4; k++) _mm_stream_ps(dst + 16 * i + 4 * k, _mm_loadu_ps(src + 16 * i + 4 * k));
        if (pf) pf->step();
    }
}
}  // namespace

void stream_copy(float *dst, const float *src, int64_t count, PrefetchSpread *prefetch) {
    static const auto stream_lines = __builtin_cpu_supports("avx512f") ? stream_lines_avx512
                                     : __builtin_cpu_supports("avx")   ? stream_lines_avx
                                                                       : stream_lines_sse;
    // The unaligned head and tail (floats are 4-byte aligned) with ordinary stores.
    const int64_t head = std::min<int64_t>(count, (64 - (reinterpret_cast<uintptr_t>(dst) & 63)) / 4 % 16);
    std::memcpy(dst, src, head * sizeof(float));
    const int64_t lines = (count - head) / 16, done = head + 16 * lines;
    stream_lines(dst + head, src + head, lines, prefetch);
    std::memcpy(dst + done, src + done, (count - done) * sizeof(float));
    _mm_sfence();
}

namespace {
struct ParallelTasks {
    const std::function<Status(int64_t)> *body;
    std::mutex mutex;
    Status first_failure;

    static int task(void *, int index, uint8_t *closure) {
        ParallelTasks &job = *reinterpret_cast<ParallelTasks *>(closure);
        Status s = (*job.body)(index);
        if (!s.ok()) {
            std::lock_guard<std::mutex> lock(job.mutex);
            if (job.first_failure.ok()) job.first_failure = s;
        }
        return 0;
    }
};
}  // namespace

Status parallel_tasks(int64_t count, const std::function<Status(int64_t)> &body) {
    if (count > std::numeric_limits<int>::max()) return Status(StatusCode::Unsupported, "too many parallel tasks");
    install_thread_pool_hook();
    ParallelTasks job;
    job.body = &body;
    halide_do_par_for(nullptr, ParallelTasks::task, 0, (int)count, reinterpret_cast<uint8_t *>(&job));
    return job.first_failure;
}

Status for_channel_chunks(int64_t batch, int64_t channels, int64_t chunk,
                          const std::function<Status(int64_t, int64_t, int64_t)> &body) {
    chunk = std::max<int64_t>(1, chunk);
    const int64_t chunks_per_image = (channels + chunk - 1) / chunk;
    return parallel_tasks(batch * chunks_per_image, [&](int64_t index) {
        const int64_t n = index / chunks_per_image, c0 = (index % chunks_per_image) * chunk;
        return body(n, c0, std::min(chunk, channels - c0));
    });
}

namespace {
// Set while a thread runs one chunk of run_streamed: the chunks are the parallel tasks, so a
// pipeline's own parallel loops inside one run serially on that thread. (Nested, they cost
// more than they gain: 20 against 16 ms on interpolate's 8x32x256x256 bilinear.)
thread_local bool inside_chunk = false;

// The threads a parallel loop runs on, the caller's included (set_num_threads, else
// HL_NUM_THREADS, else one per core).
int pool_threads() {
    int threads = requested_threads.load(std::memory_order_relaxed);
    if (threads == 0) {
        const char *env = std::getenv("HL_NUM_THREADS");
        threads = env ? std::atoi(env) : (int)std::thread::hardware_concurrency();
    }
    return std::max(1, threads);
}

// Each thread that takes part in a parallel loop has a fixed slot: the order in which it
// first took part. The caller of a pipeline takes one before its helpers do.
int thread_slot() {
    static std::atomic<int> next_slot{0};
    thread_local const int slot = next_slot.fetch_add(1, std::memory_order_relaxed);
    return slot;
}

// A parallel loop with cache affinity. Halide's pool hands each task to whichever thread asks
// next, so from call to call a thread works on different parts of the tensors, and what it
// left in its cache the call before goes to waste. Here the loop is cut into one contiguous
// range of tasks per thread; a thread's slot picks its range, the same one every call (as
// OpenMP's static schedule does), and a thread that finishes its own takes single tasks from
// the back of the others' (so a thread that lost its core delays nobody).
struct AffineLoop {
    static constexpr int kMaxRanges = 64;
    struct alignas(64) Range {
        std::atomic<uint64_t> bounds;  // the next task (low half) and the end (high half)
    };
    void *user_context = nullptr;
    halide_task_t task = nullptr;
    uint8_t *closure = nullptr;
    int min = 0, ranges = 0;
    std::atomic<int> failure{0};
    Range range[kMaxRanges];

    static uint64_t pack(uint32_t next, uint32_t end) { return (uint64_t)end << 32 | next; }

    // Takes a task of range r: from its front for its owner, from its back for a helper.
    bool take(int r, bool owner, int *index) {
        uint64_t bounds = range[r].bounds.load(std::memory_order_relaxed);
        for (;;) {
            const uint32_t next = (uint32_t)bounds, end = (uint32_t)(bounds >> 32);
            if (next >= end) return false;
            const uint64_t rest = owner ? pack(next + 1, end) : pack(next, end - 1);
            if (range[r].bounds.compare_exchange_weak(bounds, rest, std::memory_order_relaxed)) {
                *index = (int)(owner ? next : end - 1);
                return true;
            }
        }
    }

    // One thread's part: its own range, then whatever is left of the others'.
    static int participant(void *, int, uint8_t *closure) {
        AffineLoop &loop = *reinterpret_cast<AffineLoop *>(closure);
        const int home = thread_slot() % loop.ranges;
        for (int k = 0; k < loop.ranges; k++) {
            const int r = (home + k) % loop.ranges;
            int index;
            while (loop.failure.load(std::memory_order_relaxed) == 0 && loop.take(r, k == 0, &index)) {
                const int result = loop.task(loop.user_context, loop.min + index, loop.closure);
                int none = 0;
                if (result != 0) loop.failure.compare_exchange_strong(none, result);
            }
        }
        return 0;
    }
};

// The threads that help run top-level parallel loops, besides the caller. Halide's pool puts
// its workers to sleep as soon as its queue is empty, so every pipeline call woke a sleeping
// thread and then slept on the result; on a VM a sleeping vCPU halts, and each wake-up costs
// an interrupt and the hypervisor's scheduling, tens of microseconds that vary with the
// host's load, twice a call. Operators that run many short pipelines (a DCGAN layer's listed
// positions: 36) paid it on each. These helpers spin for a while after a loop before they
// sleep, as OpenMP's and pthreadpool's workers do; a loop started within that time costs no
// wake-up, and one that finds a helper asleep does not wait for it to wake if the caller
// has taken every task meanwhile. One loop runs at a time: a caller that finds the helpers
// busy (another thread's loop) runs its loop alone.
class Helpers {
public:
    static Helpers &get() {
        static Helpers *helpers = new Helpers;  // never destroyed: its threads outlive exit's destructors
        return *helpers;
    }

    // Runs `loop` on the caller and up to `loop.ranges - 1` helpers, or false if they are busy.
    bool run(AffineLoop &loop) {
        std::unique_lock<std::mutex> one_loop(loop_mutex_, std::try_to_lock);
        if (!one_loop.owns_lock()) return false;
        while (threads_ < loop.ranges - 1) {  // a new helper waits for the generation after this one
            try {
                std::thread(&Helpers::work, this, threads_, generation_.load(std::memory_order_relaxed)).detach();
            } catch (const std::system_error &) {
                break;  // no more threads to be had: the loop runs on those there are
            }
            threads_++;
        }
        job_.store(&loop, std::memory_order_relaxed);
        wanted_.store(std::min(loop.ranges - 1, threads_), std::memory_order_relaxed);
        open_.store(true, std::memory_order_release);  // a helper that sees it open sees job_
        generation_.fetch_add(1, std::memory_order_release);
        {
            std::lock_guard<std::mutex> lock(sleep_mutex_);
            if (sleepers_ > 0) wake_.notify_all();
        }
        in_loop = true;
        AffineLoop::participant(nullptr, 0, reinterpret_cast<uint8_t *>(&loop));  // until every task is taken
        in_loop = false;
        // Late helpers stay out; those inside finish the tasks they took.
        open_.store(false, std::memory_order_seq_cst);
        for (int spins = 0; inside_.load(std::memory_order_seq_cst) > 0; spins++) {
            if (spins < 4096) {
                _mm_pause();
            } else {
                std::this_thread::yield();  // a helper lost its core mid-task
            }
        }
        return true;
    }

    // Whether this thread is running a loop's tasks: loops inside them run serially.
    static thread_local bool in_loop;

private:
    // How long a helper spins for the next loop before it sleeps.
    static constexpr std::chrono::microseconds kSpin{200};

    void work(int index, uint64_t seen) {
        for (;;) {
            uint64_t now = generation_.load(std::memory_order_acquire);
            const auto until = std::chrono::steady_clock::now() + kSpin;
            for (int spins = 0; now == seen; spins++) {
                _mm_pause();
                if (spins % 64 == 63 && std::chrono::steady_clock::now() > until) {
                    std::unique_lock<std::mutex> lock(sleep_mutex_);
                    sleepers_++;
                    wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
                    sleepers_--;
                }
                now = generation_.load(std::memory_order_acquire);
            }
            seen = now;
            if (index >= wanted_.load(std::memory_order_relaxed)) continue;
            inside_.fetch_add(1, std::memory_order_seq_cst);
            if (open_.load(std::memory_order_seq_cst)) {  // else the caller has finished without us
                in_loop = true;
                AffineLoop::participant(nullptr, 0, reinterpret_cast<uint8_t *>(job_.load(std::memory_order_relaxed)));
                in_loop = false;
            }
            inside_.fetch_sub(1, std::memory_order_release);
        }
    }

    std::mutex loop_mutex_;  // held by the caller of the running loop
    int threads_ = 0;        // helpers started (under loop_mutex_)
    // The running loop, and whether it still takes helpers: set before generation_ moves on.
    std::atomic<AffineLoop *> job_{nullptr};
    std::atomic<bool> open_{false};
    std::atomic<int> wanted_{0};  // helpers that may take part: those with index below
    std::atomic<int> inside_{0};  // helpers inside the loop now
    std::atomic<uint64_t> generation_{0};  // one more per loop
    std::mutex sleep_mutex_;
    std::condition_variable wake_;
    int sleepers_ = 0;  // under sleep_mutex_
};
thread_local bool Helpers::in_loop = false;

int hup_do_par_for(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
    // Serially, on this thread: inside a chunk or another loop's task, or with one thread.
    if (inside_chunk || Helpers::in_loop || size <= 1 || pool_threads() == 1) {
        for (int i = min; i < min + size; i++) {
            const int result = task(user_context, i, closure);
            if (result != 0) return result;
        }
        return 0;
    }
    thread_slot();  // the caller takes its slot before any helper
    AffineLoop loop;
    loop.user_context = user_context;
    loop.task = task;
    loop.closure = closure;
    loop.min = min;
    loop.ranges = std::min({pool_threads(), size, AffineLoop::kMaxRanges});
    for (int r = 0; r < loop.ranges; r++) {
        const int64_t begin = (int64_t)size * r / loop.ranges, end = (int64_t)size * (r + 1) / loop.ranges;
        loop.range[r].bounds.store(AffineLoop::pack((uint32_t)begin, (uint32_t)end), std::memory_order_relaxed);
    }
    if (!Helpers::get().run(loop)) {  // busy with another thread's loop: this one alone, every range
        AffineLoop::participant(nullptr, 0, reinterpret_cast<uint8_t *>(&loop));
    }
    return loop.failure.load();
}
}  // namespace

void install_thread_pool_hook() {
    static std::once_flag once;
    std::call_once(once, [] { halide_set_custom_do_par_for(hup_do_par_for); });
}

// Copy slots (see StreamCopies): how many threads may stream chunks out at once.
class StreamSlots {
public:
    explicit StreamSlots(StreamCopies copies) {
        const int threads = pool_threads();
        slots_ = copies == StreamCopies::HalfTheThreads ? std::max(1, threads / 2) : std::numeric_limits<int>::max();
    }
    // Takes a slot, waiting while they are all taken.
    void acquire() {
        for (int spins = 0;; spins++) {
            int busy = busy_.load(std::memory_order_relaxed);
            if (busy < slots_ && busy_.compare_exchange_weak(busy, busy + 1, std::memory_order_acquire)) return;
            if (spins < 64) {
                _mm_pause();  // a copy takes ~10 us
            } else {
                std::this_thread::yield();  // its holder may have lost its core
            }
        }
    }
    void release() { busy_.fetch_sub(1, std::memory_order_release); }

private:
    int slots_ = 1;
    std::atomic<int> busy_{0};
};

Status run_streamed(const HalideView &out, int64_t chunk_floats,
                    const std::function<Status(halide_buffer_t *chunk)> &fill, const ChunkInput &chunk_input,
                    StreamCopies copies) {
    install_thread_pool_hook();
    // The dims in memory order (smallest stride first): chunks are boxes of whole lines of the
    // fastest dims, cut along the first dim that would make them larger than chunk_floats.
    const int dims = out.buffer.dimensions;
    std::vector<int> order(dims);
    for (int d = 0; d < dims; d++) order[d] = d;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return out.dims[a].stride < out.dims[b].stride; });
    int cut = 0;
    int64_t inner = 1;  // elements of a chunk below the cut dim
    while (cut < dims && inner * out.dims[order[cut]].extent <= chunk_floats) inner *= out.dims[order[cut++]].extent;
    const int64_t cut_extent = cut < dims ? out.dims[order[cut]].extent : 1;
    const int64_t block = std::max<int64_t>(1, chunk_floats / inner);
    const int64_t blocks = (cut_extent + block - 1) / block;
    int64_t outer = 1;  // chunks along the dims above the cut
    for (int p = cut + 1; p < dims; p++) outer *= out.dims[order[p]].extent;
    const int64_t chunks = blocks * outer;
    // The box of chunk `index`, in out's coordinates, with strides dense in out's memory order.
    auto chunk_box = [&](int64_t index, HalideView *chunk) {
        *chunk = out;
        chunk->buffer.dim = chunk->dims;
        int64_t rest = index / blocks, elements = 1;
        for (int p = 0; p < dims; p++) {
            halide_dimension_t &dim = chunk->dims[order[p]];
            if (p == cut) {
                const int64_t start = (index % blocks) * block;
                dim.min += (int32_t)start;
                dim.extent = (int32_t)std::min(block, cut_extent - start);
            } else if (p > cut) {
                dim.min += (int32_t)(rest % dim.extent);
                rest /= dim.extent;
                dim.extent = 1;
            }
            dim.stride = (int32_t)elements;
            elements *= dim.extent;
        }
        return elements;
    };
    // A task runs a few consecutive chunks, so that it knows which one comes next: while it
    // copies one out, it prefetches the input of the next, whose kernel would otherwise wait
    // on those reads with the memory idle.
    const int64_t group = std::max<int64_t>(1, std::min<int64_t>(8, chunks / 8));
    StreamSlots slots(copies);
    return parallel_tasks((chunks + group - 1) / group, [&](int64_t task) {
        const int64_t first = task * group, last = std::min(chunks, first + group);
        HalideView chunk, next;
        int64_t elements = chunk_box(first, &chunk);
        for (int64_t index = first; index < last; index++) {
            const ScratchBuffer scratch(elements);
            chunk.buffer.host = reinterpret_cast<uint8_t *>(scratch.data());
            inside_chunk = true;
            const Status s = fill(&chunk.buffer);
            inside_chunk = false;
            if (!s.ok()) return s;
            int64_t next_elements = 0;
            std::vector<ByteSpan> reads;
            if (index + 1 < last) {
                next_elements = chunk_box(index + 1, &next);
                if (chunk_input) chunk_input(next.buffer, &reads);
            }
            PrefetchSpread prefetch(reads, elements / 16);
            // Copy out the longest runs that are contiguous in the output too.
            int dense = 0;
            int64_t run = 1;
            while (dense < dims && (chunk.dims[order[dense]].extent == 1 || out.dims[order[dense]].stride == run)) {
                run *= chunk.dims[order[dense++]].extent;
            }
            float *base = reinterpret_cast<float *>(out.buffer.host);
            for (int d = 0; d < dims; d++) base += (int64_t)(chunk.dims[d].min - out.dims[d].min) * out.dims[d].stride;
            slots.acquire();
            for (int64_t r = 0; r * run < elements; r++) {
                int64_t offset = 0, position = r;
                for (int p = dense; p < dims; p++) {
                    offset += position % chunk.dims[order[p]].extent * out.dims[order[p]].stride;
                    position /= chunk.dims[order[p]].extent;
                }
                stream_copy(base + offset, scratch.data() + r * run, run, reads.empty() ? nullptr : &prefetch);
            }
            slots.release();
            chunk = next;
            chunk.buffer.dim = chunk.dims;
            elements = next_elements;
        }
        return Status::Ok();
    });
}

ByteSpan box_span(const halide_buffer_t &buffer, const int64_t *lo, const int64_t *hi) {
    const int element = (buffer.type.bits + 7) / 8;
    int64_t first = 0, last = 0, volume = 1;
    for (int d = 0; d < buffer.dimensions; d++) {
        const halide_dimension_t &dim = buffer.dim[d];
        const int64_t a = std::max<int64_t>(lo[d], dim.min), b = std::min<int64_t>(hi[d], dim.min + dim.extent - 1);
        if (b < a || dim.stride < 0) return {};
        first += (a - dim.min) * dim.stride;
        last += (b - dim.min) * dim.stride;
        volume *= b - a + 1;
    }
    const int64_t bytes = (last - first + 1) * element;
    // A hull much larger than the box (a transposed view) is not worth reading.
    if (bytes > 4 * volume * element) return {};
    return {buffer.host + first * element, bytes};
}

void fill_channels(const TensorView &out, const float *bias) {
    const int rank = (int)out.sizes.size();
    if (element_count(out.sizes) == 0) return;
    const std::vector<int64_t> strides = strides_of(out);
    std::vector<int64_t> index(rank, 0);
    float *data = static_cast<float *>(out.data);
    while (true) {
        int64_t offset = 0;
        for (int i = 0; i < rank; i++) offset += index[i] * strides[i];
        data[offset] = bias ? bias[index[1]] : 0.0f;
        int i = rank - 1;
        for (; i >= 0; i--) {
            if (++index[i] < out.sizes[i]) break;
            index[i] = 0;
        }
        if (i < 0) break;
    }
}

bool tracing_variants() {
    static const bool trace = std::getenv("HUP_TRACE_VARIANTS") != nullptr;
    return trace;
}

void note_variant_name(const std::string &name) {
    thread_local std::string last;
    if (name == last) return;
    last = name;
    std::fprintf(stderr, "hup variant: %s\n", name.c_str());
}

namespace {
// The first 64-byte boundary in a block of at least 15 floats more than it must hold.
float *first_line(float *block) {
    return reinterpret_cast<float *>((reinterpret_cast<uintptr_t>(block) + 63) & ~uintptr_t(63));
}
}  // namespace

float *aligned_floats(int64_t count, std::unique_ptr<float[]> *storage) {
    storage->reset(new float[count + 15]);
    return first_line(storage->get());
}

namespace {
struct ScratchPool {
    std::mutex mutex;
    std::vector<std::pair<std::unique_ptr<float[]>, int64_t>> free;  // storage, capacity in floats
};
ScratchPool &scratch_pool() {
    static ScratchPool pool;
    return pool;
}
}  // namespace

ScratchBuffer::ScratchBuffer(int64_t count) {
    ScratchPool &pool = scratch_pool();
    {
        std::lock_guard<std::mutex> lock(pool.mutex);
        for (auto it = pool.free.begin(); it != pool.free.end(); ++it) {
            if (it->second >= count) {
                storage_ = std::move(it->first);
                capacity_ = it->second;
                pool.free.erase(it);
                break;
            }
        }
    }
    if (!storage_) {
        capacity_ = count;
        data_ = aligned_floats(count, &storage_);
    } else {
        data_ = first_line(storage_.get());
    }
}

ScratchBuffer::~ScratchBuffer() {
    ScratchPool &pool = scratch_pool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    if (pool.free.size() < 16) pool.free.emplace_back(std::move(storage_), capacity_);  // a few tasks' worth
}

bool wide_vectors() {
    // The features of the first of HUP_CPU_TARGETS (cmake/HupKernels.cmake).
    constexpr int words = (halide_target_feature_end + 63) / 64;
    uint64_t features[words] = {};
    for (int f : {halide_target_feature_sse41, halide_target_feature_avx, halide_target_feature_avx2,
                  halide_target_feature_fma, halide_target_feature_f16c, halide_target_feature_avx512,
                  halide_target_feature_avx512_skylake}) {
        features[f / 64] |= uint64_t(1) << (f % 64);
    }
    return halide_can_use_target_features(words, features) != 0;
}

namespace {
void collect_error(void *user_context, const char *message) {
    // Every hup pipeline is called with a PipelineErrors as its user_context; anything else
    // (a user's own Halide code sharing this runtime) is dropped rather than aborting.
    if (user_context) static_cast<PipelineErrors *>(user_context)->text += message;
}
}  // namespace

void install_error_handler() {
    static std::once_flag once;
    std::call_once(once, [] { halide_set_error_handler(collect_error); });
    install_thread_pool_hook();
}

Status pipeline_status(const char *op, int result, const PipelineErrors &errors) {
    if (result == 0) return Status::Ok();
    std::string message = std::string(op) + ": Halide pipeline failed (code " + std::to_string(result) + ")";
    if (!errors.text.empty()) message += ": " + errors.text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Status(StatusCode::RuntimeError, message);
}

}  // namespace detail
}  // namespace hup

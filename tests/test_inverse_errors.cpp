// Bad input to max_pool, max_unpool, pixel_shuffle / pixel_unshuffle, unfold and fold: every
// class returns a specific Status naming the problem and writes nothing (outputs, and the
// sizes queries' results). Empty batches are fine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <immintrin.h>
#include <random>
#include <limits>
#include <string>
#include <vector>

#include "hup/hup.h"
#include "index_span.h"  // runtime/: the index check's vector kernels

using hup::DType;
using hup::FoldOptions;
using hup::MaxPoolOptions;
using hup::MaxUnpoolOptions;
using hup::StatusCode;
using hup::TensorView;
using hup::UnfoldOptions;

namespace {

constexpr float kSentinel = -12345.f;
constexpr int64_t kIndexSentinel = -777;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// A buffer and a contiguous view of it. Inputs hold `fill`; outputs are made with the default
// fill, the sentinel of their dtype, so that untouched() tells whether anything was written.
// Sizes a test fakes (huge or negative) are set on the view only: hup must refuse them before
// reading any data.
struct Buffer {
    std::vector<float> floats;
    std::vector<int64_t> ints;
    TensorView view;

    explicit Buffer(const std::vector<int64_t> &sizes, DType type = DType::Float32, double fill = kSentinel) {
        size_t n = 1;
        for (int64_t s : sizes) n *= (size_t)s;
        view.dtype = type;
        view.sizes = sizes;
        if (type == DType::Float32) {
            floats.assign(n, (float)fill);
            view.data = floats.data();
        } else {
            ints.assign(n, fill == kSentinel ? kIndexSentinel : (int64_t)fill);
            view.data = ints.data();
        }
    }
    Buffer(const Buffer &) = delete;  // the view points into the vectors

    bool untouched() const {
        for (float v : floats) {
            if (v != kSentinel) return false;
        }
        for (int64_t v : ints) {
            if (v != kIndexSentinel) return false;
        }
        return true;
    }
};

// A data input of ones, and an int64 indices input of zeros (valid everywhere).
struct Input : Buffer {
    explicit Input(const std::vector<int64_t> &sizes) : Buffer(sizes, DType::Float32, 1.0) {}
};
struct Indices : Buffer {
    explicit Indices(const std::vector<int64_t> &sizes) : Buffer(sizes, DType::Int64, 0.0) {}
};
struct Output : Buffer {
    explicit Output(const std::vector<int64_t> &sizes, DType type = DType::Float32) : Buffer(sizes, type) {}
};

// `code`, and every fragment in the message.
void expect_status(const hup::Status &s, StatusCode code, const std::vector<std::string> &fragments) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_FALSE(s.message().empty());
    for (const std::string &f : fragments) EXPECT_NE(s.message().find(f), std::string::npos) << "message: " << s.message() << ", expected \"" << f << "\"";
}

// A sizes query refuses the same way, and leaves its result alone.
template <typename Query>
void expect_query_error(Query &&query, StatusCode code, const std::vector<std::string> &fragments) {
    std::vector<int64_t> sizes = {-7};
    expect_status(query(&sizes), code, fragments);
    EXPECT_EQ(sizes, std::vector<int64_t>{-7}) << "the query wrote sizes on error";
}

// ---- max_pool -------------------------------------------------------------------------------

MaxPoolOptions pool_opts(std::vector<int64_t> kernel, std::vector<int64_t> stride = {}, std::vector<int64_t> padding = {},
                         std::vector<int64_t> dilation = {}, bool ceil_mode = false) {
    MaxPoolOptions o;
    o.kernel_size = std::move(kernel);
    o.stride = std::move(stride);
    o.padding = std::move(padding);
    o.dilation = std::move(dilation);
    o.ceil_mode = ceil_mode;
    return o;
}

// (2, 3, 5, 6), kernel 3, stride 2, padding 1 -> (2, 3, 3, 3).
const std::vector<int64_t> kPoolIn = {2, 3, 5, 6}, kPoolOut = {2, 3, 3, 3};
MaxPoolOptions valid_pool() { return pool_opts({3}, {2}, {1}); }

struct PoolProblem {
    Input in;
    Output out, indices;
    PoolProblem(const std::vector<int64_t> &in_sizes, const std::vector<int64_t> &out_sizes)
        : in(in_sizes), out(out_sizes), indices(out_sizes, DType::Int64) {}
    PoolProblem() : PoolProblem(kPoolIn, kPoolOut) {}
    hup::Status run(const MaxPoolOptions &o) const { return hup::max_pool(in.view, out.view, indices.view, o); }
    bool untouched() const { return out.untouched() && indices.untouched(); }
};

void expect_pool_error(const PoolProblem &p, const MaxPoolOptions &o, StatusCode code, const std::vector<std::string> &fragments) {
    expect_status(p.run(o), code, fragments);
    EXPECT_TRUE(p.untouched()) << "output written on error";
}

// Also refused by the sizes query (problems in the input's sizes and the options).
void expect_pool_shape_error(const PoolProblem &p, const MaxPoolOptions &o, StatusCode code, const std::vector<std::string> &fragments) {
    expect_pool_error(p, o, code, fragments);
    expect_query_error([&](std::vector<int64_t> *s) { return hup::max_pool_output_sizes(p.in.view.sizes, o, s); }, code, fragments);
}

TEST(MaxPoolErrors, ValidProblemRuns) {
    PoolProblem p;
    EXPECT_TRUE(p.run(valid_pool()).ok());
    EXPECT_FALSE(p.out.untouched());
    EXPECT_FALSE(p.indices.untouched());
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::max_pool_output_sizes(kPoolIn, valid_pool(), &sizes).ok());
    EXPECT_EQ(sizes, kPoolOut);
}

TEST(MaxPoolErrors, InputRank) {
    PoolProblem flat({2, 3}, {2, 3});
    expect_pool_shape_error(flat, pool_opts({1}), StatusCode::InvalidArgument, {"input", "dims"});
    PoolProblem six({1, 1, 2, 2, 2, 2}, {1, 1, 1, 1, 1, 1});
    expect_pool_shape_error(six, pool_opts({2}), StatusCode::InvalidArgument, {"input", "dims"});
}

TEST(MaxPoolErrors, DType) {
    PoolProblem p;
    p.in.view.dtype = DType::Int64;  // data as int64: refused (float32 kernels only)
    expect_pool_error(p, valid_pool(), StatusCode::Unsupported, {"input", "float32"});
    PoolProblem q;
    q.indices.view.dtype = DType::Float32;  // indices as float: refused
    expect_pool_error(q, valid_pool(), StatusCode::Unsupported, {"indices", "int64"});
    PoolProblem r;
    r.out.view.dtype = DType::Int64;
    expect_pool_error(r, valid_pool(), StatusCode::Unsupported, {"output", "float32"});
}

TEST(MaxPoolErrors, OutputAndIndicesShapes) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 3, 3, 4}, {1, 3, 3, 3}, {2, 3, 9}}) {
        PoolProblem p(kPoolIn, kPoolOut);
        Output bad(wrong);
        p.out.view = bad.view;
        expect_status(p.run(valid_pool()), StatusCode::ShapeMismatch, {"output", "expected [2, 3, 3, 3]"});
        EXPECT_TRUE(bad.untouched() && p.indices.untouched());
        PoolProblem q(kPoolIn, kPoolOut);
        Output bad_indices(wrong, DType::Int64);
        q.indices.view = bad_indices.view;
        expect_status(q.run(valid_pool()), StatusCode::ShapeMismatch, {"indices", "expected [2, 3, 3, 3]"});
        EXPECT_TRUE(bad_indices.untouched() && q.out.untouched());
    }
}

TEST(MaxPoolErrors, NonPositiveKernelStrideDilationNegativePadding) {
    PoolProblem p;
    expect_pool_shape_error(p, pool_opts({0}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_pool_shape_error(p, pool_opts({3, -1}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_pool_shape_error(p, pool_opts({3}, {0}), StatusCode::InvalidArgument, {"stride", "positive"});
    expect_pool_shape_error(p, pool_opts({3}, {2, -2}), StatusCode::InvalidArgument, {"stride", "positive"});
    expect_pool_shape_error(p, pool_opts({3}, {2}, {1}, {0}), StatusCode::InvalidArgument, {"dilation", "positive"});
    expect_pool_shape_error(p, pool_opts({3}, {2}, {-1}), StatusCode::InvalidArgument, {"padding", "non-negative"});
    expect_pool_shape_error(p, pool_opts({}), StatusCode::InvalidArgument, {"kernel_size"});
}

TEST(MaxPoolErrors, OptionOfWrongLength) {
    const std::pair<std::vector<int64_t> MaxPoolOptions::*, const char *> fields[] = {{&MaxPoolOptions::kernel_size, "kernel_size"},
                                                                                     {&MaxPoolOptions::stride, "stride"},
                                                                                     {&MaxPoolOptions::padding, "padding"},
                                                                                     {&MaxPoolOptions::dilation, "dilation"}};
    PoolProblem p;
    for (const auto &[field, name] : fields) {
        MaxPoolOptions o = valid_pool();
        o.*field = {1, 1, 1};
        expect_pool_shape_error(p, o, StatusCode::InvalidArgument, {name});
    }
}

// PyTorch: "pad should be at most half of kernel size" (of the kernel, not the dilated one).
TEST(MaxPoolErrors, PaddingOverHalfTheKernel) {
    PoolProblem p;
    expect_pool_shape_error(p, pool_opts({3}, {2}, {2}), StatusCode::InvalidArgument, {"padding", "half"});
    expect_pool_shape_error(p, pool_opts({2}, {2}, {2}), StatusCode::InvalidArgument, {"padding", "half"});
    expect_pool_shape_error(p, pool_opts({3, 4}, {2}, {1, 3}), StatusCode::InvalidArgument, {"padding", "half"});
    expect_pool_shape_error(p, pool_opts({3}, {2}, {2}, {3}), StatusCode::InvalidArgument, {"padding", "half"});  // dilation does not help
    // At the limit: accepted (kernel 4, padding 2; kernel 1, padding 0).
    std::vector<int64_t> sizes;
    EXPECT_TRUE(hup::max_pool_output_sizes(kPoolIn, pool_opts({4}, {2}, {2}), &sizes).ok());
    EXPECT_TRUE(hup::max_pool_output_sizes(kPoolIn, pool_opts({1}, {2}, {0}), &sizes).ok());
}

// An output size below 1: a window larger than the padded input.
TEST(MaxPoolErrors, OutputTooSmall) {
    PoolProblem p({2, 3, 2, 2}, {2, 3, 1, 1});
    expect_pool_shape_error(p, pool_opts({3}), StatusCode::InvalidArgument, {"output"});
    expect_pool_shape_error(p, pool_opts({2}, {1}, {}, {2}), StatusCode::InvalidArgument, {"output"});  // dilated window 3
    PoolProblem one({2, 3, 1}, {2, 3, 1});
    expect_pool_shape_error(one, pool_opts({2}), StatusCode::InvalidArgument, {"output"});
}

TEST(MaxPoolErrors, NullData) {
    for (int i = 0; i < 3; i++) {
        PoolProblem p;
        TensorView *views[] = {&p.in.view, &p.out.view, &p.indices.view};
        const char *names[] = {"input", "output", "indices"};
        views[i]->data = nullptr;
        expect_pool_error(p, valid_pool(), StatusCode::InvalidArgument, {names[i], "null"});
    }
}

TEST(MaxPoolErrors, SizesThatOverflowInt64) {
    PoolProblem count({1, 1, 4}, {1, 1, 2});
    count.in.view.sizes = {int64_t(1) << 40, 1, int64_t(1) << 30};
    expect_pool_shape_error(count, pool_opts({2}), StatusCode::InvalidArgument, {"overflow"});
    PoolProblem big({1, 1, 4}, {1, 1, 2});
    // A dilated window, d * (k - 1) + 1, past int64 (and every other arithmetic on it).
    expect_pool_shape_error(big, pool_opts({kInt64Max}, {1}, {}, {2}), StatusCode::InvalidArgument, {});
    expect_pool_shape_error(big, pool_opts({2}, {1}, {}, {kInt64Max}), StatusCode::InvalidArgument, {});
    expect_pool_shape_error(big, pool_opts({kInt64Max}, {1}, {kInt64Max / 2}), StatusCode::InvalidArgument, {});
}

TEST(MaxPoolErrors, StridesOfWrongLength) {
    PoolProblem p;
    p.indices.view.strides = {27, 9, 3};
    expect_pool_error(p, valid_pool(), StatusCode::InvalidArgument, {"indices", "strides"});
}

TEST(MaxPoolErrors, EmptyBatchIsOk) {
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::max_pool_output_sizes({0, 3, 5, 6}, valid_pool(), &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 3, 3, 3}));
    TensorView in{nullptr, DType::Float32, {0, 3, 5, 6}, {}}, out{nullptr, DType::Float32, sizes, {}},
        indices{nullptr, DType::Int64, sizes, {}};
    EXPECT_TRUE(hup::max_pool(in, out, indices, valid_pool()).ok());
    out.sizes = {0, 3, 3, 4};
    EXPECT_EQ(hup::max_pool(in, out, indices, valid_pool()).code(), StatusCode::ShapeMismatch);
}

TEST(MaxPoolErrors, SizesQueryNeedsAResult) {
    EXPECT_EQ(hup::max_pool_output_sizes(kPoolIn, valid_pool(), nullptr).code(), StatusCode::InvalidArgument);
}

// ---- max_unpool -----------------------------------------------------------------------------

MaxUnpoolOptions unpool_opts(std::vector<int64_t> kernel, std::vector<int64_t> stride = {}, std::vector<int64_t> padding = {},
                             std::vector<int64_t> output_size = {}) {
    MaxUnpoolOptions o;
    o.kernel_size = std::move(kernel);
    o.stride = std::move(stride);
    o.padding = std::move(padding);
    o.output_size = std::move(output_size);
    return o;
}

// (2, 3, 2, 3), kernel 2 -> (2, 3, 4, 6); the indices are all 0.
const std::vector<int64_t> kUnpoolIn = {2, 3, 2, 3}, kUnpoolOut = {2, 3, 4, 6};
MaxUnpoolOptions valid_unpool() { return unpool_opts({2}); }

struct UnpoolProblem {
    Input in;
    Indices indices;
    Output out;
    UnpoolProblem(const std::vector<int64_t> &in_sizes, const std::vector<int64_t> &out_sizes)
        : in(in_sizes), indices(in_sizes), out(out_sizes) {}
    UnpoolProblem() : UnpoolProblem(kUnpoolIn, kUnpoolOut) {}
    hup::Status run(const MaxUnpoolOptions &o) const { return hup::max_unpool(in.view, indices.view, out.view, o); }
};

void expect_unpool_error(const UnpoolProblem &p, const MaxUnpoolOptions &o, StatusCode code, const std::vector<std::string> &fragments) {
    expect_status(p.run(o), code, fragments);
    EXPECT_TRUE(p.out.untouched()) << "output written on error";
}

void expect_unpool_shape_error(const UnpoolProblem &p, const MaxUnpoolOptions &o, StatusCode code,
                               const std::vector<std::string> &fragments) {
    expect_unpool_error(p, o, code, fragments);
    expect_query_error([&](std::vector<int64_t> *s) { return hup::max_unpool_output_sizes(p.in.view.sizes, o, s); }, code, fragments);
}

TEST(MaxUnpoolErrors, ValidProblemRuns) {
    UnpoolProblem p;
    EXPECT_TRUE(p.run(valid_unpool()).ok());
    EXPECT_FALSE(p.out.untouched());
}

TEST(MaxUnpoolErrors, InputRank) {
    UnpoolProblem flat({2, 3}, {2, 3});
    expect_unpool_shape_error(flat, unpool_opts({1}), StatusCode::InvalidArgument, {"input", "dims"});
    UnpoolProblem six({1, 1, 1, 1, 1, 2}, {1, 1, 1, 1, 1, 4});
    expect_unpool_shape_error(six, unpool_opts({2}), StatusCode::InvalidArgument, {"input", "dims"});
}

TEST(MaxUnpoolErrors, DType) {
    UnpoolProblem p;
    p.indices.view.dtype = DType::Float32;  // float indices
    expect_unpool_error(p, valid_unpool(), StatusCode::Unsupported, {"indices", "int64"});
    UnpoolProblem q;
    q.in.view.dtype = DType::Int64;  // int64 data
    expect_unpool_error(q, valid_unpool(), StatusCode::Unsupported, {"input", "float32"});
    UnpoolProblem r;
    r.out.view.dtype = DType::Int64;
    expect_unpool_error(r, valid_unpool(), StatusCode::Unsupported, {"output", "float32"});
}

TEST(MaxUnpoolErrors, IndicesShapeDiffersFromInput) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 3, 3, 2}, {2, 3, 6}, {1, 3, 2, 3}, {2, 3, 2, 3, 1}}) {
        UnpoolProblem p;
        Indices bad(wrong);
        p.indices.view = bad.view;
        expect_unpool_error(p, valid_unpool(), StatusCode::ShapeMismatch, {"indices"});
    }
}

TEST(MaxUnpoolErrors, OutputShapeMismatch) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 3, 4, 5}, {2, 2, 4, 6}, {2, 3, 24}}) {
        UnpoolProblem p(kUnpoolIn, wrong);
        expect_unpool_error(p, valid_unpool(), StatusCode::ShapeMismatch, {"expected [2, 3, 4, 6]"});
    }
    // An output_size hup accepts, written into a buffer of another size.
    UnpoolProblem q(kUnpoolIn, kUnpoolOut);
    expect_unpool_error(q, unpool_opts({2}, {}, {}, {5, 7}), StatusCode::ShapeMismatch, {"expected [2, 3, 5, 7]"});
}

TEST(MaxUnpoolErrors, NonPositiveKernelStrideNegativePadding) {
    UnpoolProblem p;
    expect_unpool_shape_error(p, unpool_opts({0}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_unpool_shape_error(p, unpool_opts({2, -2}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_unpool_shape_error(p, unpool_opts({2}, {0}), StatusCode::InvalidArgument, {"stride", "positive"});
    expect_unpool_shape_error(p, unpool_opts({2}, {2}, {-1}), StatusCode::InvalidArgument, {"padding", "non-negative"});
    expect_unpool_shape_error(p, unpool_opts({}), StatusCode::InvalidArgument, {"kernel_size"});
    expect_unpool_shape_error(p, unpool_opts({2, 2, 2}), StatusCode::InvalidArgument, {"kernel_size"});
    expect_unpool_shape_error(p, unpool_opts({2}, {2, 2, 2}), StatusCode::InvalidArgument, {"stride"});
}

// The output size must lie strictly between default - stride and default + stride (default
// (in - 1) * stride - 2 * padding + kernel: 4 and 6 here, stride 2).
TEST(MaxUnpoolErrors, OutputSizeOutOfRange) {
    for (std::vector<int64_t> size : {std::vector<int64_t>{2, 6}, {4, 8}, {6, 6}, {4, 4}, {2, 3, 2, 6}, {2, 3, 4, 8}}) {
        std::vector<int64_t> out_sizes = {2, 3, size[size.size() - 2], size.back()};
        UnpoolProblem p(kUnpoolIn, out_sizes);
        expect_unpool_shape_error(p, unpool_opts({2}, {}, {}, size), StatusCode::InvalidArgument, {"output_size"});
    }
    UnpoolProblem p;
    for (std::vector<int64_t> size : {std::vector<int64_t>{4}, {3, 4, 6}, {1, 2, 3, 4, 6}}) {
        expect_unpool_shape_error(p, unpool_opts({2}, {}, {}, size), StatusCode::InvalidArgument, {"output_size"});
    }
}

// A default output size below 1: (1 - 1) * 1 - 2 * 1 + 1 = -1.
TEST(MaxUnpoolErrors, NonPositiveOutputSize) {
    UnpoolProblem p({2, 3, 1, 1}, {2, 3, 1, 1});
    expect_unpool_shape_error(p, unpool_opts({1}, {1}, {1}), StatusCode::InvalidArgument, {"output"});
}

TEST(MaxUnpoolErrors, BadIndex) {
    for (int64_t bad : {int64_t(-1), int64_t(24), (int64_t(1) << 32) + 3}) {
        UnpoolProblem p;
        p.indices.ints.back() = bad;
        expect_unpool_error(p, valid_unpool(), StatusCode::InvalidArgument, {"ind"});
    }
}

// The check behind BadIndex: each vector kernel against a plain loop, on every length up to a
// few vectors (tails) and on indices at int64's extremes (a negative one, one >= 2^31).
TEST(MaxUnpoolErrors, IndexSpanKernelsMatchAPlainLoop) {
    using Kernel = void (*)(const int64_t *, int64_t, int64_t *, int64_t *);
    std::vector<std::pair<Kernel, bool>> kernels = {
        {hup::detail::dense_index_span_avx512, __builtin_cpu_supports("avx512f") != 0},
        {hup::detail::dense_index_span_avx2, __builtin_cpu_supports("avx2") != 0}};
    std::mt19937_64 random(11);
    const int64_t extremes[] = {std::numeric_limits<int64_t>::min(), -1, int64_t(1) << 31,
                                std::numeric_limits<int64_t>::max()};
    int checked = 0;
    for (const auto &[kernel, usable] : kernels) {
        if (!usable) continue;
        for (int64_t count = 1; count <= 37; count++) {
            for (int trial = 0; trial < 8; trial++) {
                std::vector<int64_t> row(count);
                for (int64_t &v : row) v = int64_t(random() % 1000);
                if (trial > 0) row[random() % count] = extremes[trial % 4];
                int64_t lo = row[0], hi = row[0];
                kernel(row.data(), count, &lo, &hi);
                const auto [min_it, max_it] = std::minmax_element(row.begin(), row.end());
                EXPECT_EQ(lo, *min_it) << "count " << count;
                EXPECT_EQ(hi, *max_it) << "count " << count;
                checked++;
            }
        }
    }
    if (checked == 0) GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512";
}

// The gather's window check (runtime/pool.cpp): the AVX-512 row kernel against the plain loop, its
// verdict and the corners it writes (which must say where each index points), on rows of
// every length up to a few vectors, 2-D and 3-D, with each index in its window's corners and
// one moved out (to another window, the next row or slice, or far away).
TEST(MaxUnpoolErrors, WindowCheckKernelsAgree) {
    if (!__builtin_cpu_supports("avx512f")) GTEST_SKIP() << "no AVX-512: only the plain loop runs here";
    std::mt19937_64 random(12);
    const int64_t width = 80;
    for (const int64_t slice : {int64_t(0), 12 * width}) {  // 2-D; 3-D slices of 12 rows
        const int64_t base = 6 * width + (slice ? 4 * slice : 0);
        for (int64_t count = 1; count <= 37; count++) {
            for (int trial = 0; trial < 12; trial++) {
                std::vector<int64_t> row(count);
                for (int64_t x = 0; x < count; x++) {
                    row[x] = base + 2 * x + int64_t(random() % 2) + width * int64_t(random() % 2) +
                             (slice ? slice * int64_t(random() % 2) : 0);
                }
                if (trial > 0) {
                    const int64_t shifts[] = {2, -1, 2 * width, int64_t(1) << 33, 2 * slice, -slice};
                    row[random() % count] += shifts[trial % (slice ? 6 : 4)];
                }
                std::vector<uint8_t> vector_corners(count), streamed_corners(count), plain_corners(count);
                const bool inside = hup::detail::row_window_corners(row.data(), count, base, width, slice, plain_corners.data());
                EXPECT_EQ(hup::detail::row_window_corners_avx512(row.data(), count, base, width, slice, vector_corners.data()),
                          inside)
                    << "count " << count << " trial " << trial << " slice " << slice;
                // The same with non-temporal stores (large outputs' scans).
                EXPECT_EQ(hup::detail::row_window_corners_avx512(row.data(), count, base, width, slice,
                                                                 streamed_corners.data(), true),
                          inside)
                    << "count " << count << " trial " << trial << " slice " << slice << " streamed";
                _mm_sfence();
                if (inside) {
                    EXPECT_EQ(vector_corners, plain_corners) << "count " << count << " trial " << trial;
                    EXPECT_EQ(streamed_corners, plain_corners) << "count " << count << " trial " << trial << " streamed";
                    for (int64_t x = 0; x < count; x++) {  // the corner says where the index points
                        const int corner = plain_corners[x];
                        EXPECT_EQ(row[x], base + 2 * x + corner % 2 + (corner / 2 % 2) * width + (corner / 4) * slice)
                            << "x " << x << " slice " << slice;
                    }
                }
            }
        }
    }
}

TEST(MaxUnpoolErrors, NullData) {
    for (int i = 0; i < 3; i++) {
        UnpoolProblem p;
        TensorView *views[] = {&p.in.view, &p.indices.view, &p.out.view};
        const char *names[] = {"input", "indices", "output"};
        views[i]->data = nullptr;
        expect_unpool_error(p, valid_unpool(), StatusCode::InvalidArgument, {names[i], "null"});
    }
}

TEST(MaxUnpoolErrors, SizesThatOverflowInt64) {
    UnpoolProblem count({1, 1, 4}, {1, 1, 8});
    count.in.view.sizes = count.indices.view.sizes = {int64_t(1) << 40, 1, int64_t(1) << 30};
    expect_unpool_shape_error(count, unpool_opts({2}), StatusCode::InvalidArgument, {"overflow"});
    UnpoolProblem p({1, 1, 4}, {1, 1, 8});
    expect_unpool_shape_error(p, unpool_opts({2}, {kInt64Max}), StatusCode::InvalidArgument, {"overflow"});
    expect_unpool_shape_error(p, unpool_opts({kInt64Max}, {2}), StatusCode::InvalidArgument, {"overflow"});
    // Each output size fits, their product does not.
    UnpoolProblem product({1, 1, 2, 2}, {1, 1, 4, 4});
    product.in.view.sizes = product.indices.view.sizes = {1, 1, int64_t(1) << 20, int64_t(1) << 20};
    expect_unpool_shape_error(product, unpool_opts({int64_t(1) << 20}), StatusCode::InvalidArgument, {"overflow"});
}

TEST(MaxUnpoolErrors, EmptyBatchIsOk) {
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::max_unpool_output_sizes({0, 3, 2, 3}, valid_unpool(), &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 3, 4, 6}));
    TensorView in{nullptr, DType::Float32, {0, 3, 2, 3}, {}}, indices{nullptr, DType::Int64, {0, 3, 2, 3}, {}},
        out{nullptr, DType::Float32, sizes, {}};
    EXPECT_TRUE(hup::max_unpool(in, indices, out, valid_unpool()).ok());
}

TEST(MaxUnpoolErrors, SizesQueryNeedsAResult) {
    EXPECT_EQ(hup::max_unpool_output_sizes(kUnpoolIn, valid_unpool(), nullptr).code(), StatusCode::InvalidArgument);
}

// ---- pixel_shuffle / pixel_unshuffle ------------------------------------------------------------

struct ShuffleProblem {
    Input in;
    Output out;
    ShuffleProblem(const std::vector<int64_t> &in_sizes, const std::vector<int64_t> &out_sizes) : in(in_sizes), out(out_sizes) {}
    hup::Status shuffle(int64_t r) const { return hup::pixel_shuffle(in.view, out.view, r); }
    hup::Status unshuffle(int64_t r) const { return hup::pixel_unshuffle(in.view, out.view, r); }
};

void expect_shuffle_error(const ShuffleProblem &p, bool up, int64_t r, StatusCode code, const std::vector<std::string> &fragments) {
    expect_status(up ? p.shuffle(r) : p.unshuffle(r), code, fragments);
    EXPECT_TRUE(p.out.untouched()) << "output written on error";
    expect_query_error(
        [&](std::vector<int64_t> *s) {
            return up ? hup::pixel_shuffle_output_sizes(p.in.view.sizes, r, s) : hup::pixel_unshuffle_output_sizes(p.in.view.sizes, r, s);
        },
        code, fragments);
}

TEST(PixelShuffleErrors, ValidProblemsRun) {
    ShuffleProblem up({2, 8, 3, 3}, {2, 2, 6, 6});
    EXPECT_TRUE(up.shuffle(2).ok());
    EXPECT_FALSE(up.out.untouched());
    ShuffleProblem down({2, 2, 6, 6}, {2, 8, 3, 3});
    EXPECT_TRUE(down.unshuffle(2).ok());
    EXPECT_FALSE(down.out.untouched());
}

TEST(PixelShuffleErrors, InputRank) {
    ShuffleProblem p({4, 4}, {8, 8});
    expect_shuffle_error(p, true, 2, StatusCode::InvalidArgument, {"dims"});
    expect_shuffle_error(p, false, 2, StatusCode::InvalidArgument, {"dims"});
}

TEST(PixelShuffleErrors, DType) {
    ShuffleProblem p({2, 8, 3, 3}, {2, 2, 6, 6});
    p.in.view.dtype = DType::Int64;
    expect_status(p.shuffle(2), StatusCode::Unsupported, {"float32"});
    EXPECT_TRUE(p.out.untouched());
    ShuffleProblem q({2, 2, 6, 6}, {2, 8, 3, 3});
    q.out.view.dtype = DType::Int64;
    expect_status(q.unshuffle(2), StatusCode::Unsupported, {"float32"});
    EXPECT_TRUE(q.out.untouched());
}

TEST(PixelShuffleErrors, NonPositiveFactor) {
    ShuffleProblem p({2, 8, 4, 4}, {2, 8, 4, 4});
    for (int64_t r : {0, -1, -2}) {
        expect_shuffle_error(p, true, r, StatusCode::InvalidArgument, {"positive"});
        expect_shuffle_error(p, false, r, StatusCode::InvalidArgument, {"positive"});
    }
}

TEST(PixelShuffleErrors, ChannelsNotDivisibleBySquare) {
    ShuffleProblem p({2, 6, 3, 3}, {2, 1, 6, 6});
    expect_shuffle_error(p, true, 2, StatusCode::InvalidArgument, {"divisible"});
    ShuffleProblem q({2, 2, 3, 3}, {2, 1, 6, 6});  // C < r * r
    expect_shuffle_error(q, true, 2, StatusCode::InvalidArgument, {"divisible"});
}

TEST(PixelShuffleErrors, UnshuffleSizesNotDivisible) {
    ShuffleProblem h({2, 1, 3, 4}, {2, 4, 1, 2});
    expect_shuffle_error(h, false, 2, StatusCode::InvalidArgument, {"divisible"});
    ShuffleProblem w({2, 1, 4, 3}, {2, 4, 2, 1});
    expect_shuffle_error(w, false, 2, StatusCode::InvalidArgument, {"divisible"});
}

TEST(PixelShuffleErrors, OutputShapeMismatch) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 2, 6, 5}, {2, 8, 3, 3}, {2, 2, 36}, {1, 2, 2, 6, 6}}) {
        ShuffleProblem p({2, 8, 3, 3}, wrong);
        expect_status(p.shuffle(2), StatusCode::ShapeMismatch, {"expected [2, 2, 6, 6]"});
        EXPECT_TRUE(p.out.untouched());
    }
    ShuffleProblem q({2, 2, 6, 6}, {2, 2, 6, 6});
    expect_status(q.unshuffle(2), StatusCode::ShapeMismatch, {"expected [2, 8, 3, 3]"});
    EXPECT_TRUE(q.out.untouched());
}

TEST(PixelShuffleErrors, NullData) {
    ShuffleProblem p({2, 8, 3, 3}, {2, 2, 6, 6});
    p.in.view.data = nullptr;
    expect_status(p.shuffle(2), StatusCode::InvalidArgument, {"input", "null"});
    EXPECT_TRUE(p.out.untouched());
    ShuffleProblem q({2, 8, 3, 3}, {2, 2, 6, 6});
    q.out.view.data = nullptr;
    expect_status(q.shuffle(2), StatusCode::InvalidArgument, {"output", "null"});
    ShuffleProblem u({2, 2, 6, 6}, {2, 8, 3, 3});
    u.out.view.data = nullptr;
    expect_status(u.unshuffle(2), StatusCode::InvalidArgument, {"output", "null"});
}

TEST(PixelShuffleErrors, SizesThatOverflowInt64) {
    ShuffleProblem p({1, 4, 1, 1}, {1, 1, 2, 2});
    p.in.view.sizes = {int64_t(1) << 40, 4, int64_t(1) << 30, 1};
    expect_shuffle_error(p, true, 2, StatusCode::InvalidArgument, {"overflow"});
    // r * r past int64.
    ShuffleProblem q({1, 4, 1, 1}, {1, 1, 2, 2});
    expect_shuffle_error(q, true, int64_t(3037000500), StatusCode::InvalidArgument, {});
    expect_shuffle_error(q, false, int64_t(3037000500), StatusCode::InvalidArgument, {});
}

TEST(PixelShuffleErrors, EmptyBatchIsOk) {
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::pixel_shuffle_output_sizes({0, 8, 3, 3}, 2, &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 2, 6, 6}));
    TensorView in{nullptr, DType::Float32, {0, 8, 3, 3}, {}}, out{nullptr, DType::Float32, sizes, {}};
    EXPECT_TRUE(hup::pixel_shuffle(in, out, 2).ok());
    EXPECT_TRUE(hup::pixel_unshuffle(out, in, 2).ok());
}

TEST(PixelShuffleErrors, SizesQueryNeedsAResult) {
    EXPECT_EQ(hup::pixel_shuffle_output_sizes({2, 8, 3, 3}, 2, nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(hup::pixel_unshuffle_output_sizes({2, 2, 6, 6}, 2, nullptr).code(), StatusCode::InvalidArgument);
}

// ---- unfold / fold --------------------------------------------------------------------------------

UnfoldOptions unfold_opts(std::vector<int64_t> kernel, std::vector<int64_t> dilation = {}, std::vector<int64_t> padding = {},
                          std::vector<int64_t> stride = {}) {
    UnfoldOptions o;
    o.kernel_size = std::move(kernel);
    o.dilation = std::move(dilation);
    o.padding = std::move(padding);
    o.stride = std::move(stride);
    return o;
}

FoldOptions fold_opts(std::vector<int64_t> output_size, std::vector<int64_t> kernel, std::vector<int64_t> dilation = {},
                      std::vector<int64_t> padding = {}, std::vector<int64_t> stride = {}) {
    FoldOptions o;
    o.output_size = std::move(output_size);
    o.kernel_size = std::move(kernel);
    o.dilation = std::move(dilation);
    o.padding = std::move(padding);
    o.stride = std::move(stride);
    return o;
}

// (2, 3, 5, 6), kernel (2, 3) <-> (2, 18, 4 * 4).
const std::vector<int64_t> kImage = {2, 3, 5, 6}, kCols = {2, 18, 16};
UnfoldOptions valid_unfold() { return unfold_opts({2, 3}); }
FoldOptions valid_fold() { return fold_opts({5, 6}, {2, 3}); }

struct FoldProblem {
    Input in;
    Output out;
    FoldProblem(const std::vector<int64_t> &in_sizes, const std::vector<int64_t> &out_sizes) : in(in_sizes), out(out_sizes) {}
    hup::Status unfold(const UnfoldOptions &o) const { return hup::unfold(in.view, out.view, o); }
    hup::Status fold(const FoldOptions &o) const { return hup::fold(in.view, out.view, o); }
};

void expect_unfold_error(const FoldProblem &p, const UnfoldOptions &o, StatusCode code, const std::vector<std::string> &fragments,
                         bool query = true) {
    expect_status(p.unfold(o), code, fragments);
    EXPECT_TRUE(p.out.untouched()) << "output written on error";
    if (query) {
        expect_query_error([&](std::vector<int64_t> *s) { return hup::unfold_output_sizes(p.in.view.sizes, o, s); }, code, fragments);
    }
}

void expect_fold_error(const FoldProblem &p, const FoldOptions &o, StatusCode code, const std::vector<std::string> &fragments,
                       bool query = true) {
    expect_status(p.fold(o), code, fragments);
    EXPECT_TRUE(p.out.untouched()) << "output written on error";
    if (query) {
        expect_query_error([&](std::vector<int64_t> *s) { return hup::fold_output_sizes(p.in.view.sizes, o, s); }, code, fragments);
    }
}

TEST(UnfoldFoldErrors, ValidProblemsRun) {
    FoldProblem u(kImage, kCols);
    EXPECT_TRUE(u.unfold(valid_unfold()).ok());
    EXPECT_FALSE(u.out.untouched());
    FoldProblem f(kCols, kImage);
    EXPECT_TRUE(f.fold(valid_fold()).ok());
    EXPECT_FALSE(f.out.untouched());
    // Unbatched.
    FoldProblem ub({3, 5, 6}, {18, 16});
    EXPECT_TRUE(ub.unfold(valid_unfold()).ok());
    FoldProblem fb({18, 16}, {3, 5, 6});
    EXPECT_TRUE(fb.fold(valid_fold()).ok());
}

TEST(UnfoldFoldErrors, InputRank) {
    FoldProblem flat({5, 6}, {6, 16});
    expect_unfold_error(flat, valid_unfold(), StatusCode::InvalidArgument, {"dims"});
    FoldProblem five({1, 2, 3, 5, 6}, {1, 36, 16});
    expect_unfold_error(five, valid_unfold(), StatusCode::InvalidArgument, {"dims"});
    FoldProblem line({288}, kImage);
    expect_fold_error(line, valid_fold(), StatusCode::InvalidArgument, {"dims"});
    FoldProblem four({1, 2, 18, 16}, kImage);
    expect_fold_error(four, valid_fold(), StatusCode::InvalidArgument, {"dims"});
}

TEST(UnfoldFoldErrors, DType) {
    FoldProblem u(kImage, kCols);
    u.in.view.dtype = DType::Int64;
    expect_unfold_error(u, valid_unfold(), StatusCode::Unsupported, {"float32"}, false);
    FoldProblem f(kCols, kImage);
    f.out.view.dtype = DType::Int64;
    expect_fold_error(f, valid_fold(), StatusCode::Unsupported, {"float32"}, false);
}

TEST(UnfoldFoldErrors, NonPositiveOptionsNegativePadding) {
    FoldProblem u(kImage, kCols);
    FoldProblem f(kCols, kImage);
    expect_unfold_error(u, unfold_opts({0, 3}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_unfold_error(u, unfold_opts({2, 3}, {0}), StatusCode::InvalidArgument, {"dilation", "positive"});
    expect_unfold_error(u, unfold_opts({2, 3}, {}, {-1}), StatusCode::InvalidArgument, {"padding", "non-negative"});
    expect_unfold_error(u, unfold_opts({2, 3}, {}, {}, {1, 0}), StatusCode::InvalidArgument, {"stride", "positive"});
    expect_unfold_error(u, unfold_opts({}), StatusCode::InvalidArgument, {"kernel_size"});
    expect_fold_error(f, fold_opts({5, 6}, {2, -3}), StatusCode::InvalidArgument, {"kernel_size", "positive"});
    expect_fold_error(f, fold_opts({5, 6}, {2, 3}, {-1}), StatusCode::InvalidArgument, {"dilation", "positive"});
    expect_fold_error(f, fold_opts({5, 6}, {2, 3}, {}, {0, -2}), StatusCode::InvalidArgument, {"padding", "non-negative"});
    expect_fold_error(f, fold_opts({5, 6}, {2, 3}, {}, {}, {0}), StatusCode::InvalidArgument, {"stride", "positive"});
    expect_fold_error(f, fold_opts({5, 6}, {}), StatusCode::InvalidArgument, {"kernel_size"});
}

TEST(UnfoldFoldErrors, OptionOfWrongLength) {
    FoldProblem u(kImage, kCols);
    FoldProblem f(kCols, kImage);
    expect_unfold_error(u, unfold_opts({2, 3, 1}), StatusCode::InvalidArgument, {"kernel_size"});
    expect_unfold_error(u, unfold_opts({2, 3}, {1, 1, 1}), StatusCode::InvalidArgument, {"dilation"});
    expect_unfold_error(u, unfold_opts({2, 3}, {}, {0, 0, 0}), StatusCode::InvalidArgument, {"padding"});
    expect_unfold_error(u, unfold_opts({2, 3}, {}, {}, {1, 1, 1}), StatusCode::InvalidArgument, {"stride"});
    expect_fold_error(f, fold_opts({5, 6}, {2, 3, 1}), StatusCode::InvalidArgument, {"kernel_size"});
    // output_size is required, with two values (one value means both, as in PyTorch).
    expect_fold_error(f, fold_opts({}, {2, 3}), StatusCode::InvalidArgument, {"output_size"});
    expect_fold_error(f, fold_opts({2, 5, 6}, {2, 3}), StatusCode::InvalidArgument, {"output_size"});
}

TEST(UnfoldFoldErrors, NoBlockFits) {
    FoldProblem u({2, 3, 2, 2}, {2, 27, 1});
    expect_unfold_error(u, unfold_opts({3}), StatusCode::InvalidArgument, {});
    expect_unfold_error(u, unfold_opts({2}, {2}), StatusCode::InvalidArgument, {});  // dilated block of 3
    FoldProblem f({2, 27, 1}, {2, 3, 2, 2});
    expect_fold_error(f, fold_opts({2, 2}, {3}), StatusCode::InvalidArgument, {});
}

TEST(UnfoldFoldErrors, FoldChannelsNotDivisibleByKernel) {
    FoldProblem f({2, 17, 16}, kImage);
    expect_fold_error(f, valid_fold(), StatusCode::InvalidArgument, {"divisible"});
}

TEST(UnfoldFoldErrors, FoldBlockCountMismatch) {
    for (int64_t l : {15, 17, 1}) {
        FoldProblem f({2, 18, l}, kImage);
        expect_fold_error(f, valid_fold(), StatusCode::InvalidArgument, {"16"});
    }
}

TEST(UnfoldFoldErrors, OutputShapeMismatch) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 18, 15}, {2, 17, 16}, {18, 16}}) {
        FoldProblem u(kImage, wrong);
        expect_unfold_error(u, valid_unfold(), StatusCode::ShapeMismatch, {"expected [2, 18, 16]"}, false);
    }
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 3, 5, 5}, {2, 2, 5, 6}, {3, 5, 6}}) {
        FoldProblem f(kCols, wrong);
        expect_fold_error(f, valid_fold(), StatusCode::ShapeMismatch, {"expected [2, 3, 5, 6]"}, false);
    }
}

TEST(UnfoldFoldErrors, NullData) {
    FoldProblem u(kImage, kCols);
    u.in.view.data = nullptr;
    expect_unfold_error(u, valid_unfold(), StatusCode::InvalidArgument, {"input", "null"}, false);
    FoldProblem v(kImage, kCols);
    v.out.view.data = nullptr;
    expect_status(v.unfold(valid_unfold()), StatusCode::InvalidArgument, {"output", "null"});
    FoldProblem f(kCols, kImage);
    f.in.view.data = nullptr;
    expect_fold_error(f, valid_fold(), StatusCode::InvalidArgument, {"input", "null"}, false);
    FoldProblem g(kCols, kImage);
    g.out.view.data = nullptr;
    expect_status(g.fold(valid_fold()), StatusCode::InvalidArgument, {"output", "null"});
}

TEST(UnfoldFoldErrors, SizesThatOverflowInt64) {
    FoldProblem count(kImage, kCols);
    count.in.view.sizes = {int64_t(1) << 40, 3, int64_t(1) << 30, 6};
    expect_unfold_error(count, valid_unfold(), StatusCode::InvalidArgument, {"overflow"});
    // C * kh * kw past int64, the input itself fitting.
    FoldProblem channels(kImage, kCols);
    channels.in.view.sizes = {1, int64_t(1) << 61, 1, 1};
    expect_unfold_error(channels, unfold_opts({2}, {}, {1}), StatusCode::InvalidArgument, {"overflow"});
    // Padding past int64.
    FoldProblem pad(kImage, kCols);
    expect_unfold_error(pad, unfold_opts({2}, {}, {kInt64Max / 2}), StatusCode::InvalidArgument, {"overflow"});
    expect_unfold_error(pad, unfold_opts({2}, {kInt64Max}), StatusCode::InvalidArgument, {});
    // fold: the output's element count past int64.
    // (one block per dim thanks to the stride: the input is 1 element)
    FoldProblem f({1, 1, 1}, {1, 1, 1, 1});
    expect_fold_error(f, fold_opts({int64_t(1) << 40, int64_t(1) << 40}, {1}, {}, {}, {int64_t(1) << 40}), StatusCode::InvalidArgument,
                      {"overflow"});
    FoldProblem g({1, 1, 1}, {1, 1, 1, 1});
    g.in.view.sizes = {int64_t(1) << 20, int64_t(1) << 20, 1};
    expect_fold_error(g, fold_opts({int64_t(1) << 30, 1}, {1, 1}, {}, {0}, {int64_t(1) << 30}), StatusCode::InvalidArgument,
                      {"overflow"});
}

TEST(UnfoldFoldErrors, EmptyBatchIsOk) {
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::unfold_output_sizes({0, 3, 5, 6}, valid_unfold(), &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 18, 16}));
    TensorView image{nullptr, DType::Float32, {0, 3, 5, 6}, {}}, cols{nullptr, DType::Float32, sizes, {}};
    EXPECT_TRUE(hup::unfold(image, cols, valid_unfold()).ok());
    ASSERT_TRUE(hup::fold_output_sizes({0, 18, 16}, valid_fold(), &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 3, 5, 6}));
    EXPECT_TRUE(hup::fold(cols, image, valid_fold()).ok());
}

TEST(UnfoldFoldErrors, SizesQueryNeedsAResult) {
    EXPECT_EQ(hup::unfold_output_sizes(kImage, valid_unfold(), nullptr).code(), StatusCode::InvalidArgument);
    EXPECT_EQ(hup::fold_output_sizes(kCols, valid_fold(), nullptr).code(), StatusCode::InvalidArgument);
}

}  // namespace

// Attention of one new query per row over a KV cache, in float32: out[B, N, D] from q[B, N, D]
// (already scaled by 1/sqrt(D)), keys [B, K, D, S], values [B, K, S, D] and valid[B, S].
//
// XLA:CPU runs the decode step's attention as single-threaded multiply-reduces; here each
// (row, kv head) pair is one task on XLA's intra-op pool: scores for its G = N / K query heads with
// slots in registers, a softmax with a vectorised exp, then the value sum with dims in registers.
// Vectors are 16 floats (one AVX-512 register, two AVX2 ones), so S must be a multiple of 16 and
// D of 32; the Python side falls back to XLA otherwise.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel_for.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kLanes = 16;
typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));

inline VecF Load(const float* p) {
  VecF x;
  __builtin_memcpy(&x, p, sizeof(x));
  return x;
}
inline void Store(float* p, VecF x) { __builtin_memcpy(p, &x, sizeof(x)); }

// exp(x) = 2^n * p(r), x = n ln2 + r with |r| <= ln2 / 2 (Cephes' expf polynomial, ~1 ulp).
// Exactly 0 below the float range, so masked (-inf) scores get no weight.
inline VecF Exp(VecF x) {
  const auto underflow = x < -87.33654f;
  x = underflow ? VecF{} - 87.33654f : x;
  x = x > 88.72283f ? VecF{} + 88.72283f : x;
  VecF n = x * 1.44269504088896341f + 0.5f;
  VecI ni = __builtin_convertvector(n, VecI);
  ni -= __builtin_convertvector(ni, VecF) > n ? 1 : 0;  // floor
  n = __builtin_convertvector(ni, VecF);
  const VecF r = x - n * 0.693359375f + n * 2.12194440e-4f;
  VecF p = VecF{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const VecI bits = (ni + 127) << 23;
  VecF scale;
  __builtin_memcpy(&scale, &bits, sizeof(scale));
  return underflow ? VecF{} : p * scale;
}

// sc[G, S] = q[G, D] @ k[D, S]: 48 slots of every head in registers while D streams.
template <int G>
void Scores(const float* q, const float* k, int64_t d, int64_t s, float* sc) {
  for (int64_t j0 = 0; j0 < s; j0 += 3 * kLanes) {
    const int nv = static_cast<int>(std::min<int64_t>(3, (s - j0) / kLanes));
    VecF acc[G][3];
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < 3; ++v) acc[g][v] = VecF{};
    if (nv == 3) {
      for (int64_t i = 0; i < d; ++i) {
        const float* ki = k + i * s + j0;
        const VecF w0 = Load(ki), w1 = Load(ki + kLanes), w2 = Load(ki + 2 * kLanes);
        for (int g = 0; g < G; ++g) {
          const float qg = q[g * d + i];
          acc[g][0] += qg * w0;
          acc[g][1] += qg * w1;
          acc[g][2] += qg * w2;
        }
      }
    } else {
      for (int64_t i = 0; i < d; ++i)
        for (int v = 0; v < nv; ++v) {
          const VecF w = Load(k + i * s + j0 + v * kLanes);
          for (int g = 0; g < G; ++g) acc[g][v] += q[g * d + i] * w;
        }
    }
    for (int g = 0; g < G; ++g)
      for (int v = 0; v < nv; ++v) Store(sc + g * s + j0 + v * kLanes, acc[g][v]);
  }
}

// Each row of sc[G, S] becomes its softmax over the valid slots (invalid ones exactly 0).
void Softmax(float* sc, const bool* valid, int g_count, int64_t s) {
  for (int g = 0; g < g_count; ++g) {
    float* row = sc + g * s;
    float mx = -INFINITY;
    for (int64_t j = 0; j < s; ++j) {
      row[j] = valid[j] ? row[j] : -INFINITY;
      mx = std::max(mx, row[j]);
    }
    VecF acc{};
    for (int64_t j = 0; j < s; j += kLanes) {
      const VecF e = Exp(Load(row + j) - mx);
      Store(row + j, e);
      acc += e;
    }
    float sum = 0.f;
    for (int l = 0; l < kLanes; ++l) sum += acc[l];
    const float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (int64_t j = 0; j < s; ++j) row[j] *= inv;
  }
}

// out[G, D] = p[G, S] @ v[S, D]: 32 dims of every head in registers while S streams.
template <int G>
void Values(const float* p, const float* v, int64_t s, int64_t d, float* out) {
  for (int64_t i0 = 0; i0 < d; i0 += 2 * kLanes) {
    VecF acc[G][2];
    for (int g = 0; g < G; ++g) acc[g][0] = acc[g][1] = VecF{};
    for (int64_t j = 0; j < s; ++j) {
      const VecF w0 = Load(v + j * d + i0), w1 = Load(v + j * d + i0 + kLanes);
      for (int g = 0; g < G; ++g) {
        const float pg = p[g * s + j];
        acc[g][0] += pg * w0;
        acc[g][1] += pg * w1;
      }
    }
    for (int g = 0; g < G; ++g) {
      Store(out + g * d + i0, acc[g][0]);
      Store(out + g * d + i0 + kLanes, acc[g][1]);
    }
  }
}

template <int G>
void Group(const float* q, const float* k, const float* v, const bool* valid, float* out, int64_t d, int64_t s,
           float* scores) {
  Scores<G>(q, k, d, s, scores);
  Softmax(scores, valid, G, s);
  Values<G>(scores, v, s, d, out);
}

// The query heads of one kv head, in groups of at most 8 (the register budget).
void KvHead(int64_t heads, const float* q, const float* k, const float* v, const bool* valid, float* out,
            int64_t d, int64_t s, float* scores) {
  for (int64_t g0 = 0; g0 < heads; g0 += 8) {
    const float* qg = q + g0 * d;
    float* og = out + g0 * d;
    switch (std::min<int64_t>(8, heads - g0)) {
      case 1: Group<1>(qg, k, v, valid, og, d, s, scores); break;
      case 2: Group<2>(qg, k, v, valid, og, d, s, scores); break;
      case 3: Group<3>(qg, k, v, valid, og, d, s, scores); break;
      case 4: Group<4>(qg, k, v, valid, og, d, s, scores); break;
      case 5: Group<5>(qg, k, v, valid, og, d, s, scores); break;
      case 6: Group<6>(qg, k, v, valid, og, d, s, scores); break;
      case 7: Group<7>(qg, k, v, valid, og, d, s, scores); break;
      default: Group<8>(qg, k, v, valid, og, d, s, scores); break;
    }
  }
}

ffi::Error DecodeAttention(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> q, ffi::Buffer<ffi::F32> k,
                           ffi::Buffer<ffi::F32> v, ffi::Buffer<ffi::PRED> valid,
                           ffi::ResultBuffer<ffi::F32> out) {
  const auto qd = q.dimensions(), kd = k.dimensions(), vd = v.dimensions(), md = valid.dimensions();
  if (qd.size() != 3 || kd.size() != 4 || vd.size() != 4 || md.size() != 2)
    return ffi::Error::InvalidArgument("decode_attention: expected q [B,N,D], k [B,K,D,S], v [B,K,S,D], valid [B,S]");
  const int64_t b = kd[0], kv = kd[1], d = kd[2], s = kd[3];
  if (qd[0] != b || qd[2] != d || qd[1] % kv || vd[0] != b || vd[1] != kv || vd[2] != s || vd[3] != d ||
      md[0] != b || md[1] != s)
    return ffi::Error::InvalidArgument("decode_attention: q, k, v and valid disagree on B, K, S or D");
  if (s % kLanes || d % (2 * kLanes))
    return ffi::Error::InvalidArgument("decode_attention: needs S % 16 == 0 and D % 32 == 0");
  const int64_t heads = qd[1] / kv;
  const float *qp = q.typed_data(), *kp = k.typed_data(), *vp = v.typed_data();
  const bool* mp = valid.typed_data();
  float* op = out->typed_data();
  acecoder::ParallelFor(pool, b * kv, [=](int64_t t) {  // t = row * kv + kv head
    thread_local std::vector<float> scores;
    scores.resize(std::max<size_t>(scores.size(), 8 * s));
    KvHead(heads, qp + t * heads * d, kp + t * d * s, vp + t * s * d, mp + (t / kv) * s, op + t * heads * d, d, s,
           scores.data());
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcecoderDecodeAttentionF32, DecodeAttention,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::PRED>>()
                                  .Ret<ffi::Buffer<ffi::F32>>());

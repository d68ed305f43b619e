using System.Runtime.InteropServices;
using QuantPS.Kernels;

namespace QuantPS.Inference.Engine;

/// <summary>
/// Causal multi-head attention over the <see cref="KvCache"/>, with the arithmetic of ggml's CPU kernels so logits
/// follow llama.cpp's closely:
/// <list type="bullet">
/// <item>flash attention, "vector" path (ggml's one_chunk: decode, short batches, head sizes that are not a multiple of
/// 16): Q converted to K's dot type, online softmax one key at a time, and with an F16 cache the V sum kept in F16
/// (rounded after every step, as ggml_vec_mad_f16 does);</item>
/// <item>flash attention, "tiled" path (batches of 64+ tokens with an F16/F32 cache and head size a multiple of 16):
/// Q in F32, K and V widened to F32, keys in tiles of 64, Q·K and the V sum as in-order FMA chains;</item>
/// <item>no flash attention (llama.cpp -fa off): scores, a softmax over the whole row, then the V-weighted sum.</item>
/// </list>
/// The choice between the two flash paths mirrors the reference build (AVX-512: 16 floats per vector).
/// One thread: attention is a small share of the work beside the matmuls.
/// </summary>
internal sealed unsafe class Attention : IDisposable
{
    private const int TileKeys = 64;      // ggml's GGML_FA_TILE_KV
    private const int TiledMinQueries = 64; // ggml's GGML_FA_TILE_Q: fewer queries take the vector path
    private const int TiledHeadMultiple = 16; // GGML_F32_EPR of the reference build (AVX-512)

    private readonly ModelConfig _config;
    private readonly KvCache _cache;
    private readonly bool _flash;
    private readonly GgmlTypeInfo _keyDotType;
    private readonly QuantizeRowKernel? _toKeyDotType;
    private readonly DotKernel _keyDot;
    private readonly DequantizeRowKernel _valueToF32;
    private readonly QuantizeRowKernel _f32ToF16;
    private readonly DequantizeRowKernel _f16ToF32;
    private byte* _memory;
    private readonly byte* _queryConverted;
    private readonly float* _accumulator;
    private readonly float* _values;
    private readonly float* _scores;
    private readonly byte* _accumulator16;
    private readonly float* _queryRounded;
    private readonly float* _keyRow;

    public Attention(ModelConfig config, KvCache cache, bool flashAttention)
    {
        _config = config;
        _cache = cache;
        _flash = flashAttention;
        var kv = cache.TypeInfo;
        _keyDotType = GgmlTypeTraits.Get(kv.ActivationType);
        _toKeyDotType = _keyDotType.Type == GgmlType.F32 ? null : _keyDotType.QuantizeActivation;
        _keyDot = kv.Dot ?? throw new LlmException(LlmErrorKind.InvalidOption, $"A {kv.Name} KV cache has no dot kernel.", "KvCacheType");
        _valueToF32 = kv.Dequantize ?? throw new LlmException(LlmErrorKind.InvalidOption, $"A {kv.Name} KV cache has no dequantizer.", "KvCacheType");
        var f16 = GgmlTypeTraits.Get(GgmlType.F16);
        _f32ToF16 = f16.QuantizeActivation!;
        _f16ToF32 = f16.Dequantize!;
        if (!_flash && cache.Type == KvCacheType.Q8_0)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, "A Q8_0 KV cache needs flash attention (as in llama.cpp).", "FlashAttention");
        }

        var hd = config.HeadDimension;
        long queryBytes = _keyDotType.RowSizeBytes(hd) + 64;
        long floats = 4L * hd + cache.ContextLength + TileKeys;
        var total = queryBytes + floats * sizeof(float) + 2L * hd + 64;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)total, 64);
        _queryConverted = _memory;
        _accumulator = (float*)(_memory + queryBytes);
        _values = _accumulator + hd;
        _scores = _values + hd;
        _queryRounded = _scores + cache.ContextLength + TileKeys;
        _keyRow = _queryRounded + hd;
        _accumulator16 = (byte*)(_keyRow + hd);
    }

    /// <summary>
    /// For each of <paramref name="count"/> queries (rows of <paramref name="queries"/>, positions
    /// <paramref name="firstPosition"/> on) and each head, attends over cache positions 0..its own and writes the result
    /// rows to <paramref name="output"/>. The cache must already hold this batch's keys and values.
    /// </summary>
    public void Run(int layer, float* queries, int count, int firstPosition, float* output)
    {
        var hd = _config.HeadDimension;
        var width = _config.QueryWidth;
        var group = _config.HeadCount / _config.KvHeadCount;
        var tiled = _flash && count >= TiledMinQueries && hd % TiledHeadMultiple == 0 && _cache.Type != KvCacheType.Q8_0;
        for (var t = 0; t < count; t++)
        {
            var position = firstPosition + t;
            for (var h = 0; h < _config.HeadCount; h++)
            {
                var q = queries + (long)t * width + (long)h * hd;
                var o = output + (long)t * width + (long)h * hd;
                var kvHead = h / group;
                if (!_flash)
                {
                    Softmax(layer, kvHead, q, position, o);
                }
                else if (tiled)
                {
                    Tiled(layer, kvHead, q, position, o);
                }
                else if (_cache.Type == KvCacheType.F16)
                {
                    VectorF16(layer, kvHead, q, position, o);
                }
                else
                {
                    VectorF32(layer, kvHead, q, position, o);
                }
            }
        }
    }

    private byte* ConvertQuery(float* q)
    {
        if (_toKeyDotType is null)
        {
            return (byte*)q;
        }

        _toKeyDotType(q, _queryConverted, _config.HeadDimension);
        if (_cache.Type == KvCacheType.F16)
        {
            _f16ToF32(_queryConverted, _queryRounded, _config.HeadDimension);
        }

        return _queryConverted;
    }

    // Q·K of one cached key. For F16/F32 caches this is ggml_vec_dot_f16/f32's scalar path (which is what runs for
    // heads under 128 / 64 values on the reference build): each product in float, the sum in double. Q8_0 uses the kernel.
    private float KeyDot(byte* key, byte* convertedQuery, float* query)
    {
        var hd = _config.HeadDimension;
        switch (_cache.Type)
        {
            case KvCacheType.F16:
            {
                var k = _keyRow;
                _f16ToF32(key, k, hd);
                var q = _queryRounded;
                double sum = 0;
                for (var i = 0; i < hd; i++)
                {
                    sum += k[i] * q[i];
                }

                return (float)sum;
            }

            case KvCacheType.F32:
            {
                var k = (float*)key;
                double sum = 0;
                for (var i = 0; i < hd; i++)
                {
                    sum += k[i] * query[i];
                }

                return (float)sum;
            }

            default:
                return _keyDot(hd, key, convertedQuery);
        }
    }

    // ggml one_chunk with an F16 cache: the V sum lives in F16 and is rounded after each scale and each multiply-add.
    private void VectorF16(int layer, int kvHead, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var scale = _config.AttentionScale;
        var qc = ConvertQuery(q);
        var acc = _accumulator;
        var v = _values;
        new Span<float>(acc, hd).Clear();
        var headOffset = kvHead * _cache.HeadBytes;
        float s = 0f, m = float.NegativeInfinity;
        for (var j = 0; j <= position; j++)
        {
            var score = KeyDot(_cache.Key(layer, j) + headOffset, qc, q) * scale;
            var ms = 1f;
            var vs = 1f;
            if (score > m)
            {
                var old = m;
                m = score;
                ms = MathF.Exp(old - m);
                for (var d = 0; d < hd; d++)
                {
                    acc[d] *= ms;
                }

                RoundToF16(acc, hd);
            }
            else
            {
                vs = MathF.Exp(score - m);
            }

            _f16ToF32(_cache.Value(layer, j) + headOffset, v, hd);
            for (var d = 0; d < hd; d++)
            {
                acc[d] = MathF.FusedMultiplyAdd(v[d], vs, acc[d]);
            }

            RoundToF16(acc, hd);
            s = s * ms + vs;
        }

        Finish(acc, s, output);
    }

    // ggml one_chunk with an F32 or quantized cache: V widened to F32, the sum in F32.
    private void VectorF32(int layer, int kvHead, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var scale = _config.AttentionScale;
        var qc = ConvertQuery(q);
        var acc = _accumulator;
        var v = _values;
        new Span<float>(acc, hd).Clear();
        var headOffset = kvHead * _cache.HeadBytes;
        float s = 0f, m = float.NegativeInfinity;
        for (var j = 0; j <= position; j++)
        {
            var score = KeyDot(_cache.Key(layer, j) + headOffset, qc, q) * scale;
            var ms = 1f;
            var vs = 1f;
            if (score > m)
            {
                var old = m;
                m = score;
                ms = MathF.Exp(old - m);
                for (var d = 0; d < hd; d++)
                {
                    acc[d] *= ms;
                }
            }
            else
            {
                vs = MathF.Exp(score - m);
            }

            _valueToF32(_cache.Value(layer, j) + headOffset, v, hd);
            for (var d = 0; d < hd; d++)
            {
                acc[d] = MathF.FusedMultiplyAdd(v[d], vs, acc[d]);
            }

            s = s * ms + vs;
        }

        Finish(acc, s, output);
    }

    // ggml's tiled flash attention, one query row at a time (rows are independent there too).
    private void Tiled(int layer, int kvHead, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var scale = _config.AttentionScale;
        var acc = _accumulator;
        var v = _values;
        new Span<float>(acc, hd).Clear();
        var headOffset = kvHead * _cache.HeadBytes;
        float s = 0f, m = float.NegativeInfinity;
        var keys = position + 1;
        for (var tile = 0; tile < keys; tile += TileKeys)
        {
            var end = Math.Min(tile + TileKeys, keys);
            var tileMax = float.NegativeInfinity;
            for (var j = tile; j < end; j++)
            {
                _valueToF32(_cache.Key(layer, j) + headOffset, v, hd);
                var dot = 0f;
                for (var d = 0; d < hd; d++)
                {
                    dot = MathF.FusedMultiplyAdd(q[d], v[d], dot);
                }

                var score = dot * scale;
                _scores[j] = score;
                tileMax = MathF.Max(tileMax, score);
            }

            var newMax = MathF.Max(m, tileMax);
            if (newMax > m)
            {
                var ms = MathF.Exp(m - newMax);
                for (var d = 0; d < hd; d++)
                {
                    acc[d] *= ms;
                }

                s *= ms;
            }

            m = newMax;
            double tileSum = 0;
            for (var j = tile; j < end; j++)
            {
                var e = MathF.Exp(_scores[j] - m);
                _scores[j] = e;
                tileSum += e;
            }

            s += (float)tileSum;
            for (var j = tile; j < end; j++)
            {
                _valueToF32(_cache.Value(layer, j) + headOffset, v, hd);
                var p = _scores[j];
                for (var d = 0; d < hd; d++)
                {
                    acc[d] = MathF.FusedMultiplyAdd(v[d], p, acc[d]);
                }
            }
        }

        Finish(acc, s, output);
    }

    // llama.cpp without flash attention: KQ matmul, soft_max_ext over the row, then V^T times the weights
    // (the weights rounded to F16 first when V is F16, as mul_mat converts them to V's dot type).
    private void Softmax(int layer, int kvHead, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var qc = ConvertQuery(q);
        var headOffset = kvHead * _cache.HeadBytes;
        var scores = _scores;
        var max = float.NegativeInfinity;
        for (var j = 0; j <= position; j++)
        {
            var score = KeyDot(_cache.Key(layer, j) + headOffset, qc, q) * _config.AttentionScale;
            scores[j] = score;
            max = MathF.Max(max, score);
        }

        double sum = 0;
        for (var j = 0; j <= position; j++)
        {
            var e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }

        var inverse = (float)(1.0 / sum);
        for (var j = 0; j <= position; j++)
        {
            scores[j] *= inverse;
        }

        if (_cache.Type == KvCacheType.F16)
        {
            RoundToF16(scores, position + 1);
        }

        var acc = _accumulator;
        var v = _values;
        new Span<float>(acc, hd).Clear();
        for (var j = 0; j <= position; j++)
        {
            _valueToF32(_cache.Value(layer, j) + headOffset, v, hd);
            var p = scores[j];
            for (var d = 0; d < hd; d++)
            {
                acc[d] = MathF.FusedMultiplyAdd(v[d], p, acc[d]);
            }
        }

        Buffer.MemoryCopy(acc, output, hd * sizeof(float), hd * sizeof(float));
    }

    private void Finish(float* acc, float sum, float* output)
    {
        var inverse = sum == 0f ? 0f : 1f / sum;
        for (var d = 0; d < _config.HeadDimension; d++)
        {
            output[d] = acc[d] * inverse;
        }
    }

    // Rounds floats to the nearest F16 value (ties to even), through the kernels' own conversions.
    private void RoundToF16(float* values, int count)
    {
        for (var start = 0; start < count; start += _config.HeadDimension)
        {
            var n = Math.Min(_config.HeadDimension, count - start);
            _f32ToF16(values + start, _accumulator16, n);
            _f16ToF32(_accumulator16, values + start, n);
        }
    }

    public void Dispose()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Inference.Engine;

/// <summary>
/// Causal multi-head attention over the <see cref="KvCache"/>, with the arithmetic of ggml's CPU kernels so logits
/// follow llama.cpp's closely:
/// <list type="bullet">
/// <item>flash attention, "vector" path (ggml's one_chunk: decode, short batches, head sizes that are not a multiple of
/// 16): Q converted to K's dot type, Q·K as ggml_vec_dot_f16/f32's scalar path (products in float, sum in double: what
/// runs for heads under 128/64 values), online softmax one key at a time, and with an F16 cache the V sum kept in F16
/// (rounded after every scale and multiply-add, as ggml_vec_scale_f16 / ggml_vec_mad_f16 do);</item>
/// <item>flash attention, "tiled" path (batches of 64+ tokens with an F16/F32 cache and head size a multiple of 16):
/// Q in F32, K and V widened to F32, keys in tiles of 64 with the running max and sum updated per tile, V sum in F32;</item>
/// <item>no flash attention (llama.cpp -fa off): scores, one softmax over the row, then the V-weighted sum.</item>
/// </list>
/// The choice between the flash paths mirrors the reference build (AVX-512: 16 floats per vector). Heads and queries
/// are independent: large batches are shared over threads, each with its own scratch. Every path honours gemma2's
/// sliding window and score soft-cap (Attention.Masking.cs).
/// </summary>
internal sealed unsafe partial class Attention : IDisposable
{
    private const int TileKeys = 64;          // ggml's GGML_FA_TILE_KV
    private const int RowsAhead = 4;          // cached positions the one-chunk walk asks for ahead of its reads
    private const int TiledMinQueries = 64;   // ggml's GGML_FA_TILE_Q: fewer queries take the vector path
    private const int TiledHeadMultiple = 16; // GGML_F32_EPR of the reference build (AVX-512)
    private const long ParallelMinWork = 1 << 14; // key x head-value products below which sharing costs more than it saves

    private readonly ModelConfig _config;
    private readonly KvCache _cache;
    private readonly bool _flash;
    private readonly int _threads;
    private readonly MatMulWorkspace _workspace;
    private readonly QuantizeRowKernel? _toKeyDotType;
    private readonly DotKernel _keyDot;
    private readonly DequantizeRowKernel _toF32;
    private readonly Scratch[] _scratch;
    private readonly Action<int> _runChunk;
    private readonly float _scoreScale;
    private readonly float _softCap;

    // The current call, read by the chunk workers.
    private int _layer;
    private float* _queries;
    private int _count;
    private int _firstPosition;
    private float* _output;
    private bool _tiled;
    private int _chunks;

    private sealed class Scratch : IDisposable
    {
        public Scratch(int headDim, int group, int contextLength, long queryBytes)
        {
            // Per-head state is sized for a whole block of tiled queries (the vector path uses the first group of it);
            // tiled rows are padded to whole OuterTile column blocks.
            var padded = PaddedHeadDimension(headDim);
            var heads = (long)TiledBlockQueries * group;
            var floats = (4L * headDim) + contextLength + TileKeys + (2L * heads * padded) + (2L * heads)
                + (3L * TileKeys * padded) + (4L * headDim) + (4L * TileKeys);
            Memory = (byte*)NativeMemory.AlignedAlloc((nuint)((floats * sizeof(float)) + queryBytes + 64), 64);
            Accumulator = (float*)Memory;
            Values = Accumulator + headDim;
            Keys = Values + headDim;
            Query = Keys + headDim;
            Scores = Query + headDim;
            Accumulators = Scores + contextLength + TileKeys;
            Queries = Accumulators + (heads * padded);
            Maxima = Queries + (heads * padded);
            Sums = Maxima + heads;
            KeyTile = Sums + heads;
            ValueTile = KeyTile + ((long)TileKeys * padded);
            KeysTransposed = ValueTile + ((long)TileKeys * padded);
            QueryQuad = KeysTransposed + ((long)TileKeys * padded);
            Probabilities = QueryQuad + (4L * headDim);
            ConvertedQuery = (byte*)(Probabilities + (4L * TileKeys));
        }

        /// <summary>Tiled path: one tile of keys as columns (head dimension x 64), the B of Q times K.</summary>
        public float* KeysTransposed { get; }

        /// <summary>Tiled path: four query rows copied together when the block's last quad is short.</summary>
        public float* QueryQuad { get; }

        /// <summary>Tiled path: four queries' scores, then their weights, over one tile of keys.</summary>
        public float* Probabilities { get; }

        /// <summary>Per head of a GQA group (per query and head on the tiled path): running V sums, rounded queries, running maxima and sums.</summary>
        public float* Accumulators { get; }

        public float* Queries { get; }

        public float* Maxima { get; }

        public float* Sums { get; }

        /// <summary>One tile of keys and values widened to floats, shared by the heads of a group.</summary>
        public float* KeyTile { get; }

        public float* ValueTile { get; }

        public byte* Memory { get; private set; }

        public float* Accumulator { get; }

        public float* Values { get; }

        public float* Keys { get; }

        public float* Query { get; }

        public float* Scores { get; }

        public byte* ConvertedQuery { get; }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Memory);
            Memory = null;
            GC.SuppressFinalize(this);
        }

        ~Scratch() => NativeMemory.AlignedFree(Memory);
    }

    // The matmul workspace's threads share the heads: they are running between the matmuls anyway.
    public Attention(ModelConfig config, KvCache cache, bool flashAttention, MatMulWorkspace workspace)
    {
        _config = config;
        _cache = cache;
        _flash = flashAttention;
        _workspace = workspace;
        _threads = Math.Max(1, workspace.ThreadCount);
        var kv = cache.TypeInfo;
        var keyDotType = GgmlTypeTraits.Get(kv.ActivationType);
        _toKeyDotType = keyDotType.Type == GgmlType.F32 ? null : keyDotType.QuantizeActivation;
        _keyDot = kv.Dot ?? throw new LlmException(LlmErrorKind.InvalidOption, $"A {kv.Name} KV cache has no dot kernel.", "KvCacheType");
        _toF32 = kv.Dequantize ?? throw new LlmException(LlmErrorKind.InvalidOption, $"A {kv.Name} KV cache has no dequantizer.", "KvCacheType");
        if (!_flash && cache.Type == KvCacheType.Q8_0)
        {
            throw new LlmException(LlmErrorKind.InvalidOption, "A Q8_0 KV cache needs flash attention (as in llama.cpp).", "FlashAttention");
        }

        _scratch = new Scratch[_threads];
        for (var i = 0; i < _threads; i++)
        {
            _scratch[i] = new Scratch(config.HeadDimension, config.HeadCount / config.KvHeadCount, cache.ContextLength, keyDotType.RowSizeBytes(config.HeadDimension));
        }

        _runChunk = RunChunk;

        // ggml's flash attention divides the scale by the soft cap, then caps: cap * tanh(dot * scale / cap).
        _softCap = config.AttentionSoftCap;
        _scoreScale = _softCap > 0f ? config.AttentionScale / _softCap : config.AttentionScale;
    }

    /// <summary>
    /// For each of <paramref name="count"/> queries (rows of <paramref name="queries"/>, positions
    /// <paramref name="firstPosition"/> on) and each head, attends over cache positions 0..its own and writes the result
    /// rows to <paramref name="output"/>. The cache must already hold this batch's keys and values.
    /// </summary>
    public void Run(int layer, float* queries, int count, int firstPosition, float* output)
    {
        _layer = layer;
        _window = _config.IsSlidingWindowLayer(layer) ? _config.SlidingWindow : 0;
        _queries = queries;
        _count = count;
        _firstPosition = firstPosition;
        _output = output;
        _tiled = _flash && count >= TiledMinQueries && _config.HeadDimension % TiledHeadMultiple == 0 && _cache.Type != KvCacheType.Q8_0;
        var work = (long)count * _config.HeadCount * (firstPosition + count) * _config.HeadDimension;
        _chunks = work < ParallelMinWork ? 1 : _threads;
        if (_chunks == 1)
        {
            RunChunk(0);
        }
        else
        {
            _workspace.ParallelFor(_chunks, _runChunk);
        }
    }

    // Chunk c takes every c-th (query, KV head) pair, so early (short) and late (long) queries are spread evenly.
    // The query heads that share a KV head (grouped-query attention) run together on the F16/F32 flash paths, so
    // each cached key and value is widened once for the group, not once per head; each head's arithmetic is unchanged.
    private void RunChunk(int chunk)
    {
        var scratch = _scratch[chunk];
        var hd = _config.HeadDimension;
        var width = _config.QueryWidth;
        var group = _config.HeadCount / _config.KvHeadCount;
        if (_tiled)
        {
            RunTiledChunk(chunk, scratch, group);
            return;
        }

        var pairs = _count * _config.KvHeadCount;
        for (var pair = chunk; pair < pairs; pair += _chunks)
        {
            var t = pair / _config.KvHeadCount;
            var kvHead = pair - (t * _config.KvHeadCount);
            var position = _firstPosition + t;
            var q = _queries + ((long)t * width) + ((long)kvHead * group * hd);
            var o = _output + ((long)t * width) + ((long)kvHead * group * hd);
            var headOffset = kvHead * _cache.HeadBytes;
            if (_flash && _cache.Type == KvCacheType.F16)
            {
                VectorF16Group(scratch, headOffset, q, group, position, o);
            }
            else
            {
                for (var g = 0; g < group; g++)
                {
                    if (_flash) VectorF32(scratch, headOffset, q + (g * hd), position, o + (g * hd));
                    else Softmax(scratch, headOffset, q + (g * hd), position, o + (g * hd));
                }
            }
        }
    }

    // Q converted to the dot type of K (F16 for an F16 cache, Q8_0 for Q8_0); for F16 also kept as rounded floats.
    private byte* ConvertQuery(Scratch scratch, float* q)
    {
        var hd = _config.HeadDimension;
        if (_cache.Type == KvCacheType.F16)
        {
            AttentionKernels.RoundToHalfRow(q, scratch.Query, hd);

            return null;
        }

        if (_toKeyDotType is null)
        {
            return (byte*)q;
        }

        _toKeyDotType(q, scratch.ConvertedQuery, hd);
        return scratch.ConvertedQuery;
    }

    // One cached row (a head of K or V) as floats: F32 rows are read in place; F16 rows of under 32 values go through
    // a table (the kernel's per-call cost dominates there: ~75 ns for 8 values against ~12 ns for 64); others use the kernel.
    private float* Widen(byte* row, float* scratchRow)
    {
        var hd = _config.HeadDimension;
        switch (_cache.Type)
        {
            case KvCacheType.F32:
                return (float*)row;
            case KvCacheType.F16 when hd < 32:
            {
                var table = HalfRounding.ToSingle;
                var half = (ushort*)row;
                for (var d = 0; d < hd; d++)
                {
                    scratchRow[d] = table[half[d]];
                }

                return scratchRow;
            }

            default:
                _toF32(row, scratchRow, hd);
                return scratchRow;
        }
    }

    // Q·K of one cached key: ggml_vec_dot_f16/f32's scalar path (products in float, exact for F16 inputs; the sum in
    // double), which is what runs for heads under 128 (F16) or 64 (F32) values. Q8_0 uses the kernel.
    private float KeyDot(Scratch scratch, byte* key, byte* convertedQuery, float* query)
    {
        var hd = _config.HeadDimension;
        switch (_cache.Type)
        {
            case KvCacheType.F16:
                return (float)AttentionMath.DotDouble(Widen(key, scratch.Keys), scratch.Query, hd);
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

    // ggml one_chunk with an F16 cache, for the heads of one group: the V sum lives in F16 and is rounded after each
    // scale and each multiply-add (ggml_vec_dot_f16, _scale_f16 and _mad_f16 as AttentionKernels). Every head runs its
    // own sequence of ggml's operations; only the widening is shared.
    private void VectorF16Group(Scratch scratch, long headOffset, float* q, int group, int position, float* output)
    {
        var hd = _config.HeadDimension;
        for (var g = 0; g < group; g++)
        {
            AttentionKernels.RoundToHalfRow(q + (g * hd), scratch.Queries + (g * hd), hd);

            new Span<float>(scratch.Accumulators + (g * hd), hd).Clear();
            scratch.Sums[g] = 0f;
            scratch.Maxima[g] = float.NegativeInfinity;
        }

        for (var j = FirstKey(position); j <= position; j++)
        {
            if (j + RowsAhead <= position)
            {
                AttentionKernels.PrefetchRow(_cache.Key(_layer, j + RowsAhead) + headOffset, _cache.HeadBytes);
                AttentionKernels.PrefetchRow(_cache.Value(_layer, j + RowsAhead) + headOffset, _cache.HeadBytes);
            }

            var key = Widen(_cache.Key(_layer, j) + headOffset, scratch.Keys);
            var value = Widen(_cache.Value(_layer, j) + headOffset, scratch.Values);
            for (var g = 0; g < group; g++)
            {
                var acc = scratch.Accumulators + (g * hd);
                var m = scratch.Maxima[g];
                var score = Score(AttentionKernels.KeyDotF16(hd, key, scratch.Queries + (g * hd)));
                var ms = 1f;
                var vs = 1f;
                if (score > m)
                {
                    ms = MathF.Exp(m - score);
                    scratch.Maxima[g] = score;
                    AttentionKernels.ScaleRoundF16(hd, acc, ms);
                }
                else
                {
                    vs = MathF.Exp(score - m);
                }

                AttentionKernels.MadRoundF16(hd, acc, value, vs);
                scratch.Sums[g] = (scratch.Sums[g] * ms) + vs;
            }
        }

        for (var g = 0; g < group; g++)
        {
            Finish(scratch.Accumulators + (g * hd), scratch.Sums[g], output + (g * hd), hd);
        }
    }

    // ggml one_chunk with an F32 or quantized cache: V widened to F32, the sum in F32.
    private void VectorF32(Scratch scratch, long headOffset, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var qc = ConvertQuery(scratch, q);
        var acc = scratch.Accumulator;
        var v = scratch.Values;
        new Span<float>(acc, hd).Clear();
        float s = 0f, m = float.NegativeInfinity;
        for (var j = FirstKey(position); j <= position; j++)
        {
            var score = Score(KeyDot(scratch, _cache.Key(_layer, j) + headOffset, qc, q));
            var ms = 1f;
            var vs = 1f;
            if (score > m)
            {
                var old = m;
                m = score;
                ms = MathF.Exp(old - m);
                AttentionMath.Scale(acc, ms, hd);
            }
            else
            {
                vs = MathF.Exp(score - m);
            }

            AttentionKernels.MadF32(hd, acc, Widen(_cache.Value(_layer, j) + headOffset, v), vs);
            s = (s * ms) + vs;
        }

        Finish(acc, s, output, hd);
    }

    // llama.cpp without flash attention: KQ matmul, soft_max_ext over the row, then V^T times the weights
    // (the weights rounded to F16 first when V is F16, as mul_mat converts them to V's dot type).
    private void Softmax(Scratch scratch, long headOffset, float* q, int position, float* output)
    {
        var hd = _config.HeadDimension;
        var qc = ConvertQuery(scratch, q);
        var scores = scratch.Scores;
        var max = float.NegativeInfinity;
        var firstKey = FirstKey(position);
        for (var j = firstKey; j <= position; j++)
        {
            var score = Score(KeyDot(scratch, _cache.Key(_layer, j) + headOffset, qc, q));
            scores[j] = score;
            max = MathF.Max(max, score);
        }

        double sum = 0;
        for (var j = firstKey; j <= position; j++)
        {
            var e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }

        var inverse = (float)(1.0 / sum);
        for (var j = firstKey; j <= position; j++)
        {
            scores[j] *= inverse;
        }

        if (_cache.Type == KvCacheType.F16)
        {
            HalfRounding.Round(scores + firstKey, position + 1 - firstKey);
        }

        var acc = scratch.Accumulator;
        var v = scratch.Values;
        new Span<float>(acc, hd).Clear();
        for (var j = firstKey; j <= position; j++)
        {
            var row = Widen(_cache.Value(_layer, j) + headOffset, v);
            for (var d = 0; d < hd; d++)
            {
                acc[d] = MathF.FusedMultiplyAdd(row[d], scores[j], acc[d]);
            }
        }

        Buffer.MemoryCopy(acc, output, hd * sizeof(float), hd * sizeof(float));
    }

    private static void Finish(float* acc, float sum, float* output, int hd)
    {
        var inverse = sum == 0f ? 0f : 1f / sum;
        for (var d = 0; d < hd; d++)
        {
            output[d] = acc[d] * inverse;
        }
    }

    public void Dispose()
    {
        foreach (var scratch in _scratch)
        {
            scratch?.Dispose();
        }
    }
}

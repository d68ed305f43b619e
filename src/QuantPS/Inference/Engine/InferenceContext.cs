using System.Runtime.InteropServices;
using QuantPS.Kernels;
using QuantPS.Kernels.MatMul;

namespace QuantPS.Inference.Engine;

/// <summary>
/// One sequence being run through a model: the KV cache, the activations of a batch, and the matmul threads.
/// <see cref="EvaluateAll"/> returns every position's logits (for perplexity and imatrix work);
/// the Decode overloads return the last position's, for generation.
/// Not thread-safe: one call at a time. Allocates nothing per token once created.
/// </summary>
public sealed unsafe partial class InferenceContext : IDisposable
{
    private readonly LlmModel _model;
    private readonly ModelConfig _config;
    private readonly ModelWeights _weights;
    private readonly MatMulWorkspace _workspace;
    private readonly KvCache _cache;
    private readonly Attention _attention;
    private readonly MixtureOfExperts? _experts; // the feed-forward block of a mixture-of-experts model
    private readonly Rope _rope;
    private readonly Rope _slidingRope; // gemma2's sliding-window layers may have their own RoPE base
    private readonly int _batch;
    private readonly int _keyRotation;   // Hadamard chunk for Q and K around a quantized cache (0: none)
    private readonly int _valueRotation; // and for V and the attention output
    private readonly float[] _lastLogits;
    private readonly int[] _single = new int[1];
    private byte* _memory;
    private readonly float* _x;      // residual stream, batch x embedding
    private readonly float* _xb;     // normed input of a sublayer
    private readonly float* _q;      // batch x query width
    private readonly float* _k;      // batch x KV width
    private readonly float* _v;
    private readonly float* _att;    // attention output, batch x query width
    private readonly float* _delta;  // sublayer output before the residual add, batch x embedding
    private readonly float* _gate;   // feed-forward rows x feed-forward (shares memory with _q, _att, _k and _v)
    private readonly float* _up;
    private readonly int _feedForwardRows;

    // Tokens per feed-forward pass within a batch: its gate and up buffers are the widest, and at 128 rows the
    // matrix-matrix kernels are as efficient as at 512 (each pass re-reads the sublayer's weights, ~1% of the time).
    private const int FeedForwardChunk = 128;

    internal InferenceContext(LlmModel model, ContextOptions options)
    {
        _model = model;
        _config = model.Config;
        _weights = model.Weights;
        var contextLength = options.ContextLength == 0
            ? Math.Min(_config.TrainedContextLength, ContextOptions.DefaultContextLength)
            : options.ContextLength;
        if (contextLength < 1 || options.Threads < 0 || options.BatchSize < 1)
        {
            throw new LlmException(LlmErrorKind.InvalidOption,
                $"Invalid context options: context length {options.ContextLength}, threads {options.Threads}, batch {options.BatchSize}.", "ContextOptions");
        }

        Options = options;
        _batch = Math.Min(options.BatchSize, contextLength);
        _cache = new KvCache(_config, contextLength, options.KvCacheType, _batch, options.FullSlidingWindowCache);
        if (options.RotateQuantizedCache && options.KvCacheType == KvCacheType.Q8_0 && _config.HeadDimension % 64 == 0)
        {
            // llama.cpp: K the largest power of two dividing the head, V chunks of 64 ("smaller seems beneficial").
            _keyRotation = Hadamard.KeySize(_config.HeadDimension);
            _valueRotation = 64;
        }

        try
        {
            _workspace = new MatMulWorkspace(options.Threads);
            _attention = new Attention(_config, _cache, options.FlashAttention, _workspace);
            var ropeFactors = Rope.FactorsFor(_config, _weights, contextLength);
            _rope = new Rope(_config, ropeFactors);
            _slidingRope = _config.SlidingWindow > 0 && _config.SlidingWindowRopeFreqBase != _config.RopeFreqBase
                ? new Rope(_config with { RopeFreqBase = _config.SlidingWindowRopeFreqBase }, ropeFactors)
                : _rope;
            _lastLogits = new float[_config.VocabularySize];
            // A mixture of experts has its own scratch for the feed-forward block; a dense model's gate and up are here.
            long d = _config.EmbeddingLength, qw = _config.QueryWidth, kvw = _config.KvWidth;
            long ff = _config.IsMixtureOfExperts ? 0 : _config.FeedForwardLength;
            // The attention sublayer's Q, K, V and output are dead once its output projection has run, and the
            // feed-forward's gate and up are only live inside their sublayer: the two sets share one region. The
            // feed-forward runs FeedForwardChunk tokens at a time, so its two widest buffers stay small.
            _feedForwardRows = Math.Min(_batch, FeedForwardChunk);
            _experts = _config.IsMixtureOfExperts ? new MixtureOfExperts(_config, _feedForwardRows) : null;
            var attention = ((2 * qw) + (2 * kvw)) * _batch;
            var feedForward = 2 * ff * _feedForwardRows;
            var floats = (3 * d * _batch) + Math.Max(attention, feedForward);
            _memory = (byte*)NativeMemory.AlignedAlloc((nuint)((floats * sizeof(float)) + (9 * 64)), 64);
            var p = (float*)_memory;
            float* Take(long count, long rows)
            {
                var start = p;
                p += (count * rows + 15) & ~15L;
                return start;
            }

            float* TakeBatch(long count) => Take(count, _batch);

            _x = TakeBatch(d);
            _xb = TakeBatch(d);
            _delta = TakeBatch(d);
            var shared = p;
            _q = TakeBatch(qw);
            _att = TakeBatch(qw);
            _k = TakeBatch(kvw);
            _v = TakeBatch(kvw);
            p = shared;
            _gate = Take(ff, _feedForwardRows);
            _up = Take(ff, _feedForwardRows);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public ContextOptions Options { get; }

    public LlmModel Model => _model;

    /// <summary>Positions the cache holds.</summary>
    public int ContextLength => _cache.ContextLength;

    /// <summary>Tokens already in the cache; the next token goes to this position.</summary>
    public int Position { get; private set; }

    /// <summary>Threads sharing each matmul.</summary>
    public int Threads => _workspace.ThreadCount;

    /// <summary>Bytes of the KV cache.</summary>
    public long KvCacheBytes => _cache.SizeBytes;

    /// <summary>Forgets every token: the next one goes to position 0.</summary>
    public void Reset()
    {
        Position = 0;
        _cache.Clear();
    }

    /// <summary>
    /// Whether <see cref="Truncate"/> can go back to <paramref name="position"/>: always on models without sliding-window
    /// layers; on others only while their window before it is still cached (their cache keeps window + batch positions).
    /// </summary>
    public bool CanTruncate(int position) =>
        position >= 0 && position <= Position && _cache.Holds(position);

    /// <summary>Forgets the tokens from <paramref name="position"/> on (e.g. to re-run a changed suffix).</summary>
    /// <exception cref="LlmException">The sliding-window layers no longer hold the positions before it (see <see cref="CanTruncate"/>).</exception>
    public void Truncate(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, Position);
        if (!CanTruncate(position))
        {
            throw new LlmException(LlmErrorKind.InvalidOption,
                $"Cannot go back to position {position}: this model's sliding-window layers keep only the last {_cache.WindowCells} positions, " +
                "and the ones before it have been overwritten; reset and evaluate the tokens again.", "Position");
        }

        Position = position;
    }

    /// <summary>Appends <paramref name="tokens"/> and returns the logits of every one of them: tokens x vocabulary, row-major.</summary>
    public float[] EvaluateAll(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        var logits = new float[(long)tokens.Length * _config.VocabularySize];
        fixed (float* output = logits)
        {
            Forward(tokens, output, allRows: true, cancellationToken);
        }

        return logits;
    }

    /// <summary>Appends <paramref name="tokens"/> (at least one) and returns the logits after the last; valid until the next call.</summary>
    public ReadOnlySpan<float> Decode(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        fixed (float* output = _lastLogits)
        {
            Forward(tokens, output, allRows: false, cancellationToken);
        }

        return _lastLogits;
    }

    /// <summary>Appends one token and returns the logits after it; valid until the next call.</summary>
    /// <remarks>A cancelled call throws <see cref="OperationCanceledException"/> and leaves <see cref="Position"/> unchanged.</remarks>
    public ReadOnlySpan<float> Decode(int token, CancellationToken cancellationToken = default)
    {
        _single[0] = token;
        return Decode(_single, cancellationToken);
    }

    private void Forward(ReadOnlySpan<int> tokens, float* logits, bool allRows, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_memory == null || _model.IsDisposed, this);
        foreach (var token in tokens)
        {
            if ((uint)token >= (uint)_config.VocabularySize)
            {
                throw new LlmException(LlmErrorKind.InvalidToken,
                    $"Token id {token} is outside the vocabulary (0..{_config.VocabularySize - 1}).", token.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        if (tokens.Length > ContextLength - Position)
        {
            throw new LlmException(LlmErrorKind.ContextFull,
                $"{tokens.Length} tokens do not fit: {Position} of the {ContextLength} positions are used. Use a longer context.", "ContextLength");
        }

        for (var start = 0; start < tokens.Length; start += _batch)
        {
            var n = Math.Min(_batch, tokens.Length - start);
            var last = start + n == tokens.Length;
            RunBatch(tokens.Slice(start, n), cancellationToken);
            if (allRows)
            {
                OutputLogits(0, n, logits + ((long)start * _config.VocabularySize));
            }
            else if (last)
            {
                OutputLogits(n - 1, 1, logits);
            }
        }
    }

    // One forward pass of n tokens at positions Position.. through every layer; leaves the final residual in _x.
    private void RunBatch(ReadOnlySpan<int> tokens, CancellationToken cancellationToken)
    {
        var n = tokens.Length;
        var d = _config.EmbeddingLength;
        var embedding = _weights.TokenEmbeddingInfo;
        var rowBytes = embedding.RowSizeBytes(d);
        for (var t = 0; t < n; t++)
        {
            embedding.Dequantize!(_weights.TokenEmbedding + (tokens[t] * rowBytes), _x + ((long)t * d), d);
        }

        if (_config.EmbeddingScale != 1f)
        {
            AttentionMath.Scale(_x, _config.EmbeddingScale, n * d); // gemma: ggml_scale(inpL, sqrtf(n_embd))
        }

        var first = Position;
        _cache.Wrote(first + n); // before any layer writes: a cancelled batch has still taken ring cells
        for (var l = 0; l < _config.LayerCount; l++)
        {
            cancellationToken.ThrowIfCancellationRequested(); // the cache is only committed (Position) after the last layer
            var layer = _weights.Layers[l];
            RmsNorm(_x, layer.AttentionNorm, _xb, n);
            AddBias(_xb, layer.AttentionNormBias, n, d); // phimoe
            ProjectQueryKeyValue(layer, _xb, n);
            AddBias(_q, layer.QueryBias, n, _config.QueryWidth);
            AddBias(_k, layer.KeyBias, n, _config.KvWidth);
            AddBias(_v, layer.ValueBias, n, _config.KvWidth);
            if (layer.QueryNorm != null)
            {
                // qwen3: RMS norm of every head of Q and K before RoPE
                RmsNorm(_q, layer.QueryNorm, _q, n * _config.HeadCount, _config.HeadDimension);
                RmsNorm(_k, layer.KeyNorm, _k, n * _config.KvHeadCount, _config.HeadDimension);
            }

            StoreKeysAndValues(l, n, first);
            _attention.Run(l, _q, n, first, _att);
            if (_valueRotation != 0)
            {
                Hadamard.Rotate(_att, (long)n * _config.QueryWidth, _valueRotation); // back from the rotated V
            }

            layer.Output.Multiply(_att, n, _delta, _workspace);
            AddBias(_delta, layer.OutputBias, n, d);
            if (layer.PostAttentionNorm != null)
            {
                RmsNorm(_delta, layer.PostAttentionNorm, _delta, n); // gemma2: normed before the residual add
            }

            Add(_x, _delta, (long)n * d);

            RmsNorm(_x, layer.FeedForwardNorm, _xb, n);
            AddBias(_xb, layer.FeedForwardNormBias, n, d);
            // Equal passes (130 rows: 65 + 65, not 128 + 2), so no pass drops to the matrix-vector kernels: a row's
            // result is then the same whatever the pass it falls in. (In a mixture of experts, how many of a pass's
            // tokens share an expert decides that expert's kernels instead.)
            var passes = (n + _feedForwardRows - 1) / _feedForwardRows;
            var rowsPerPass = (n + passes - 1) / passes;
            for (var row = 0; row < n; row += rowsPerPass)
            {
                FeedForward(layer, row, Math.Min(rowsPerPass, n - row));
            }

            if (layer.PostFeedForwardNorm != null)
            {
                RmsNorm(_delta, layer.PostFeedForwardNorm, _delta, n);
            }

            Add(_x, _delta, (long)n * d);
        }

        Position = first + n;
    }

    // Gate and up, the gated activation, then down for the rows first.. of _xb into the same rows of _delta.
    // Every row is independent: past four rows a matmul's result for a row does not depend on the rows beside it
    // (Dot4 equals Dot bit for bit; float tiles depend on k alone).
    private void FeedForward(LayerWeights layer, int first, int rows)
    {
        var d = _config.EmbeddingLength;
        var input = _xb + ((long)first * d);
        if (layer.Experts is not null)
        {
            _experts!.Run(layer.Experts, input, rows, _delta + ((long)first * d), _workspace);
            return;
        }

        ProjectGateUp(layer, input, rows);
        if (_config.Activation == FeedForwardActivation.Gelu)
        {
            Activations.GeGlu(_gate, _up, (long)rows * _config.FeedForwardLength);
        }
        else
        {
            Activations.SwiGlu(_gate, _up, _config.FeedForwardLength, rows);
        }

        layer.Down.Multiply(_gate, rows, _delta + ((long)first * d), _workspace);
    }

    // RoPE on this batch's Q and K (then Q's own scale, where the architecture has one), the Hadamard rotation of Q, K
    // and V around a quantized cache, then K and V into the cache at their positions.
    private void StoreKeysAndValues(int layer, int n, int first)
    {
        var hd = _config.HeadDimension;
        var kvw = _config.KvWidth;
        var rope = _config.IsSlidingWindowLayer(layer) ? _slidingRope : _rope;
        for (var t = 0; t < n; t++)
        {
            rope.Prepare(first + t);
            var q = _q + ((long)t * _config.QueryWidth);
            rope.Apply(q, _config.HeadCount, hd);
            if (_config.QueryScale != 1f)
            {
                AttentionMath.Scale(q, _config.QueryScale, _config.QueryWidth);
            }

            var k = _k + ((long)t * kvw);
            rope.Apply(k, _config.KvHeadCount, hd);
            var v = _v + ((long)t * kvw);
            if (_keyRotation != 0)
            {
                Hadamard.Rotate(q, _config.QueryWidth, _keyRotation); // Q K^T is unchanged: H is orthonormal
                Hadamard.Rotate(k, kvw, _keyRotation);
            }

            if (_valueRotation != 0)
            {
                Hadamard.Rotate(v, kvw, _valueRotation); // rotated back after attention
            }

            _cache.Write(k, _cache.Key(layer, first + t), kvw);
            _cache.Write(v, _cache.Value(layer, first + t), kvw);
        }
    }

    private void OutputLogits(int row, int count, float* destination)
    {
        var d = _config.EmbeddingLength;
        RmsNorm(_x + ((long)row * d), _weights.OutputNorm, _xb, count);
        AddBias(_xb, _weights.OutputNormBias, count, d);
        _weights.Output.Multiply(_xb, count, destination, _workspace);
        AddBias(destination, _weights.OutputBias, count, _config.VocabularySize);
        if (_config.FinalLogitSoftCap > 0f)
        {
            Activations.SoftCap(destination, (long)count * _config.VocabularySize, _config.FinalLogitSoftCap);
        }
    }

    private static void AddBias(float* rows, float* bias, int count, int width)
    {
        if (bias == null)
        {
            return;
        }

        for (var r = 0; r < count; r++)
        {
            Add(rows + ((long)r * width), bias, width);
        }
    }

    // ggml_rms_norm then the weight multiply: the sum of squares in double, the scale in float.
    private void RmsNorm(float* x, float* weight, float* y, int rows) => RmsNorm(x, weight, y, rows, _config.EmbeddingLength);

    private void RmsNorm(float* x, float* weight, float* y, int rows, int d)
    {
        for (var r = 0; r < rows; r++)
        {
            var xr = x + ((long)r * d);
            var yr = y + ((long)r * d);
            double sum = 0;
            for (var i = 0; i < d; i++)
            {
                sum += xr[i] * xr[i];
            }

            var mean = (float)(sum / d);
            var scale = 1f / MathF.Sqrt(mean + _config.RmsNormEpsilon);
            for (var i = 0; i < d; i++)
            {
                yr[i] = xr[i] * scale * weight[i];
            }
        }
    }

    private static void Add(float* x, float* delta, long count)
    {
        for (long i = 0; i < count; i++)
        {
            x[i] += delta[i];
        }
    }

    public void Dispose()
    {
        _workspace?.Dispose();
        _attention?.Dispose();
        _experts?.Dispose();
        _cache?.Dispose();
        FreeActivations();
        GC.SuppressFinalize(this);
    }

    private void FreeActivations()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }

    // A forgotten context still returns its native buffers (the cache, workspace and scratch have their own finalizers).
    ~InferenceContext() => FreeActivations();
}

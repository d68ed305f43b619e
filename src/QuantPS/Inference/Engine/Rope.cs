namespace QuantPS.Inference.Engine;

/// <summary>
/// Rotary position embedding as ggml_rope_ext computes it on the CPU: per position a table of cos/sin built by
/// multiplying theta by base^(-2/n) pair after pair (in float, as ggml does, not with pow per pair), with
/// linear and YaRN scaling (ggml's rope_yarn, llama_context's attention factor) and optional per-frequency divisors
/// (llama 3's rope_freqs, longrope's long/short factors).
/// </summary>
internal sealed unsafe class Rope
{
    private readonly int _dims;
    private readonly RopeLayout _layout;
    private readonly float _thetaScale;
    private readonly float _freqScale;
    private readonly float _extFactor;
    private readonly float _attnFactor;
    private readonly float _corrLow;
    private readonly float _corrHigh;
    private readonly float* _factors;
    private readonly float[] _table;

    public Rope(ModelConfig config, float* frequencyFactors)
    {
        _dims = config.RopeDimensions;
        _layout = config.RopeLayout;
        _thetaScale = MathF.Pow(config.RopeFreqBase, -2.0f / _dims);
        _freqScale = config.RopeFreqScale;
        _factors = frequencyFactors;
        _table = new float[_dims];
        _extFactor = config.RopeScaling == RopeScaling.Yarn ? 1f : 0f;

        // llama_context's attention factor: YaRN's magnitude correction, cancelled by the one rope_yarn applies.
        var attn = 1f;
        if (_extFactor != 0f)
        {
            var factor = 1f / _freqScale;
            attn = factor <= 1f ? 1f : (0.1f * MathF.Log(factor)) + 1f;
            attn *= 1f / (1f + (0.1f * MathF.Log(factor)));
        }

        _attnFactor = attn * config.RopeAttentionFactor;
        _corrLow = MathF.Max(0, MathF.Floor(CorrectionDim(config.YarnBetaFast, config)));
        _corrHigh = MathF.Min(_dims - 1, MathF.Ceiling(CorrectionDim(config.YarnBetaSlow, config)));
    }

    /// <summary>
    /// The per-frequency divisors llama_model::get_rope_factors picks: rope_freqs when present, else for longrope (and phi3, which always has them) the
    /// long factors once the context (padded to 256 as llama_context pads n_ctx) exceeds the original one, else the short.
    /// </summary>
    public static float* FactorsFor(ModelConfig config, ModelWeights weights, int contextLength)
    {
        if (weights.RopeFrequencyFactors != null || (weights.RopeFactorsLong == null && weights.RopeFactorsShort == null))
        {
            return weights.RopeFrequencyFactors;
        }

        var padded = (contextLength + 255L) / 256 * 256;
        return padded > config.RopeOriginalContextLength ? weights.RopeFactorsLong : weights.RopeFactorsShort;
    }

    private float CorrectionDim(float rotations, ModelConfig config) =>
        _dims * MathF.Log(config.RopeOriginalContextLength / (rotations * 2 * MathF.PI)) / (2 * MathF.Log(config.RopeFreqBase));

    /// <summary>Fills the cos/sin table for <paramref name="position"/>; then <see cref="Apply"/> rotates heads with it.</summary>
    public void Prepare(int position)
    {
        var theta = (float)position;
        for (var i0 = 0; i0 < _dims; i0 += 2)
        {
            var ff = _factors == null ? 1f : _factors[i0 / 2];
            var extrapolated = theta / ff;
            var interpolated = _freqScale * extrapolated;
            var angle = interpolated;
            var mscale = _attnFactor;
            if (_extFactor != 0f)
            {
                var y = ((i0 / 2) - _corrLow) / MathF.Max(0.001f, _corrHigh - _corrLow);
                var ramp = (1 - MathF.Min(1, MathF.Max(0, y))) * _extFactor;
                angle = (interpolated * (1 - ramp)) + (extrapolated * ramp);
                mscale *= 1f + (0.1f * MathF.Log(1f / _freqScale));
            }

            _table[i0] = MathF.Cos(angle) * mscale;
            _table[i0 + 1] = MathF.Sin(angle) * mscale;
            theta *= _thetaScale;
        }
    }

    /// <summary>Rotates the first rope-dimensions values of each of <paramref name="heads"/> heads of <paramref name="headDim"/>.</summary>
    public void Apply(float* x, int heads, int headDim)
    {
        var half = _dims / 2;
        for (var h = 0; h < heads; h++)
        {
            var head = x + (long)h * headDim;
            for (var i0 = 0; i0 < _dims; i0 += 2)
            {
                var cos = _table[i0];
                var sin = _table[i0 + 1];
                float* a;
                float* b;
                if (_layout == RopeLayout.Normal)
                {
                    a = head + i0;
                    b = a + 1;
                }
                else
                {
                    a = head + (i0 / 2);
                    b = a + half;
                }

                var x0 = *a;
                var x1 = *b;
                *a = (x0 * cos) - (x1 * sin);
                *b = (x0 * sin) + (x1 * cos);
            }
        }
    }
}

using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Types;

/// <summary>
/// The scale searches ggml's quantizers share. Every expression keeps ggml's float order of
/// operations (ggml-base is built without FMA contraction), because the output bytes must match.
/// </summary>
internal static class QuantMath
{
    /// <summary>Block groups whose largest magnitude is below this are treated as all zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>Round to nearest (ties to even) through the 1.5*2^23 trick; valid for |x| ≤ 2^22.</summary>
    public static int NearestInt(float value)
    {
        float biased = value + 12582912f;
        int bits = BitConverter.SingleToInt32Bits(biased);
        return (bits & 0x007FFFFF) - 0x00400000;
    }

    /// <summary><see cref="NearestInt(float)"/> lane by lane (the same IEEE add, the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<int> NearestInt(Vector<float> value) =>
        (Vector.AsVectorInt32(value + new Vector<float>(12582912f)) & new Vector<int>(0x007FFFFF)) - new Vector<int>(0x00400000);

    /// <summary>Lane-wise clamp(nearest_int(x), 0, nmax): the unsigned levels of the K-quant scale searches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<int> Levels(Vector<float> scaled, int nmax) =>
        Vector.Max(Vector<int>.Zero, Vector.Min(new Vector<int>(nmax), NearestInt(scaled)));

    public static void WriteHalf(Span<byte> destination, float value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(destination, FloatConversions.SingleToHalf(value));

    public static float RoundHalf(float value) => FloatConversions.HalfToSingle(FloatConversions.SingleToHalf(value));

    /// <summary>Symmetric search: levels in [-nmax, nmax-1], stored biased by nmax; returns the scale.</summary>
    public static float MakeQx(int n, int nmax, ReadOnlySpan<float> x, Span<sbyte> levels, int rmseType, ReadOnlySpan<float> weights)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; ++i)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }

        if (amax < GroupMaxEps)
        {
            levels[..n].Clear();
            return 0f;
        }

        float iscale = -nmax / max;
        if (rmseType == 0)
        {
            for (int i = 0; i < n; ++i)
            {
                int l = NearestInt(iscale * x[i]);
                levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
            }

            return 1 / iscale;
        }

        bool returnEarly = false;
        if (rmseType < 0)
        {
            rmseType = -rmseType;
            returnEarly = true;
        }

        bool hasWeights = !weights.IsEmpty;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i)
        {
            int l = NearestInt(iscale * x[i]);
            l = Math.Max(-nmax, Math.Min(nmax - 1, l));
            levels[i] = (sbyte)(l + nmax);
            float w = hasWeights ? weights[i] : RmseWeight(rmseType, x[i]);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }

        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        if (returnEarly)
        {
            return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
        }

        float best = scale * sumlx;
        if (Vector.IsHardwareAccelerated && n <= CandidateLanes.MaxValues)
        {
            Span<float> w = stackalloc float[n];
            for (int i = 0; i < n; ++i)
            {
                w[i] = hasWeights ? weights[i] : RmseWeight(rmseType, x[i]);
            }

            return CandidateLanes.SearchQx(n, nmax, max, x, w, levels, scale, best);
        }

        for (int step = -9; step <= 9; ++step)
        {
            if (step == 0)
            {
                continue;
            }

            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; ++i)
            {
                int l = NearestInt(iscale * x[i]);
                l = Math.Max(-nmax, Math.Min(nmax - 1, l));
                float w = hasWeights ? weights[i] : RmseWeight(rmseType, x[i]);
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }

            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; ++i)
                {
                    int l = NearestInt(iscale * x[i]);
                    levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
                }

                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }

        return scale;
    }

    private static float RmseWeight(int rmseType, float x) => rmseType switch
    {
        1 => x * x,
        2 => 1f,
        3 => MathF.Abs(x),
        _ => MathF.Sqrt(MathF.Abs(x)),
    };

    /// <summary>
    /// Asymmetric (scale + min) search. With empty weights
    /// x² stands in for the weights (make_qkx3_quants); otherwise weights are required (make_qkx2_quants).
    /// Returns the scale; <paramref name="theMin"/> receives minus the offset.
    /// </summary>
    public static float MakeQkx(int n, int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, Span<byte> aux, float rmin, float rdelta, int nstep, bool useMad)
    {
        bool hasWeights = !weights.IsEmpty;
        float min = x[0], max = x[0];
        float sumW = hasWeights ? weights[0] : x[0] * x[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; ++i)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = hasWeights ? weights[i] : x[i] * x[i];
            sumW += w;
            sumX += w * x[i];
        }

        if (min > 0)
        {
            min = 0;
        }

        // qkx2 tests max == min, qkx3 max <= min; after min is clamped to ≤ 0 and max ≥ min both agree.
        if (max <= min)
        {
            levels[..n].Clear();
            theMin = -min;
            return 0f;
        }

        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; ++i)
        {
            int l = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * levels[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            float w = hasWeights ? weights[i] : x[i] * x[i];
            bestError += w * diff;
        }

        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }

        if (Vector.IsHardwareAccelerated && n <= CandidateLanes.MaxValues)
        {
            return CandidateLanes.SearchQkx(n, nmax, x, weights, levels, out theMin, min, max, sumW, sumX, scale, bestError, rmin, rdelta, nstep, useMad);
        }

        for (int step = 0; step <= nstep; ++step)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; ++i)
            {
                int l = NearestInt(iscale * (x[i] - min));
                l = Math.Max(0, Math.Min(nmax, l));
                aux[i] = (byte)l;
                float w = hasWeights ? weights[i] : x[i] * x[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }

            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }

                float error = 0;
                for (int i = 0; i < n; ++i)
                {
                    float diff = thisScale * aux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    float w = hasWeights ? weights[i] : x[i] * x[i];
                    error += w * diff;
                }

                if (error < bestError)
                {
                    aux[..n].CopyTo(levels);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }

        theMin = -min;
        return scale;
    }

    /// <summary>Per-row σ² (mean of squares) used to build imatrix weights: qw * sqrt(σ² + x²).</summary>
    public static float MeanSquare(ReadOnlySpan<float> row)
    {
        float sum = 0;
        for (int j = 0; j < row.Length; ++j)
        {
            sum += row[j] * row[j];
        }

        return sum / row.Length;
    }
}

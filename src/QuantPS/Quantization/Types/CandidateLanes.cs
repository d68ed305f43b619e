using System.Numerics;
using System.Runtime.CompilerServices;

namespace QuantPS.Quantization.Types;

/// <summary>
/// The candidate-scale loops of ggml's scale searches (<see cref="QuantMath.MakeQkx"/>,
/// <see cref="QuantMath.MakeQx"/>, the IQ4 block search) with one SIMD lane per candidate.
/// Why it lives here and not in the kernel generator: it is not a block-format kernel but ggml's
/// exact-order scale search. Each lane runs one candidate's sums over the values in the scalar
/// order (lane-wise IEEE add/mul equal the scalar ones, no FMA), so the sums, errors and the
/// winner (chosen sequentially, strict &lt;, first wins) are bit-for-bit those of the scalar loop.
/// make_qkx's loop is not candidate-independent: a winner replaces the offset (min) that later
/// candidates quantize against. So candidates are evaluated against the current
/// offset, a vector at a time, and when a winner changes it the search resumes right after it.
/// </summary>
[SkipLocalsInit]
internal static class CandidateLanes
{
    /// <summary>Longest group the search handles (its levels are kept per lane).</summary>
    public const int MaxValues = 32;

    public static float SearchQkx(int n, int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> levels,
        out float theMin, float min, float max, float sumW, float sumX, float scale, float bestError,
        float rmin, float rdelta, int nstep, bool useMad)
    {
        bool hasWeights = !weights.IsEmpty;
        Span<float> w = stackalloc float[n];
        for (int i = 0; i < n; ++i)
        {
            w[i] = hasWeights ? weights[i] : x[i] * x[i];
        }

        int lanes = Vector<float>.Count;
        Span<float> iscales = stackalloc float[lanes];
        Span<Vector<float>> laneLevels = stackalloc Vector<float>[n];
        var sumWv = new Vector<float>(sumW);
        var sumXv = new Vector<float>(sumX);
        int first = 0;
        while (first <= nstep)
        {
            // The next vector of candidates, against the current offset (lanes past nstep are padding).
            for (int k = 0; k < lanes; ++k)
            {
                int step = first + k;
                iscales[k] = (rmin + rdelta * step + nmax) / (max - min);
            }

            var iscale = new Vector<float>(iscales);
            var sumL = Vector<float>.Zero;
            var sumL2 = Vector<float>.Zero;
            var sumXL = Vector<float>.Zero;
            for (int i = 0; i < n; ++i)
            {
                var l = Vector.ConvertToSingle(Levels(iscale, new Vector<float>(x[i] - min), nmax));
                laneLevels[i] = l;
                var wl = new Vector<float>(w[i]) * l;
                sumL += wl;
                sumL2 += wl * l;
                sumXL += wl * new Vector<float>(x[i]);
            }

            var det = sumWv * sumL2 - sumL * sumL;
            var thisScale = (sumWv * sumXL - sumXv * sumL) / det;
            var thisMin = (sumL2 * sumXv - sumL * sumXL) / det;
            var positive = Vector.GreaterThan(thisMin, Vector<float>.Zero);
            thisMin = Vector.ConditionalSelect(positive, Vector<float>.Zero, thisMin);
            thisScale = Vector.ConditionalSelect(positive, sumXL / sumL2, thisScale);

            var error = Vector<float>.Zero;
            for (int i = 0; i < n; ++i)
            {
                var diff = thisScale * laneLevels[i] + thisMin - new Vector<float>(x[i]);
                diff = useMad ? Vector.Abs(diff) : diff * diff;
                error += new Vector<float>(w[i]) * diff;
            }

            // ggml's sequential choice: strict <, the first of equals wins.
            int next = first + lanes;
            int count = Math.Min(lanes, nstep + 1 - first);
            for (int k = 0; k < count; ++k)
            {
                if (!(det[k] > 0) || !(error[k] < bestError))
                {
                    continue;
                }

                for (int i = 0; i < n; ++i)
                {
                    levels[i] = (byte)laneLevels[i][k];
                }

                bestError = error[k];
                scale = thisScale[k];
                bool offsetChanged = BitConverter.SingleToInt32Bits(thisMin[k]) != BitConverter.SingleToInt32Bits(min);
                min = thisMin[k];
                if (offsetChanged)
                {
                    next = first + k + 1;
                    break;
                }
            }

            first = next;
        }

        theMin = -min;
        return scale;
    }

    /// <summary>
    /// The ±0.1·step loop of <see cref="QuantMath.MakeQx"/>: its 18 candidates are independent
    /// (only the best-so-far moves), so all their sums are laned, then chosen in step order.
    /// </summary>
    public static float SearchQx(int n, int nmax, float max, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<sbyte> levels, float scale, float best)
    {
        const int Candidates = 18;
        int lanes = Vector<float>.Count;
        int padded = (Candidates + lanes - 1) / lanes * lanes;
        Span<float> iscales = stackalloc float[padded];
        Span<float> sumLX = stackalloc float[padded];
        Span<float> sumL2 = stackalloc float[padded];
        for (int k = 0; k < padded; ++k)
        {
            iscales[k] = -(nmax + 0.1f * QxStep(Math.Min(k, Candidates - 1))) / max;
        }

        for (int c = 0; c < padded; c += lanes)
        {
            var iscale = new Vector<float>(iscales[c..]);
            var lx = Vector<float>.Zero;
            var l2 = Vector<float>.Zero;
            for (int i = 0; i < n; ++i)
            {
                var l = Vector.ConvertToSingle(SymmetricLevels(iscale * new Vector<float>(x[i]), nmax));
                var wi = new Vector<float>(w[i]);
                lx += wi * new Vector<float>(x[i]) * l;
                l2 += wi * l * l;
            }

            lx.CopyTo(sumLX[c..]);
            l2.CopyTo(sumL2[c..]);
        }

        for (int k = 0; k < Candidates; ++k)
        {
            if (sumL2[k] > 0 && sumLX[k] * sumLX[k] > best * sumL2[k])
            {
                for (int i = 0; i < n; ++i)
                {
                    int l = QuantMath.NearestInt(iscales[k] * x[i]);
                    levels[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, l)));
                }

                scale = sumLX[k] / sumL2[k];
                best = scale * sumLX[k];
            }
        }

        return scale;
    }

    /// <summary>
    /// The ±ntry loop of the IQ4_NL/IQ4_XS block search: candidates are independent (only the
    /// best-so-far moves), so their sums are laned, then chosen in attempt order.
    /// </summary>
    public static float SearchNonLinear(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<sbyte> grid, float max,
        int ntry, float d, float best)
    {
        int candidates = 2 * ntry + 1;
        int lanes = Vector<float>.Count;
        int padded = (candidates + lanes - 1) / lanes * lanes;
        Span<float> ids = stackalloc float[padded];
        Span<float> sumQX = stackalloc float[padded];
        Span<float> sumQ2 = stackalloc float[padded];
        Span<Vector<float>> values = stackalloc Vector<float>[grid.Length];
        for (int k = 0; k < grid.Length; ++k)
        {
            values[k] = new Vector<float>(grid[k]);
        }

        for (int k = 0; k < padded; ++k)
        {
            int attempt = Math.Min(k, candidates - 1) - ntry;
            ids[k] = (attempt + grid[0]) / max;
        }

        for (int c = 0; c < padded; c += lanes)
        {
            var id = new Vector<float>(ids[c..]);
            var qx = Vector<float>.Zero;
            var q2 = Vector<float>.Zero;
            for (int j = 0; j < x.Length; ++j)
            {
                var xj = new Vector<float>(x[j]);
                var qv = NearestGridValue(values, id * xj);
                var wj = new Vector<float>(w[j]);
                qx += wj * qv * xj;
                q2 += wj * qv * qv;
            }

            qx.CopyTo(sumQX[c..]);
            q2.CopyTo(sumQ2[c..]);
        }

        for (int k = 0; k < candidates; ++k)
        {
            if (sumQ2[k] > 0 && sumQX[k] * sumQX[k] > best * sumQ2[k])
            {
                d = sumQX[k] / sumQ2[k];
                best = d * sumQX[k];
            }
        }

        return d;
    }

    // NonLinearQuantizers.BestIndex per lane, returning the grid value: below the largest value
    // not above v (the binary search's "lo", also for NaN), above the smallest value greater than
    // v, and the lower one only when strictly closer.
    private static Vector<float> NearestGridValue(ReadOnlySpan<Vector<float>> values, Vector<float> v)
    {
        int last = values.Length - 1;
        var below = values[0];
        var above = values[last];
        for (int k = 0; k <= last; ++k)
        {
            below = Vector.ConditionalSelect(Vector.OnesComplement(Vector.LessThan(v, values[k])), values[k], below);
            above = Vector.ConditionalSelect(Vector.LessThan(v, values[last - k]), values[last - k], above);
        }

        return Vector.ConditionalSelect(Vector.LessThan(v - below, above - v), below, above);
    }

    /// <summary>Candidate k's step: -9..-1 then 1..9 (ggml skips step 0, the starting guess).</summary>
    private static int QxStep(int k) => k < 9 ? k - 9 : k - 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> SymmetricLevels(Vector<float> scaled, int nmax) =>
        Vector.Max(new Vector<int>(-nmax), Vector.Min(new Vector<int>(nmax - 1), QuantMath.NearestInt(scaled)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> Levels(Vector<float> iscale, Vector<float> shifted, int nmax) => QuantMath.Levels(iscale * shifted, nmax);
}
